// Series of one widget onto one time axis (what uPlot draws): the union of their times.

export interface SeriesData {
  row: number;
  id: string;
  label: string;
  times: number[]; // seconds, ascending
  values: number[];
}

export function align(series: SeriesData[]): { times: number[]; values: (number | null)[][] } {
  let same = series.length > 0;
  for (const s of series) {
    if (s.times.length !== series[0].times.length) {
      same = false;
      break;
    }
  }
  if (same) {
    const t0 = series[0].times;
    same = series.every((s) => s.times === t0 || s.times.every((t, i) => t === t0[i]));
  }
  if (same) return { times: series[0].times, values: series.map((s) => s.values) };
  const all = new Set<number>();
  for (const s of series) for (const t of s.times) all.add(t);
  const times = [...all].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = series.map((s) => {
    const row: (number | null)[] = new Array(times.length).fill(null);
    s.times.forEach((t, i) => (row[index.get(t)!] = s.values[i]));
    return row;
  });
  return { times, values };
}
