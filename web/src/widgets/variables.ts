// Dashboard variables (CloudWatch's): "property" variables set one dimension's value in
// every metric of the dashboard; "pattern" variables replace a regular expression
// everywhere in the body. Values live in the URL as var.<id>=value.
import { metricRows, DashboardBody } from "./types";

export interface Variable {
  type: "property" | "pattern";
  property?: string;
  pattern?: string;
  inputType: "input" | "select" | "radio";
  id?: string;
  label?: string;
  defaultValue?: string;
  visible?: boolean;
  values?: { value: string; label?: string }[];
}

export function variableId(v: Variable, i: number): string {
  return v.id ?? v.property ?? `var${i}`;
}

export function applyVariables(body: DashboardBody, chosen: Record<string, string>): DashboardBody {
  const vars = (body.variables ?? []) as Variable[];
  if (!vars.length) return body;
  let out: DashboardBody = body;
  vars.forEach((v, i) => {
    const value = chosen[variableId(v, i)] ?? v.defaultValue;
    if (value === undefined || value === "") return;
    if (v.type === "pattern" && v.pattern) {
      const re = new RegExp(v.pattern, "g");
      out = JSON.parse(JSON.stringify(out), (_k, x) => (typeof x === "string" ? x.replace(re, value) : x));
    } else if (v.type === "property" && v.property) {
      out = {
        ...out,
        widgets: out.widgets.map((w) => {
          if (w.type !== "metric" || !Array.isArray(w.properties?.metrics)) return w;
          const metrics = metricRows(w.properties.metrics).map(([values, options]) => {
            if (!values.length) return [options];
            const row = [...values];
            for (let j = 2; j + 1 < row.length; j += 2) if (row[j] === v.property) row[j + 1] = value;
            return Object.keys(options).length ? [...row, options] : row;
          });
          return { ...w, properties: { ...w.properties, metrics } };
        }),
      };
    }
  });
  return out;
}
