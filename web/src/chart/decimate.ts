// Min/max decimation: a series with far more points than the chart has pixel columns is
// drawn from its minimum and maximum per column (the envelope a full draw would show), so
// a 1M-point graph draws a few hundred thousand segments instead of a million.

export function decimate(
  times: ArrayLike<number>,
  values: (number | null)[][],
  columns: number,
): { times: number[]; values: (number | null)[][] } {
  const n = times.length;
  if (n <= columns * 4 || n < 2) return { times: Array.from(times), values };
  const t0 = times[0];
  const step = (times[n - 1] - t0) / columns;
  const outT: number[] = [];
  const outV: (number | null)[][] = values.map(() => []);
  let i = 0;
  for (let b = 0; b < columns && i < n; b++) {
    const end = b === columns - 1 ? Infinity : t0 + (b + 1) * step;
    let j = i;
    while (j < n && times[j] < end) j++;
    if (j === i) continue;
    const two = j - i > 1;
    outT.push(times[i]);
    if (two) outT.push(times[j - 1]);
    values.forEach((row, s) => {
      let lo = -1;
      let hi = -1;
      for (let k = i; k < j; k++) {
        const v = row[k];
        if (v === null) continue;
        if (lo < 0 || v < row[lo]!) lo = k;
        if (hi < 0 || v > row[hi]!) hi = k;
      }
      const out = outV[s];
      if (lo < 0) {
        out.push(null);
        if (two) out.push(null);
      } else if (!two) out.push(row[lo]);
      else if (lo <= hi) out.push(row[lo], row[hi]);
      else out.push(row[hi], row[lo]);
    });
    i = j;
  }
  return { times: outT, values: outV };
}
