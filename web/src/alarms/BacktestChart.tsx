// An alarm's metric with its threshold or anomaly band, its real state changes (solid)
// and the changes a backtest says it would have made (dashed), on one chart.
import { useMemo } from "preact/hooks";
import { StateTrack, stateMarksPlugin } from "../chart/stateMarks";
import { Annotation, ChartSeries, UPlotChart } from "../chart/UPlotChart";
import { plural } from "../text";
import { formatTime } from "../time";
import { Backtest } from "./api";

interface Props {
  label: string;
  backtest: Backtest;
  tracks: StateTrack[]; // real state changes
  tz: string;
  height?: number;
  onZoom?: (startMs: number, endMs: number) => void;
  onPoint?: (timeMs: number) => void;
}

export function wouldBe(name: string, bt: Backtest): StateTrack {
  return {
    alarm: `${name} (backtest)`,
    before: "INSUFFICIENT_DATA",
    dashed: true,
    changes: bt.changes.map((c) => ({ timeMs: c.time * 1000, old: c.old, state: c.new, alarm: name, reason: c.reason })),
  };
}

export function BacktestChart({ label, backtest: bt, tracks, tz, height = 280, onZoom, onPoint }: Props) {
  const { times, values, series, bands } = useMemo(() => {
    const s = bt.series;
    const values: (number | null)[][] = [s.values];
    const series: ChartSeries[] = [{ label, color: "#1f77b4", axis: "left" }];
    const bands = [];
    if (s.upper && s.lower) {
      values.push(s.upper, s.lower);
      series.push(
        { label: "Band upper", color: "#7f7f7f", axis: "left", band: true },
        { label: "Band lower", color: "#7f7f7f", axis: "left", band: true },
      );
      bands.push({ upper: 1, lower: 2, color: "#7f7f7f33" });
    }
    return { times: s.times, values, series, bands };
  }, [bt, label]);
  const horizontal: Annotation[] =
    bt.threshold !== null && !bt.series.upper ? [{ value: bt.threshold, label: `threshold ${bt.threshold}`, color: "#d62728" }] : [];
  const plugins = useMemo(
    () => [stateMarksPlugin([...tracks, wouldBe(label, bt)], (ms) => formatTime(ms, tz))],
    [tracks, bt, tz],
  );
  if (!times.length) return <div class="widget-empty">No data in this range.</div>;
  return (
    <UPlotChart
      times={times}
      values={values}
      series={series}
      horizontal={horizontal}
      tz={tz}
      height={height}
      xRange={[bt.start, bt.end]}
      fillBands={bands}
      plugins={plugins}
      onZoom={onZoom}
      onPoint={onPoint}
    />
  );
}

/** "Would have gone into ALARM 3 times (12 h 5 min in ALARM) over 7 days." */
export function summary(bt: Backtest): string {
  const alarms = bt.changes.filter((c) => c.new === "ALARM").length;
  let inAlarm = 0;
  let since: number | null = null;
  for (const c of bt.changes) {
    if (c.new === "ALARM") since = c.time;
    else if (since !== null) {
      inAlarm += c.time - since;
      since = null;
    }
  }
  if (since !== null) inAlarm += bt.end - since;
  const days = (bt.end - bt.start) / 86400;
  const n = days >= 1 ? +days.toFixed(1) : Math.round((bt.end - bt.start) / 3600);
  const unit = days >= 1 ? "day" : "hour";
  const span = n === 1 ? unit : `${n} ${unit}s`; // "the last hour", "the last 7 days"
  const evaluations = plural(bt.evaluations, "evaluation");
  const dur = inAlarm >= 3600 ? `${Math.floor(inAlarm / 3600)} h ${Math.round((inAlarm % 3600) / 60)} min` : `${Math.round(inAlarm / 60)} min`;
  if (!alarms) return `Would not have gone into ALARM over the last ${span} (${evaluations}).`;
  return `Would have gone into ALARM ${plural(alarms, "time")} over the last ${span} (${dur} in ALARM, ${evaluations}).`;
}
