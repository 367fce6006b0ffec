// One time-series chart (uPlot): left and right axes with titles, legend toggles, shared
// crosshair across a dashboard (sync key), drag to zoom (changes the page's range), a
// click on a point asks for that minute's logs and traces.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatTime } from "../time";
import { decimate } from "./decimate";

export interface ChartSeries {
  label: string;
  color: string;
  axis: "left" | "right";
  show?: boolean;
  band?: boolean; // an anomaly band's edge: a thin line without points
}

export interface AxisOptions {
  min?: number;
  max?: number;
  label?: string;
}

export interface Annotation {
  value: number; // y value, or ms for vertical annotations
  label?: string;
  color?: string;
  axis?: "left" | "right";
}

export interface ChartProps {
  times: Float64Array | number[]; // seconds
  values: ArrayLike<number | null>[]; // null or NaN: no point
  series: ChartSeries[];
  bars?: boolean;
  stacked?: boolean;
  left?: AxisOptions;
  right?: AxisOptions;
  horizontal?: Annotation[];
  vertical?: Annotation[];
  tz: string;
  height: number;
  xRange?: [number, number]; // seconds: the page's range, whatever the data covers
  syncKey?: string;
  onZoom?: (startMs: number, endMs: number) => void;
  onPoint?: (timeMs: number) => void;
  // Filled bands between two series (indices into ``series``): anomaly detection bands.
  fillBands?: { upper: number; lower: number; color: string }[];
  // More drawing (e.g. alarm state changes, chart/stateMarks.ts).
  plugins?: uPlot.Plugin[];
}

export const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** The data's [min, max] on one axis widened to its horizontal annotations' values. */
function withLines(min: number | null, max: number | null, lines: Annotation[] | undefined, axis: "left" | "right"): [number, number] {
  let lo = min ?? Infinity;
  let hi = max ?? -Infinity;
  for (const a of lines ?? []) {
    if ((a.axis ?? "left") !== axis || !Number.isFinite(a.value)) continue;
    lo = Math.min(lo, a.value);
    hi = Math.max(hi, a.value);
  }
  return Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : [min ?? 0, max ?? 1];
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function stack(values: ArrayLike<number | null>[]): (number | null)[][] {
  const out: (number | null)[][] = [];
  let acc: number[] | null = null;
  for (const row of values) {
    const next: number[] = Array.from(row, (v, i) => (v ?? 0) + (acc ? acc[i] : 0));
    out.push(next.map((v, i) => (row[i] === null && !acc ? null : v)));
    acc = next;
  }
  return out;
}

function annotationsPlugin(horizontal: Annotation[], vertical: Annotation[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.font = `${11 * devicePixelRatio}px sans-serif`;
        // uPlot leaves the context right-aligned from the left axis' labels: a label
        // drawn at the plot's left edge ran back over the axis ("reshold 120").
        ctx.textAlign = "left";
        ctx.textBaseline = "alphabetic";
        for (const a of horizontal) {
          const scale = a.axis === "right" ? "right" : "y";
          if (!u.scales[scale]) continue;
          const y = u.valToPos(a.value, scale, true);
          ctx.strokeStyle = ctx.fillStyle = a.color ?? "#d62728";
          ctx.setLineDash([6, 4]);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          if (a.label) ctx.fillText(a.label, u.bbox.left + 4, y - 4);
        }
        for (const a of vertical) {
          const x = u.valToPos(a.value / 1000, "x", true);
          ctx.strokeStyle = ctx.fillStyle = a.color ?? "#9467bd";
          ctx.setLineDash([]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          if (a.label) ctx.fillText(a.label, x + 4, u.bbox.top + 12);
        }
        ctx.restore();
      },
    },
  };
}

/** Redraws on a theme switch (axis and grid colours come from CSS variables). */
function useThemeTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((t) => t + 1);
    window.addEventListener("vigil:theme", bump);
    return () => window.removeEventListener("vigil:theme", bump);
  }, []);
  return tick;
}

/** A tooltip beside the cursor of the hovered chart: the time and the (at most 10
 *  largest) visible values; the other charts of the dashboard follow with their crosshair. */
