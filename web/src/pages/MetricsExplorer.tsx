// /metrics (served to browsers; scrapers get vigil's exposition there): the metrics
// explorer. Browse namespace → metric → dimensions, graph several queries (metrics, math,
// SEARCH, anomaly bands) through the dashboards' one metric-data request, see the alarms
// on those metrics as annotations, make an alarm from a graphed metric, add the graph to a
// dashboard. Everything — queries, range, browser position, open dialogs — is in the URL.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { AlarmForm, MetricChoice } from "../alarms/AlarmForm";
import { PointPanel } from "../components/PointPanel";
import { refreshMs, TimePicker } from "../components/TimePicker";
import { AddToDashboard } from "../metrics/AddToDashboard";
import { Browser, SeriesInfo } from "../metrics/Browser";
import { Queries } from "../metrics/Queries";
import { isBand, isMetric, nextId, PERIODS, readRows, Row, sameMetric, searchFor, STATISTICS, toWidgetRows, writeRows } from "../metrics/rows";
import { navigate, withParams } from "../router";
import { autoPeriod, Range } from "../time";
import { useResolvedRange } from "../resolvedRange";
import { MetricWidget } from "../widgets/MetricWidget";
import { WidgetData } from "../widgets/series";
import { WidgetContext } from "../widgets/types";

