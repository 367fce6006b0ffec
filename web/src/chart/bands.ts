// Anomaly detection bands in a metric widget's answer. CloudWatch answers an
// ANOMALY_DETECTION_BAND(m, k) expression as two time series of the same query (the band's
// upper and lower edges, labels ending in "Upper"/"High" and "Lower"/"Low"); a server may
// also give one series with "lower"/"upper" arrays. Either way the chart draws one filled
// band between the edges, in the row's colour (grey by default, as the console does).
import { isValue, SeriesData, Values } from "../widgets/series";

export interface BandSeries extends SeriesData {
  lower?: Values;
  upper?: Values;
}

export interface Banded {
  series: SeriesData[];
  bands: { upper: number; lower: number; color: string }[];
  bandRows: Set<number>;
}

const BAND_RE = /ANOMALY_DETECTION_(BAND|FUNCTION)\s*\(/i;

export function isBandExpression(expression: unknown): boolean {
  return typeof expression === "string" && BAND_RE.test(expression);
}

function mean(values: Values): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (isValue(v) && Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n ? sum / n : 0;
}

/** The series with each band's edges next to each other, and the bands between them.
 *  ``rowOptions(row)`` gives a row's options (its ``expression``, ``color``). */
export function findBands(series: BandSeries[], rowOptions: (row: number) => Record<string, any>): Banded {
  const out: SeriesData[] = [];
  const bands: Banded["bands"] = [];
  const bandRows = new Set<number>();
  const byRow = new Map<number, BandSeries[]>();
  for (const s of series) {
    const opts = rowOptions(s.row);
    if (isBandExpression(opts.expression)) {
      bandRows.add(s.row);
      byRow.set(s.row, [...(byRow.get(s.row) ?? []), s]);
    } else out.push(s);
  }
  for (const [row, members] of byRow) {
    const color = rowOptions(row).color ?? "#7f7f7f";
    let pair: [SeriesData, SeriesData] | null = null;
    if (members.length === 1 && members[0].lower && members[0].upper) {
      const s = members[0];
      pair = [
        { ...s, id: `${s.id}_upper`, label: `${s.label} Upper`, values: s.upper! },
        { ...s, id: `${s.id}_lower`, label: `${s.label} Lower`, values: s.lower! },
      ];
    } else if (members.length === 2) {
      const [a, b] = members;
      const upperByName = (s: SeriesData) => /(upper|high)\s*$/i.test(s.label);
      const lowerByName = (s: SeriesData) => /(lower|low)\s*$/i.test(s.label);
      if (upperByName(a) || lowerByName(b)) pair = [a, b];
      else if (upperByName(b) || lowerByName(a)) pair = [b, a];
      else pair = mean(a.values) >= mean(b.values) ? [a, b] : [b, a];
    }
    if (!pair) {
      out.push(...members); // not a band we can read: drawn as plain lines
      continue;
    }
    const upper = out.length;
    out.push(pair[0], pair[1]);
    bands.push({ upper, lower: upper + 1, color: color + "33" });
  }
  return { series: out, bands, bandRows };
}