function tooltipPlugin(tz: string, colors: string[]): uPlot.Plugin {
  let tip: HTMLDivElement;
  return {
    hooks: {
      init: (u: uPlot) => {
        tip = document.createElement("div");
        tip.className = "chart-tooltip";
        tip.setAttribute("role", "tooltip");
        tip.style.display = "none";
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => (tip.style.display = "none"));
      },
      setCursor: (u: uPlot) => {
        const idx = u.cursor.idx;
        const hovered = u.over.matches(":hover");
        if (idx == null || !hovered || u.cursor.left == null || u.cursor.left < 0) {
          tip.style.display = "none";
          return;
        }
        const rows: [string, string, number][] = [];
        u.series.forEach((s, i) => {
          if (i === 0 || !s.show) return;
          const v = u.data[i][idx];
          if (v == null) return;
          // (uPlot keeps a series' stroke as a function: the colour is ours.)
          rows.push([String(s.label ?? ""), colors[i - 1] ?? "", v as number]);
        });
        rows.sort((a, b) => b[2] - a[2]);
        tip.replaceChildren();
        const head = document.createElement("div");
        head.className = "tt-time";
        head.textContent = formatTime(Number(u.data[0][idx]) * 1000, tz);
        tip.appendChild(head);
        for (const [label, color, v] of rows.slice(0, 10)) {
          const line = document.createElement("div");
          const sw = document.createElement("span");
          sw.className = "swatch";
          sw.style.background = color;
          line.append(sw, ` ${label}: ${formatValue(v)}`);
          tip.appendChild(line);
        }
        if (rows.length > 10) {
          const more = document.createElement("div");
          more.textContent = `… ${rows.length - 10} more`;
          tip.appendChild(more);
        }
        tip.style.display = "block";
        // Placed in the window, not in the chart: a small widget (or a long list) would
        // clip it. Right of the cursor and above it, else left of it and below it.
        tip.style.left = tip.style.top = "0px";
        const origin = tip.getBoundingClientRect(); // where (0, 0) puts it (fixed, in the window)
        const over = u.over.getBoundingClientRect();
        const [cx, cy] = [over.left + u.cursor.left, over.top + (u.cursor.top ?? 0)];
        const [w, h] = [origin.width, origin.height];
        const x = cx + 12 + w <= innerWidth - 4 ? cx + 12 : Math.max(cx - 12 - w, 4);
        const y = cy - 8 - h >= 4 ? cy - 8 - h : Math.max(Math.min(cy + 16, innerHeight - h - 4), 4);
        tip.style.left = `${x - origin.left}px`;
        tip.style.top = `${y - origin.top}px`;
      },
    },
  };
}

/** A legend as tall as it needs, up to about a third of the chart's room; beyond that it
 *  scrolls (Grafana's list legend) and the canvas gives up what the legend takes beyond
 *  the one row its widget left room for. Returns the canvas height for this width. */
function fitLegend(u: uPlot, width: number, height: number): number {
  const legend = u.root.querySelector<HTMLElement>(".u-legend");
  const wrap = u.root.querySelector<HTMLElement>(".u-wrap");
  if (!legend || !wrap) return height;
  // The legend wraps at the plot's width, which uPlot sets only when it commits: set now
  // (to the same value) so the legend is measured as it will be drawn.
  wrap.style.width = `${width}px`;
  legend.style.maxHeight = "";
  legend.classList.remove("u-scroll");
  const full = legend.offsetHeight;
  const row = legend.querySelector<HTMLElement>(".u-series")?.offsetHeight || full;
  if (full <= row * 1.5) return height;
  const room = height + row;
  const cap = Math.min(full, Math.max(1, Math.floor((room * 0.35) / row)) * row);
  legend.style.maxHeight = `${cap}px`;
  legend.classList.add("u-scroll");
  return Math.max(room - cap, 60);
}

/** Whether a legend of these labels surely fits one row (no need to measure it): 12-px
 *  bold text is under 9 px a character, an entry's marker and gaps about 40 px. */
function oneRow(series: ChartSeries[], width: number, live: boolean): boolean {
  let need = live ? 140 : 0;
  for (const s of series) need += s.label.length * 9 + 40;
  return need < width;
}

/** The x scale's span in seconds (the page's range before the first draw). */
function xSpan(u: uPlot): number {
  const { min, max } = u.scales.x ?? {};
  if (min != null && max != null) return max - min;
  const t = u.data?.[0];
  return t && t.length > 1 ? t[t.length - 1] - t[0] : 0;
}

/** What uPlot draws: min/max per pixel column when there are many more points than
 *  columns, stacked when asked. */
function chartData(p: ChartProps, width: number) {
  // At most ~120k points per draw: many series share coarser columns (100 series of a
  // 1,100-px plot: min/max per ~2 px), so a redraw stays one short task.
  const columns = Math.max(Math.min(width, Math.floor(120_000 / (2 * Math.max(p.values.length, 1)))), width / 4);
  const thin = decimate(p.times, p.values, Math.floor(columns));
  const values = p.stacked ? stack(thin.values) : thin.values;
  return { thin, data: [thin.times, ...values] as uPlot.AlignedData };
}

