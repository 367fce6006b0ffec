// The explorer's queries are a CloudWatch metric widget's "metrics" rows — the same JSON
// the console's "Source" tab shows — so the URL, "add to dashboard" and the dashboards'
// one metric-data request all speak one format:
//   [namespace, name, dimName, dimValue, …, {id, stat, period, label, visible, yAxis}]
//   [{expression, id, label, …}]
import { metricRows } from "../widgets/types";
import { isBandExpression } from "../chart/bands";

export interface Row {
  id: string;
  namespace?: string;
  name?: string;
  dims?: [string, string][];
  expression?: string;
  stat?: string;
  period?: number;
  label?: string;
  visible?: boolean;
  yAxis?: "left" | "right";
  color?: string;
}

export const STATISTICS = ["Average", "Sum", "Minimum", "Maximum", "SampleCount", "p50", "p90", "p95", "p99", "p99.9"];
export const PERIODS: [string, string][] = [
  ["auto", "Auto"],
  ["10", "10 seconds"],
  ["60", "1 minute"],
  ["300", "5 minutes"],
  ["900", "15 minutes"],
  ["3600", "1 hour"],
  ["21600", "6 hours"],
  ["86400", "1 day"],
];

export function isMetric(r: Row): boolean {
  return r.expression === undefined;
}

export function isBand(r: Row): boolean {
  return isBandExpression(r.expression);
}

export function toWidgetRows(rows: Row[]): any[] {
  return rows.map((r) => {
    const opts: Record<string, any> = { id: r.id };
    if (r.label) opts.label = r.label;
    if (r.visible === false) opts.visible = false;
    if (r.yAxis === "right") opts.yAxis = "right";
    if (r.color) opts.color = r.color;
    if (r.expression !== undefined) return [{ expression: r.expression, ...opts }];
    if (r.stat) opts.stat = r.stat;
    if (r.period) opts.period = r.period;
    return [r.namespace, r.name, ...(r.dims ?? []).flat(), opts];
  });
}

export function fromWidgetRows(metrics: unknown): Row[] {
  if (!Array.isArray(metrics)) return [];
  return metricRows(metrics).map(([values, o], i) => {
    const base: Row = {
      id: typeof o.id === "string" ? o.id : `m${i + 1}`,
      label: o.label,
      visible: o.visible,
      yAxis: o.yAxis,
      color: o.color,
    };
    if ("expression" in o) return { ...base, expression: String(o.expression) };
    const [namespace, name, ...rest] = values;
    const dims: [string, string][] = [];
    for (let j = 0; j + 1 < rest.length; j += 2) dims.push([rest[j], rest[j + 1]]);
    return { ...base, namespace, name, dims, stat: o.stat, period: o.period };
  });
}

export function readRows(q: URLSearchParams): Row[] {
  const text = q.get("q");
  if (!text) return [];
  try {
    return fromWidgetRows(JSON.parse(text));
  } catch {
    return [];
  }
}

export function writeRows(rows: Row[]): string | null {
  return rows.length ? JSON.stringify(toWidgetRows(rows)) : null;
}

/** The next free id with this prefix (m1, m2 … e1 … ad1). */
export function nextId(rows: Row[], prefix: string): string {
  const used = new Set(rows.map((r) => r.id));
  for (let i = 1; ; i++) if (!used.has(`${prefix}${i}`)) return `${prefix}${i}`;
}

export function describeRow(r: Row): string {
  if (r.expression !== undefined) return r.expression;
  const dims = (r.dims ?? []).map(([k, v]) => `${k}=${v}`).join(", ");
  return `${r.namespace} · ${r.name}${dims ? ` · ${dims}` : ""}`;
}

export function sameMetric(r: Row, namespace: string, name: string, dims: [string, string][]): boolean {
  const key = (d: [string, string][]) => JSON.stringify([...d].sort());
  return r.namespace === namespace && r.name === name && key(r.dims ?? []) === key(dims);
}

/** A SEARCH expression for every series of a metric in a namespace (the console's
 *  "add the search to the graph"). */
export function searchFor(namespace: string, name: string, dimKeys: string[], stat: string, period: number): string {
  const schema = [namespace, ...dimKeys].map((s) => (/^[\w/.:-]+$/.test(s) ? s : `"${s}"`)).join(",");
  return `SEARCH('{${schema}} MetricName="${name}"', '${stat}', ${period})`;
}
