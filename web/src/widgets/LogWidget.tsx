// A log widget: its Logs Insights query ("SOURCE 'group' | …") over the range, as a table.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { formatTime } from "../time";
import { PALETTE, UPlotChart } from "../chart/UPlotChart";
import { WidgetError } from "./MetricWidget";
import { WidgetContext } from "./types";

interface QueryAnswer {
  status: string;
  error?: string;
  fields?: string[];
  results?: Record<string, string>[];
}

/** "SOURCE 'a' | SOURCE 'b' | fields …" → groups ["a", "b"] and the query after them. */
export function splitSources(query: string): { groups: string[]; query: string } {
  const groups: string[] = [];
  let rest = query;
  const re = /^\s*SOURCE\s+(['"])(.*?)\1\s*\|/i;
  for (let m = re.exec(rest); m; m = re.exec(rest)) {
    groups.push(m[2]);
    rest = rest.slice(m[0].length);
  }
  return { groups, query: rest.trim() };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((ok, fail) => {
    const t = setTimeout(ok, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      fail(new DOMException("aborted", "AbortError"));
    });
  });

export async function runInsights(
  text: string,
  startMs: number,
  endMs: number,
  signal: AbortSignal,
): Promise<QueryAnswer> {
  const { groups, query } = splitSources(text);
  const started = await api<{ query_id: string }>("/api/v1/logs/insights", {
    method: "POST",
    body: { query, groups, start: String(startMs), end: String(endMs), limit: 1000 },
    signal,
  });
  const path = `/api/v1/logs/insights/${started.query_id}`;
  try {
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const answer = await api<QueryAnswer>(path, { signal });
      if (answer.status !== "Running" && answer.status !== "Scheduled") return answer;
      await sleep(wait, signal);
    }
  } catch (e) {
    // A range change cancels the widget's query: stop it on the server too.
    if (isAbort(e)) api(path, { method: "DELETE" }).catch(() => undefined);
    throw e;
  }
}

export function LogWidget({
  properties,
  ctx,
  height,
}: {
  properties: Record<string, any>;
  ctx: WidgetContext;
  height: number;
}) {
  const [state, setState] = useState<{ answer?: QueryAnswer; error?: string }>({});
  useEffect(() => {
    const ac = new AbortController();
    setState({});
    runInsights(String(properties.query ?? ""), ctx.startMs, ctx.endMs, ac.signal)
      .then((answer) =>
        setState(answer.status === "Complete" ? { answer } : { error: answer.error ?? answer.status }),
      )
      .catch((e) => {
        if (!isAbort(e)) setState({ error: e.message });
      });
    return () => ac.abort();
  }, [properties.query, ctx.startMs, ctx.endMs]);
  if (state.error) return <WidgetError message={state.error} />;
  if (!state.answer) return <div class="widget-loading">Running query…</div>;
  const rows = state.answer.results ?? [];
  const fields = (state.answer.fields ?? []).filter((f) => f !== "@ptr");
  if (!rows.length) return <div class="widget-empty">No log lines match.</div>;
  const view = properties.view ?? "table";
  if (view === "timeSeries" || view === "bar") {
    const chart = toSeries(rows, fields);
    if (chart)
      return (
        <UPlotChart
          times={chart.times}
          values={chart.values}
          series={chart.labels.map((label, i) => ({ label, color: PALETTE[i % PALETTE.length], axis: "left" }))}
          bars={view === "bar"}
          stacked={properties.stacked === true}
          tz={ctx.tz}
          height={height}
          xRange={[ctx.startMs / 1000, ctx.endMs / 1000]}
          syncKey={ctx.syncKey}
          onZoom={ctx.onZoom}
          onPoint={ctx.onPoint}
        />
      );
  }
  return (
    <div class="table-scroll">
      <table class="data-table log-table">
        <thead>
          <tr>
            {fields.map((f) => (
              <th key={f}>{f}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {fields.map((f) => (
                <td key={f}>{f === "@timestamp" && r[f] ? formatCell(r[f], ctx.tz) : r[f] ?? ""}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function formatCell(value: string, tz: string): string {
  const t = Date.parse(value.includes("T") || value.endsWith("Z") ? value : value.replace(" ", "T") + "Z");
  return Number.isNaN(t) ? value : formatTime(t, tz);
}

function parseTime(value: string | undefined): number {
  if (!value) return NaN;
  return Date.parse(value.includes("T") || value.endsWith("Z") ? value : value.replace(" ", "T") + "Z");
}

/** Stats results over time (``stats count(*) by bin(5m)``): the time field is the one
 *  whose values are all times, every other numeric field a series. */
function toSeries(rows: Record<string, string>[], fields: string[]) {
  const timeField = fields.find((f) => rows.every((r) => !Number.isNaN(parseTime(r[f]))) && !rows.every((r) => /^-?[\d.]+$/.test(r[f] ?? "")));
  if (!timeField) return null;
  const numeric = fields.filter((f) => f !== timeField && rows.every((r) => r[f] === undefined || r[f] === "" || !Number.isNaN(Number(r[f]))));
  if (!numeric.length) return null;
  const sorted = [...rows].sort((a, b) => parseTime(a[timeField]) - parseTime(b[timeField]));
  return {
    times: sorted.map((r) => parseTime(r[timeField]) / 1000),
    values: numeric.map((f) => sorted.map((r) => (r[f] === undefined || r[f] === "" ? null : Number(r[f])))),
    labels: numeric,
  };
}