export function UPlotChart(props: ChartProps) {
  const themeTick = useThemeTick();
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const cb = useRef(props);
  cb.current = props;
  const shown = useRef<ChartProps["values"] | null>(null); // the values the chart holds

  useEffect(() => {
    const el = ref.current!;
    const { series, tz } = props;
    const hasRight = series.some((s) => s.axis === "right");
    const axisColor = cssVar("--fg-muted");
    const gridColor = cssVar("--grid");
    const fmt = (ms: number) => formatTime(ms, tz, false);
    const width = Math.max(el.clientWidth, 100);
    const { thin, data } = chartData(props, width - 70);
    shown.current = props.values;
    // Many segments: 1-px lines, which the canvas draws as hairlines (no stroker): the
    // rasterizing of 1.5-px lines was most of a 12-chart dashboard's drawing time.
    const dense = thin.times.length * series.length > 4_000;
    const bars = props.bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined;
    const live = series.length <= 40;
    let canvasHeight = props.height;
    const fits = oneRow(series, width, live);
    const opts: uPlot.Options = {
      width,
      height: props.height,
      tzDate: tz === "UTC" ? (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC") : undefined,
      cursor: {
        sync: props.syncKey ? { key: props.syncKey } : undefined,
        drag: { x: true, y: false, setScale: false },
        points: { show: series.length <= 20 },
      },
      // With many series, per-move work stays small: no hover dots, legend values kept.
      legend: { live },
      scales: {
        // The page's range as it is now (a zoom moves it without a new chart).
        x: props.xRange
          ? { time: true, range: (_u, min, max) => cb.current.xRange ?? [min, max] }
          : { time: true },
        // Each axis takes in its horizontal annotations (an alarm's threshold above the
        // data is a line on the graph, as in CloudWatch, not off its top).
        y: {
          range: (_u, dmin, dmax) => {
            const [min, max] = withLines(dmin, dmax, props.horizontal, "left");
            return [
              props.left?.min ?? (min === max ? min - 1 : Math.min(min, 0)),
              props.left?.max ?? (min === max ? max + 1 : max),
            ];
          },
        },
        right: {
          range: (_u, dmin, dmax) => {
            const [min, max] = withLines(dmin, dmax, props.horizontal, "right");
            return [props.right?.min ?? Math.min(min, 0), props.right?.max ?? (min === max ? max + 1 : max)];
          },
        },
      },
      // Room on the right for half of the last time label ("12-07 16:00" is ~70 px wide):
      // uPlot's own right padding (25 px) clipped it when a tick fell near the edge.
      padding: [null, (u, _side, sides) => (sides[1] ? 0 : xSpan(u) > 86400 ? 40 : 24), null, null],
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          // Ticks as far apart as their labels are wide (dates and times, or times).
          space: (_u, _i, min, max) => (max - min > 86400 ? 90 : 55),
          // 24-hour times in the page's time zone; dates once the range spans days.
          values: (_u: uPlot, splits: number[]) => {
            const days = splits.length > 1 && splits[splits.length - 1] - splits[0] > 86400;
            return splits.map((v) => {
              const text = formatTime(v * 1000, tz, days);
              return days ? text.slice(5, 16) : text.slice(0, 5);
            });
          },
        },
        {
          scale: "y",
          values: tickValues,
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          size: 56,
        },
        ...(hasRight
          ? [
              {
                scale: "right",
                side: 1 as const,
                values: tickValues,
                stroke: axisColor,
                grid: { show: false },
                size: 56,
              },
            ]
          : []),
      ],
      series: [
        { value: (_u: uPlot, v: number) => (v == null ? "--" : fmt(v * 1000)) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          width: s.band || dense ? 1 : 1.5,
          points: s.band ? { show: false } : undefined,
          show: s.show !== false,
          scale: s.axis === "right" ? "right" : "y",
          fill: props.stacked || props.bars ? s.color + "55" : undefined,
          paths: bars,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v == null ? "--" : formatValue(v)),
          ...(props.stacked && i > 0 ? {} : {}),
        })),
      ],
      bands: props.stacked
        ? series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] }))
        : props.fillBands?.map((b) => ({ series: [b.upper + 1, b.lower + 1] as [number, number], fill: b.color })),
      hooks: {
        // A long legend is fitted before the first draw: the legend exists, the canvas
        // not yet (uPlot reads the height from these options after this hook).
        init: [
          (u: uPlot, o: uPlot.Options) => {
            if (!fits) o.height = canvasHeight = fitLegend(u, o.width, o.height);
          },
        ],
        // The range shown, in words (screen readers; what a zoom changed at once).
        setScale: [
          (u: uPlot, key: string) => {
            const { min, max } = u.scales.x;
            if (key !== "x" || min == null || max == null) return;
            el.setAttribute("aria-label", `Chart from ${formatTime(min * 1000, tz)} to ${formatTime(max * 1000, tz)}`);
          },
        ],
        setSelect: [
          (u: uPlot) => {
            if (u.select.width < 3) return;
            const a = u.posToVal(u.select.left, "x");
            const b = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            cb.current.onZoom?.(Math.round(a * 1000), Math.round(b * 1000));
          },
        ],
      },
      plugins: [
        annotationsPlugin(props.horizontal ?? [], props.vertical ?? []),
        tooltipPlugin(tz, series.map((s) => s.color)),
        ...(props.plugins ?? []),
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    let down: [number, number] | null = null;
    const onDown = (e: MouseEvent) => (down = [e.clientX, e.clientY]);
    const onUp = (e: MouseEvent) => {
      if (!down || Math.abs(e.clientX - down[0]) > 3) return;
      const idx = u.cursor.idx;
      if (idx != null && cb.current.onPoint) cb.current.onPoint(Number(u.data[0][idx]) * 1000);
    };
    // Legend entries toggle their series: reachable and usable from the keyboard too.
    u.root.querySelectorAll<HTMLElement>(".u-legend .u-series").forEach((row, i) => {
      if (i === 0) return;
      row.tabIndex = 0;
      row.setAttribute("role", "button");
      const sync = () => row.setAttribute("aria-pressed", String(!row.classList.contains("u-off")));
      sync();
      row.addEventListener("click", () => setTimeout(sync));
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          (row.firstElementChild as HTMLElement | null)?.click();
        }
      });
    });
    u.over.addEventListener("mousedown", onDown);
    u.over.addEventListener("mouseup", onUp);
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w <= 0 || Math.abs(w - u.width) <= 1) return;
      if (!fits || !oneRow(series, w, live)) canvasHeight = fitLegend(u, w, props.height);
      u.setSize({ width: w, height: canvasHeight });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // A new chart when what it shows changes (series, axes, look); new data or a new
    // range keep it (below): no legend and canvas rebuilt for every zoom or refresh.
  }, [JSON.stringify(props.series), props.height, props.tz, props.stacked, props.bars, themeTick, props.plugins, JSON.stringify(props.horizontal ?? [])]);

  // New data for the same series: decimated and set on the chart as it is.
  useEffect(() => {
    const u = plot.current;
    if (!u || shown.current === props.values) return;
    shown.current = props.values;
    u.setData(chartData(props, u.bbox.width / devicePixelRatio).data);
  }, [props.times, props.values]);

  // A new range (a zoom, a preset) redraws at once from the data in memory, already
  // thinned to min/max per pixel column; finer data follows with the next answer.
  useEffect(() => {
    const u = plot.current;
    const r = props.xRange;
    if (!u || !r || (u.scales.x.min === r[0] && u.scales.x.max === r[1])) return;
    u.setScale("x", { min: r[0], max: r[1] });
  }, [props.xRange?.[0], props.xRange?.[1]]);

  // Axis titles are text beside the canvas: readable by people, screen readers and tests.
  const hasRight = props.series.some((s) => s.axis === "right");
  return (
    <div class="chart-wrap">
      {props.left?.label ? <div class="axis-title axis-left">{props.left.label}</div> : null}
      <div class="chart" ref={ref} role="group" />
      {hasRight && props.right?.label ? <div class="axis-title axis-right">{props.right.label}</div> : null}
    </div>
  );
}

// Number formatters built once (toLocaleString with options builds one per call).
const NUMBER_FORMATS = new Map<string, Intl.NumberFormat>();

function numberFormat(min: number, max: number): Intl.NumberFormat {
  const key = `${min}|${max}`;
  let f = NUMBER_FORMATS.get(key);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { minimumFractionDigits: min, maximumFractionDigits: max });
    NUMBER_FORMATS.set(key, f);
  }
  return f;
}

/** Tick labels with as many decimals as the tick step needs (0.0015, 0.002 — not 0.002
 *  twice), thousands separated. */
function tickValues(_u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] {
  const decimals = Math.min(Math.max(0, -Math.floor(Math.log10(Math.abs(incr) || 1))), 12);
  const f = numberFormat(decimals, decimals);
  return splits.map((v) => (v == null ? "" : f.format(v)));
}

export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (Number.isInteger(v)) return numberFormat(0, 0).format(v);
  return numberFormat(0, a >= 100 ? 1 : 3).format(v);
}
