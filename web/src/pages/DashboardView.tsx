// /dashboards/{name}: the grid as defined, one metric-data request per refresh (cancelled
// when the range changes), time range / zone / refresh in the URL, zoom by drag,
// full-screen widgets and a side panel for a point's logs and traces.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, apiBytes, isAbort } from "../api";
import { DashboardEditor } from "../components/DashboardEditor";
import { PointPanel } from "../components/PointPanel";
import { refreshMs, TimePicker } from "../components/TimePicker";
import { Variables } from "../components/Variables";
import { navigate, withParams } from "../router";
import { autoPeriod, fromCloudWatch, Range } from "../time";
import { useResolvedRange } from "../resolvedRange";
import { AlarmWidget } from "../widgets/AlarmWidget";
import { LogWidget } from "../widgets/LogWidget";
import { annotationGroup, MetricWidget } from "../widgets/MetricWidget";
import { AnnotatedAlarm, useAlarmAnnotationGroups } from "../alarms/api";
import { TextWidget } from "../widgets/TextWidget";
import { DashboardBody, layout, Widget, WidgetContext } from "../widgets/types";
import { applyVariables, Variable } from "../widgets/variables";
import { COLUMNS_TYPE, decodeColumns, WidgetData } from "../widgets/series";

type MetricAnswer = Record<string, WidgetData>;

const ROW_PX = 36; // one grid unit of height (CloudWatch's unit is ~36 px at 1280 wide)
const GAP_PX = 8; // .grid gap

