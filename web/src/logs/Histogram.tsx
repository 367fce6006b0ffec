// Matching events over time (the histogram query's bins) as bars; drag to zoom the range.
import { useMemo } from "preact/hooks";
import { ChartSeries, UPlotChart } from "../chart/UPlotChart";

const SERIES: ChartSeries[] = [{ label: "Events", color: "#1f77b4", axis: "left" }];

export function toBins(rows: Record<string, string>[], bin: number, startMs: number, endMs: number) {
  const counts = new Map<number, number>();
  for (const r of rows) {
    const key = Object.keys(r).find((k) => k.startsWith("bin("));
    if (!key) continue;
    const raw = r[key];
    const t = Date.parse(raw.includes("T") ? raw : raw.replace(" ", "T") + "Z");
    if (!Number.isNaN(t)) counts.set(t, (counts.get(t) ?? 0) + Number(r.events ?? 0));
  }
  const step = bin * 1000;
  const times: number[] = [];
  const values: number[] = [];
  for (let t = Math.floor(startMs / step) * step; t < endMs; t += step) {
    times.push(t / 1000);
    values.push(counts.get(t) ?? 0);
  }
  return { times, values };
}

export function Histogram({
  times,
  values,
  tz,
  startMs,
  endMs,
  onZoom,
}: {
  times: number[];
  values: number[];
  tz: string;
  startMs: number;
  endMs: number;
  onZoom: (a: number, b: number) => void;
}) {
  const total = values.reduce((a, b) => a + b, 0);
  const data = useMemo(() => [values], [values]);
  return (
    <section class="histogram" aria-label="Matching events over time" data-total={total}>
      <UPlotChart
        times={times}
        values={data}
        series={SERIES}
        bars
        tz={tz}
        height={120}
        xRange={[startMs / 1000, endMs / 1000]}
        onZoom={onZoom}
      />
    </section>
  );
}