export function MetricsExplorer({ query }: { query: URLSearchParams }) {
  const rows = useMemo(() => readRows(query), [query.get("q")]);
  const range: Range = { from: query.get("from") ?? "now-3h", to: query.get("to") ?? "now" };
  const tz = query.get("tz") ?? "local";
  const refresh = query.get("refresh") ?? "off";
  const stat = query.get("stat") ?? "Average";
  const periodChoice = query.get("period") ?? "auto";
  const dialog = query.get("dialog");
  const point = query.get("point");
  const [tick, setTick] = useState(0);
  const [data, setData] = useState<WidgetData | undefined>(undefined);

  const { startMs, endMs } = useResolvedRange(range, tick, 3 * 3600_000);
  const period = periodChoice === "auto" ? autoPeriod(startMs, endMs) : Number(periodChoice);
  const properties = useMemo(
    () => ({ metrics: toWidgetRows(rows), view: "timeSeries", stat, period, region: "us-east-1" }),
    [rows, stat, period],
  );

  const setParams = (changes: Record<string, string | null>, replace = false) => navigate(withParams(changes), replace);
  const setRows = (next: Row[]) => setParams({ q: writeRows(next) });

  useEffect(() => {
    const ms = refreshMs(refresh);
    if (!ms) return;
    const t = setInterval(() => setTick((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [refresh]);

  // One metric-data request per change; a newer one cancels it. If the graph fails only
  // because of its anomaly bands (a server without them, a model with too little data),
  // the metrics are drawn without them and the band's error is shown above.
  const [bandError, setBandError] = useState<string | null>(null);
  useEffect(() => {
    setBandError(null);
    if (!rows.length) {
      setData(undefined);
      return;
    }
    const ac = new AbortController();
    setData(undefined);
    const ask = (props: Record<string, any>) =>
      api<{ widgets: Record<string, WidgetData> }>("/api/v1/dashboards/metric-data", {
        method: "POST",
        body: { start: String(startMs), end: String(endMs), period, widgets: [{ key: "x", properties: props }] },
        signal: ac.signal,
      }).then((r) => r.widgets.x);
    (async () => {
      const first = await ask(properties);
      const plain = rows.filter((r) => !isBand(r));
      if (first.error && plain.length && plain.length < rows.length) {
        const second = await ask({ ...properties, metrics: toWidgetRows(plain) });
        if (!second.error) {
          setBandError(first.error);
          setData(second);
          return;
        }
      }
      setData(first);
    })().catch((e) => !isAbort(e) && setData({ error: e.message }));
    return () => ac.abort();
  }, [properties, startMs, endMs]);

  const ctx: WidgetContext = {
    startMs,
    endMs,
    tz,
    period,
    syncKey: "explorer",
    onZoom: (a, b) => setParams({ from: String(a), to: String(b) }),
    onPoint: (t) => setParams({ point: String(t) }),
  };

  const toggle = (s: SeriesInfo, on: boolean) => {
    const dims = Object.entries(s.dimensions).sort() as [string, string][];
    if (on) setRows([...rows, { id: nextId(rows, "m"), namespace: s.namespace, name: s.name, dims }]);
    else setRows(rows.filter((r) => !sameMetric(r, s.namespace, s.name, dims)));
  };
  const alarmRow = dialog?.startsWith("alarm:") ? rows.find((r) => r.id === dialog.slice(6)) : undefined;
  const alarmMetric: MetricChoice | null =
    alarmRow && isMetric(alarmRow)
      ? {
          namespace: alarmRow.namespace!,
          name: alarmRow.name!,
          dims: alarmRow.dims ?? [],
          stat: alarmRow.stat ?? stat,
          period: alarmRow.period ?? (period < 60 ? 60 : period),
        }
      : null;

  return (
    <div class="page explorer metrics-explorer">
      <div class="toolbar">
        <h1>Metrics</h1>
        <TimePicker
          range={range}
          tz={tz}
          refresh={refresh}
          onRange={(r) => setParams({ from: r.from, to: r.to })}
          onTz={(t) => setParams({ tz: t === "local" ? null : t })}
          onRefresh={(r) => setParams({ refresh: r === "off" ? null : r })}
          onReload={() => setTick((x) => x + 1)}
        />
      </div>
      <div class="explorer-body">
        <Browser
          namespace={query.get("ns")}
          metric={query.get("metric")}
          search={query.get("search") ?? ""}
          onNavigate={(c) => {
            const changes: Record<string, string | null> = {};
            if (c.ns !== undefined) changes.ns = c.ns;
            if (c.metric !== undefined) changes.metric = c.metric;
            if (c.search !== undefined) changes.search = c.search;
            setParams(changes);
          }}
          isGraphed={(s) => rows.some((r) => sameMetric(r, s.namespace, s.name, Object.entries(s.dimensions) as [string, string][]))}
          onToggle={toggle}
          onSearchAll={(ns, name, keys) =>
            setRows([...rows, { id: nextId(rows, "s"), expression: searchFor(ns, name, keys, stat, period), label: "" }])
          }
        />
        <div class="explorer-main">
          <div class="graph-options" role="group" aria-label="Graph options">
            <label class="inline">
              Statistic
              <select value={stat} onChange={(e) => setParams({ stat: (e.target as HTMLSelectElement).value })}>
                {STATISTICS.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>
            <label class="inline">
              Period
              <select value={periodChoice} onChange={(e) => setParams({ period: (e.target as HTMLSelectElement).value })}>
                {PERIODS.map(([v, label]) => (
                  <option key={v} value={v}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" disabled={!rows.length} onClick={() => setParams({ dialog: "dashboard" })}>
              Add to dashboard
            </button>
            <button type="button" aria-pressed={dialog === "source"} onClick={() => setParams({ dialog: dialog === "source" ? null : "source" })}>
              Source
            </button>
          </div>
          {bandError ? (
            <div class="widget-error" role="alert">
              <strong>Anomaly band not drawn:</strong> {bandError}
            </div>
          ) : null}
          <section class="widget explorer-graph" aria-label="Graph" data-drawn={data ? "true" : undefined}>
            <div class="widget-body">
              {rows.length ? (
                <MetricWidget properties={properties} data={data} ctx={ctx} height={340} />
              ) : (
                <div class="widget-empty">Choose metrics on the left, or add a math expression below.</div>
              )}
            </div>
          </section>
          {dialog === "source" ? (
            <SourceEditor properties={properties} onApply={(metrics) => setParams({ q: JSON.stringify(metrics), dialog: null })} />
          ) : null}
          <Queries
            rows={rows}
            defaultStat={stat}
            onChange={setRows}
            onCreateAlarm={(r) => setParams({ dialog: `alarm:${r.id}` })}
          />
        </div>
      </div>
      {dialog === "dashboard" ? <AddToDashboard widget={properties} onClose={() => setParams({ dialog: null })} /> : null}
      {alarmMetric ? (
        <AlarmForm existing={null} metric={alarmMetric} tz={tz} onClose={() => setParams({ dialog: null })} />
      ) : null}
      {point ? <PointPanel timeMs={Number(point)} tz={tz} onClose={() => setParams({ point: null })} /> : null}
    </div>
  );
}

/** The graph as a CloudWatch metric widget's JSON; its "metrics" may be edited here. */
function SourceEditor({ properties, onApply }: { properties: Record<string, any>; onApply: (metrics: any[]) => void }) {
  const [text, setText] = useState(JSON.stringify(properties, null, 2));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setText(JSON.stringify(properties, null, 2)), [properties]);
  return (
    <form
      class="source-editor"
      aria-label="Graph source"
      onSubmit={(e) => {
        e.preventDefault();
        try {
          const parsed = JSON.parse(text);
          if (!Array.isArray(parsed.metrics)) throw new Error('the source needs a "metrics" list');
          onApply(parsed.metrics);
        } catch (err) {
          setError(String(err instanceof Error ? err.message : err));
        }
      }}
    >
      <textarea rows={12} class="json-text" aria-label="Widget JSON" value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      {error ? (
        <div class="widget-error" role="alert">
          {error}
        </div>
      ) : null}
      <button type="submit">Apply</button>
    </form>
  );
}