export function DashboardView({ name, query }: { name: string; query: URLSearchParams }) {
  const [dash, setDash] = useState<{ body?: DashboardBody; error?: ApiError | Error }>({});
  const [tick, setTick] = useState(0);
  const [metricData, setMetricData] = useState<MetricAnswer>({});

  useEffect(() => {
    const ac = new AbortController();
    setDash({});
    api<{ body: DashboardBody }>(`/api/v1/dashboards/${encodeURIComponent(name)}`, { signal: ac.signal })
      .then((d) => setDash({ body: d.body }))
      .catch((e) => !isAbort(e) && setDash({ error: e }));
    return () => ac.abort();
  }, [name]);

  // Variables' values are in the URL (var.<id>=value): the body as shown applies them.
  const chosen: Record<string, string> = {};
  query.forEach((v, k) => {
    if (k.startsWith("var.")) chosen[k.slice(4)] = v;
  });
  const chosenKey = JSON.stringify(chosen);
  const body = useMemo(
    () => (dash.body ? applyVariables(dash.body, chosen) : undefined),
    [dash.body, chosenKey],
  );
  const range: Range = {
    from: query.get("from") ?? fromCloudWatch(body?.start) ?? "now-3h",
    to: query.get("to") ?? (body?.end ? fromCloudWatch(body.end)! : "now"),
  };
  const tz = query.get("tz") ?? "local";
  const refresh = query.get("refresh") ?? "off";
  const fullscreen = query.get("widget");
  const point = query.get("point");
  const editing = query.get("edit") === "json";

  const { startMs, endMs } = useResolvedRange(range, tick, 3 * 3600_000);
  const period = autoPeriod(startMs, endMs);

  useEffect(() => {
    const ms = refreshMs(refresh);
    if (!ms) return;
    const t = setInterval(() => setTick((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [refresh]);

  // One request for every metric widget of this refresh; a newer one cancels it.
  useEffect(() => {
    if (!body) return;
    const widgets = body.widgets
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.type === "metric" && Array.isArray(w.properties?.metrics))
      .map(({ w, i }) => ({ key: String(i), properties: effectiveProperties(w, body, period, startMs, endMs) }));
    if (!widgets.length) return;
    const ac = new AbortController();

    // The columnar form: values arrive as Float64Arrays over the answer's bytes (a
    // million points parse in no time, and no long task).
    apiBytes("/api/v1/dashboards/metric-data", {
      body: { start: String(startMs), end: String(endMs), period, widgets },
      accept: COLUMNS_TYPE,
      signal: ac.signal,
    })
      .then((bytes) => setMetricData((decodeColumns(bytes) as { widgets: MetricAnswer }).widgets))
      .catch((e) => {
        if (isAbort(e)) return;
        const failed: MetricAnswer = {};
        for (const w of widgets) failed[w.key] = { error: e.message };
        setMetricData(failed);
      });
    return () => ac.abort();
  }, [body, startMs, endMs]);

  // Alarm annotations of every time-series widget: one request per load and per range.
  const groups = useMemo(
    () => (body?.widgets ?? []).map((w) => (w.type === "metric" ? annotationGroup(w.properties ?? {}) : null)),
    [body],
  );
  const alarms = useAlarmAnnotationGroups(groups, startMs, endMs);

  // Escape closes what is open on top of the grid (full-screen widget, side panel).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape") return;
      const q = new URLSearchParams(location.search);
      if (q.has("widget") || q.has("point")) navigate(withParams({ widget: null, point: null }));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // Charts are drawn synchronously when their data arrives: the next frame has them all
  // (what the dashboard benchmark measures from navigation).
  useEffect(() => {
    if (!Object.keys(metricData).length) return;
    const id = requestAnimationFrame(() => {
      performance.mark("vigil:metrics-drawn");
      document.querySelector(".dashboard")?.setAttribute("data-drawn", String(Date.now()));
    });
    return () => cancelAnimationFrame(id);
  }, [metricData]);

  if (dash.error) {
    const notFound = dash.error instanceof ApiError && dash.error.status === 404;
    return (
      <div class="page-message" role="alert">
        <h1>{notFound ? "Dashboard not found" : "The dashboard could not be loaded"}</h1>
        <p>
          {notFound ? (
            <>
              There is no dashboard named <strong>{name}</strong>.
            </>
          ) : (
            dash.error.message
          )}
        </p>
        <p>
          <a href="/dashboards">See all dashboards</a>
        </p>
      </div>
    );
  }
  if (!body) return <div class="page-message">Loading dashboard…</div>;

  const setParams = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const ctx: WidgetContext = {
    startMs,
    endMs,
    tz,
    period,
    syncKey: `dash-${name}`,
    onZoom: (a, b) => setParams({ from: String(a), to: String(b) }),
    onPoint: (t) => setParams({ point: String(t) }),
  };
  const cells = layout(body.widgets);
  const rows = Math.max(...cells.map((c) => c.y + c.h), 1);
  const shown = fullscreen !== null ? Number(fullscreen) : null;

  return (
    <div class="dashboard">
      <div class="toolbar">
        <h1>{name}</h1>
        <TimePicker
          range={range}
          tz={tz}
          refresh={refresh}
          onRange={(r) => setParams({ from: r.from, to: r.to })}
          onTz={(t) => setParams({ tz: t === "local" ? null : t })}
          onRefresh={(r) => setParams({ refresh: r === "off" ? null : r })}
          onReload={() => setTick((x) => x + 1)}
        />
        {body.variables?.length ? (
          <Variables
            variables={body.variables as Variable[]}
            chosen={chosen}
            onChange={(id, value) => setParams({ [`var.${id}`]: value })}
          />
        ) : null}
        <button type="button" onClick={() => setParams({ edit: editing ? null : "json" })} aria-pressed={editing}>
          Edit JSON
        </button>
      </div>
      {editing ? (
        <DashboardEditor
          name={name}
          body={dash.body!}
          onSaved={(b) => {
            setDash({ body: b });
            setParams({ edit: null });
          }}
          onClose={() => setParams({ edit: null })}
        />
      ) : null}
      {shown !== null && body.widgets[shown] ? (
        <div class="fullscreen" role="dialog" aria-label="Full-screen widget">
          <WidgetFrame
            widget={body.widgets[shown]}
            index={shown}
            data={metricData[String(shown)]}
            alarms={alarms[shown]}
            ctx={ctx}
            height={Math.max(window.innerHeight - 200, 300)}
            refresh={tick}
            fullscreen
            onFullscreen={() => setParams({ widget: null })}
          />
        </div>
      ) : null}
      <div class="grid" style={{ gridTemplateRows: `repeat(${rows}, ${ROW_PX}px)`, gap: `${GAP_PX}px` }}>
        {body.widgets.map((w, i) => (
          <div
            key={i}
            class="cell"
            style={{
              gridColumn: `${cells[i].x + 1} / span ${cells[i].w}`,
              gridRow: `${cells[i].y + 1} / span ${cells[i].h}`,
            }}
          >
            <WidgetFrame
              widget={w}
              index={i}
              data={metricData[String(i)]}
              alarms={alarms[i]}
              ctx={ctx}
              height={cells[i].h * ROW_PX + (cells[i].h - 1) * GAP_PX - 76}
              refresh={tick}
              onFullscreen={() => setParams({ widget: String(i) })}
            />
          </div>
        ))}
      </div>
      {point ? <PointPanel timeMs={Number(point)} tz={tz} onClose={() => setParams({ point: null })} /> : null}
    </div>
  );
}

/** A widget's properties for this refresh: its own period when it fits the range,
 *  else the dashboard's automatic one (CloudWatch's periodOverride "auto"). */
function effectiveProperties(w: Widget, body: DashboardBody, period: number, startMs: number, endMs: number) {
  const p = { ...w.properties };
  const own = typeof p.period === "number" ? p.period : null;
  if (body.periodOverride !== "inherit" && (own === null || (endMs - startMs) / 1000 / own > 2100)) p.period = period;
  return p;
}

/** The widget's metrics in the explorer, over the dashboard's range (there: alarms, math). */
function exploreLink(p: Record<string, any>, ctx: WidgetContext): string {
  const q = new URLSearchParams({ q: JSON.stringify(p.metrics), from: String(ctx.startMs), to: String(ctx.endMs) });
  if (typeof p.stat === "string") q.set("stat", p.stat);
  if (typeof p.period === "number") q.set("period", String(p.period));
  return `/metrics?${q}`;
}

function WidgetFrame({
  widget,
  index,
  data,
  alarms,
  ctx,
  height,
  refresh,
  fullscreen,
  onFullscreen,
}: {
  widget: Widget;
  index: number;
  data: WidgetData | undefined;
  alarms: AnnotatedAlarm[] | undefined;
  ctx: WidgetContext;
  height: number;
  refresh: number;
  fullscreen?: boolean;
  onFullscreen: () => void;
}) {
  const p = widget.properties ?? {};
  const title: string = p.title ?? (widget.type === "text" ? "" : `Widget ${index + 1}`);
  let content;
  if (widget.type === "metric") content = <MetricWidget properties={p} data={data} ctx={ctx} height={height} alarms={alarms} />;
  else if (widget.type === "log") content = <LogWidget properties={p} ctx={ctx} height={height} key={refresh} />;
  else if (widget.type === "text") content = <TextWidget properties={p} />;
  else if (widget.type === "alarm") content = <AlarmWidget properties={p} refresh={refresh} />;
  else content = <div class="widget-empty">Widgets of type {widget.type} are not shown by vigil.</div>;
  return (
    <section class={`widget widget-${widget.type}`} aria-label={title || `Text widget ${index + 1}`} data-widget={index}>
      {widget.type !== "text" || title ? (
        <header class="widget-header">
          <h2 class="widget-title">{title}</h2>
          {widget.type === "metric" && Array.isArray(p.metrics) ? (
            <a class="icon" href={exploreLink(p, ctx)} aria-label={`Explore: ${title}`} title="Open in the metrics explorer">
              ↗
            </a>
          ) : null}
          {widget.type !== "text" ? (
            <button type="button" class="icon" onClick={onFullscreen} aria-label={fullscreen ? "Exit full screen" : `Full screen: ${title}`}>
              {fullscreen ? "✕" : "⤢"}
            </button>
          ) : null}
        </header>
      ) : null}
      <div class="widget-body">{content}</div>
    </section>
  );
}
