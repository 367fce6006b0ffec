// A metric widget: time series (lines, stacked areas, bars), single values with a
// sparkline, gauge, pie and table views, from the dashboard's one metric-data request.
import { useMemo } from "preact/hooks";
import { AnnotatedAlarm, AnnotationGroup, rowMetrics, toTrack, useAlarmAnnotations } from "../alarms/api";
import { findBands } from "../chart/bands";
import { stateMarksPlugin } from "../chart/stateMarks";
import { Annotation, ChartSeries, formatValue, PALETTE, UPlotChart } from "../chart/UPlotChart";
import { formatTime, resolve } from "../time";
import { alarmName } from "./AlarmWidget";
import { isValue, SeriesData, Values, WidgetData } from "./series";
import { metricRows, WidgetContext } from "./types";

const NO_PLUGINS: never[] = [];

interface Props {
  properties: Record<string, any>;
  data: WidgetData | undefined;
  ctx: WidgetContext;
  height: number;
  // The alarms to draw when the page asked for them (a dashboard asks once for all its
  // widgets); without it the widget asks itself.
  alarms?: AnnotatedAlarm[];
}

function isTimeSeries(properties: Record<string, any>): boolean {
  const view = properties.view ?? "timeSeries";
  return view === "timeSeries" || view === "bar";
}

function namedAlarms(properties: Record<string, any>): string[] {
  return (properties.annotations?.alarms ?? []).map((a: unknown) => alarmName(String(a)));
}

/** What a widget asks of the alarm annotations (null: it draws none). */
export function annotationGroup(properties: Record<string, any>): AnnotationGroup | null {
  if (!isTimeSeries(properties) || !Array.isArray(properties.metrics)) return null;
  const group = { metrics: rowMetrics(metricRows(properties.metrics)), alarms: namedAlarms(properties) };
  return group.metrics.length || group.alarms.length ? group : null;
}

export function MetricWidget({ properties, data, ctx, height, alarms }: Props) {
  if (!data) return <div class="widget-loading">Loading…</div>;
  if (data.error) return <WidgetError message={data.error} />;
  const series = data.series ?? [];
  const view = properties.view ?? "timeSeries";
  const rows = metricRows(properties.metrics);
  if (series.length === 0 || !data.times?.length) return <div class="widget-empty">No data available.</div>;
  if (view === "singleValue") return <SingleValues series={series} rows={rows} props={properties} />;
  const times = data.times ?? [];
  if (view === "gauge") return <Gauge series={series} rows={rows} props={properties} />;
  if (view === "pie" || view === "table") return <Summary series={series} rows={rows} view={view} />;
  return (
    <TimeSeries times={times} series={series} rows={rows} props={properties} ctx={ctx} height={height} shared={alarms} />
  );
}

export function WidgetError({ message }: { message: string }) {
  return (
    <div class="widget-error" role="alert">
      <strong>Error:</strong> {message}
    </div>
  );
}

function rowOptions(rows: [string[], Record<string, any>][], s: SeriesData) {
  return rows[s.row]?.[1] ?? {};
}

function colorOf(rows: [string[], Record<string, any>][], s: SeriesData, i: number): string {
  return rowOptions(rows, s).color ?? PALETTE[i % PALETTE.length];
}

function TimeSeries({
  times,
  series: answered,
  rows,
  props,
  ctx,
  height,
  shared,
}: {
  times: Float64Array | number[];
  series: SeriesData[];
  rows: [string[], Record<string, any>][];
  props: Record<string, any>;
  ctx: WidgetContext;
  height: number;
  shared: AnnotatedAlarm[] | undefined;
}) {
  // Anomaly bands: their two edges drawn as one filled band (chart/bands.ts).
  const banded = useMemo(() => findBands(answered, (row) => rows[row]?.[1] ?? {}), [answered]);
  const series = banded.series;
  const values = useMemo(() => series.map((s) => s.values), [series]);
  const chartSeries: ChartSeries[] = useMemo(
    () =>
      series.map((s, i) => ({
        label: s.label,
        color: banded.bandRows.has(s.row) ? rowOptions(rows, s).color ?? "#7f7f7f" : colorOf(rows, s, i),
        axis: rowOptions(rows, s).yAxis === "right" ? "right" : "left",
        show: rowOptions(rows, s).visible !== false,
        band: banded.bandRows.has(s.row),
      })),
    [series],
  );
  const ann = props.annotations ?? {};
  // Alarms named by the widget (CloudWatch's annotations.alarms) draw their threshold and
  // state changes; alarms watching the widget's metrics draw their state changes.
  const named = namedAlarms(props);
  const metrics = useMemo(() => rowMetrics(rows), [JSON.stringify(props.metrics)]);
  const own = useAlarmAnnotations(shared ? [] : metrics, shared ? [] : named, ctx.startMs, ctx.endMs);
  const alarms = shared ?? own;
  const horizontal: Annotation[] = (ann.horizontal ?? [])
    .flatMap((a: any) => (Array.isArray(a) ? a : [a]))
    .map((a: any) => ({ value: a.value, label: a.label, color: a.color, axis: a.yAxis }));
  for (const a of alarms) {
    if (named.includes(a.name) && a.threshold !== null)
      horizontal.push({ value: a.threshold, label: a.name, color: "#d62728" });
  }
  const vertical: Annotation[] = (ann.vertical ?? [])
    .flatMap((a: any) => (Array.isArray(a) ? a : [a]))
    .map((a: any) => ({ value: resolve(a.value, Date.now()), label: a.label, color: a.color }));
  // Keyed by content: the annotations' answer (often empty) must not rebuild the chart.
  const alarmsKey = JSON.stringify(alarms);
  const plugins = useMemo(
    () => (alarms.length ? [stateMarksPlugin(alarms.map(toTrack), (ms) => formatTime(ms, ctx.tz))] : NO_PLUGINS),
    [alarmsKey, ctx.tz],
  );
  return (
    <UPlotChart
      times={times}
      values={values}
      series={chartSeries}
      bars={props.view === "bar"}
      stacked={props.stacked === true}
      left={props.yAxis?.left}
      right={props.yAxis?.right}
      horizontal={horizontal}
      vertical={vertical}
      tz={ctx.tz}
      height={height}
      xRange={[ctx.startMs / 1000, ctx.endMs / 1000]}
      syncKey={ctx.syncKey}
      onZoom={ctx.onZoom}
      onPoint={ctx.onPoint}
      fillBands={banded.bands}
      plugins={plugins}
    />
  );
}

