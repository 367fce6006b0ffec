// Min/max decimation: a series with far more points than the chart has pixel columns is
// drawn from its minimum and maximum per column (the envelope a full draw would show), so
// a 1M-point graph draws a few hundred thousand segments instead of a million.
//
// Values may be typed arrays (the dashboard's columnar answers) with NaN for "no point";
// what comes out is what uPlot draws: typed arrays when complete, arrays with null at gaps.

type In = ArrayLike<number | null>;

function present(v: number | null | undefined): v is number {
  return v != null && v === v;
}

/** Values as uPlot takes them: a typed array without NaN as it is (no copy, no boxing);
 *  with NaN, an array with null there (uPlot's gap). */
export function withGaps(values: In): ArrayLike<number | null> {
  if (Array.isArray(values)) return values;
  let gaps = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!present(v)) {
      gaps = true;
      break;
    }
  }
  if (!gaps) return values;
  const out: (number | null)[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out.push(present(v) ? v : null);
  }
  return out;
}

export function decimate(
  times: ArrayLike<number>,
  values: In[],
  columns: number,
): { times: ArrayLike<number>; values: ArrayLike<number | null>[] } {
  const n = times.length;
  if (n <= columns * 2 || n < 2) return { times, values: values.map(withGaps) };
  const t0 = times[0];
  const step = (times[n - 1] - t0) / columns;
  // Column boundaries once for all series: [starts[c], starts[c + 1]) is column c.
  const starts: number[] = [];
  let i = 0;
  for (let b = 0; b < columns && i < n; b++) {
    const end = b === columns - 1 ? Infinity : t0 + (b + 1) * step;
    let j = i;
    while (j < n && times[j] < end) j++;
    if (j === i) continue;
    starts.push(i);
    i = j;
  }
  starts.push(n);
  const outT: number[] = [];
  for (let c = 0; c + 1 < starts.length; c++) {
    const a = starts[c];
    const b = starts[c + 1];
    outT.push(times[a]);
    if (b - a > 1) outT.push(times[b - 1]);
  }
  const outV = values.map((row) => {
    const out = new Float64Array(outT.length); // NaN: no point (withGaps below)
    let o = 0;
    for (let c = 0; c + 1 < starts.length; c++) {
      const a = starts[c];
      const b = starts[c + 1];
      let lo = -1;
      let hi = -1;
      let loV = 0;
      let hiV = 0;
      for (let k = a; k < b; k++) {
        const v = row[k];
        if (!present(v)) continue;
        if (lo < 0 || v < loV) {
          lo = k;
          loV = v;
        }
        if (hi < 0 || v > hiV) {
          hi = k;
          hiV = v;
        }
      }
      if (b - a === 1) out[o++] = lo < 0 ? NaN : loV;
      else if (lo < 0) {
        out[o++] = NaN;
        out[o++] = NaN;
      } else if (lo <= hi) {
        out[o++] = loV;
        out[o++] = hiV;
      } else {
        out[o++] = hiV;
        out[o++] = loV;
      }
    }
    return withGaps(out);
  });
  return { times: outT, values: outV };
}