function last(s: SeriesData): number | null {
  for (let i = s.values.length - 1; i >= 0; i--) {
    const v = s.values[i];
    if (isValue(v)) return v;
  }
  return null;
}

function Sparkline({ points, color }: { points: Values; color: string }) {
  const values = Array.prototype.filter.call(points, isValue) as number[];
  if (values.length < 2) return null;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const pts = values
    .map((v, i) => `${((i / (values.length - 1)) * 100).toFixed(2)},${(28 - ((v - min) / span) * 26).toFixed(2)}`)
    .join(" ");
  return (
    <svg class="sparkline" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <polyline points={pts} fill="none" stroke={color} stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}

function SingleValues({
  series,
  rows,
  props,
}: {
  series: SeriesData[];
  rows: [string[], Record<string, any>][];
  props: Record<string, any>;
}) {
  return (
    <div class="single-values">
      {series.map((s, i) => {
        const v = last(s);
        const unit = rowOptions(rows, s).unit ?? props.unit;
        return (
          <div class="single-value" key={i}>
            <div class="single-label">{s.label}</div>
            <div class="single-number" style={{ color: rowOptions(rows, s).color }}>
              {v === null ? "--" : props.singleValueFullPrecision ? String(v) : formatValue(v)}
              {unit ? <span class="unit"> {unit}</span> : null}
            </div>
            {props.sparkline !== false ? (
              <Sparkline points={s.values} color={colorOf(rows, s, i)} />
            ) : null}
          </div>
        );
      })}
    </div>
  );
}

function Gauge({
  series,
  rows,
  props,
}: {
  series: SeriesData[];
  rows: [string[], Record<string, any>][];
  props: Record<string, any>;
}) {
  const min = props.yAxis?.left?.min ?? 0;
  const max = props.yAxis?.left?.max ?? 100;
  return (
    <div class="single-values">
      {series.map((s, i) => {
        const v = last(s) ?? min;
        const f = Math.max(0, Math.min(1, (v - min) / (max - min || 1)));
        const a = Math.PI * (1 - f);
        return (
          <div class="single-value" key={i}>
            <div class="single-label">{s.label}</div>
            <svg viewBox="0 0 100 60" class="gauge" role="img" aria-label={`${s.label} ${formatValue(v)}`}>
              <path d="M10 50 A40 40 0 0 1 90 50" fill="none" stroke="var(--grid)" stroke-width="10" />
              <path
                d={`M10 50 A40 40 0 0 1 ${(50 + 40 * Math.cos(a)).toFixed(2)} ${(50 - 40 * Math.sin(a)).toFixed(2)}`}
                fill="none"
                stroke={colorOf(rows, s, i)}
                stroke-width="10"
              />
              <text x="50" y="48" text-anchor="middle" class="gauge-text">
                {formatValue(v)}
              </text>
            </svg>
          </div>
        );
      })}
    </div>
  );
}

function Summary({
  series,
  rows,
  view,
}: {
  series: SeriesData[];
  rows: [string[], Record<string, any>][];
  view: string;
}) {
  const totals = series.map((s) => ({ s, v: last(s) ?? 0 }));
  const sum = totals.reduce((a, b) => a + Math.abs(b.v), 0) || 1;
  return (
    <table class="data-table">
      <thead>
        <tr>
          <th>Label</th>
          <th>Latest</th>
          {view === "pie" ? <th>Share</th> : <th>Points</th>}
        </tr>
      </thead>
      <tbody>
        {totals.map(({ s, v }, i) => (
          <tr key={i}>
            <td>
              <span class="swatch" style={{ background: colorOf(rows, s, i) }} /> {s.label}
            </td>
            <td>{formatValue(v)}</td>
            <td>{view === "pie"
                ? `${((Math.abs(v) / sum) * 100).toFixed(1)} %`
                : Array.prototype.filter.call(s.values, isValue).length}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
