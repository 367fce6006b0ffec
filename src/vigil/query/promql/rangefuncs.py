"""Functions over range vectors (``rate(x[5m])``, ``avg_over_time(…)``), as Prometheus 2.x
computes them.

Each function sees one series' samples (staleness markers already dropped) and, per
evaluation time, its window: the samples with ``end - range <= t <= end`` (both ends
included, Prometheus 2.x), given as index bounds ``lo``/``hi``. The common ones are
vectorised over all windows at once (cumulative sums, the first and last sample of each
window); the rarer ones loop over windows. The extrapolation of ``rate``/``increase``/
``delta`` is Prometheus' ``extrapolatedRate``, step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from vigil.query.promql.values import Bools, Floats, Ints

Result = tuple[Floats, Bools]
RangeFn = Callable[[Ints, Floats, Ints, Ints, Ints, int, Floats | None], Result]


def _cum(x: Floats) -> Floats:
    return np.concatenate(([0.0], np.cumsum(x)))


def _extrapolated(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, counter: bool, rate: bool
) -> Result:
    # In place where it can: this runs over every (series, step) of a query at once.
    n = hi - lo
    ok = n >= 2
    out = np.zeros(len(ends))
    if not ok.any():
        return out, ok
    lo_, last = lo[ok], hi[ok] - 1
    first_v = v[lo_]
    result = v[last] - first_v
    if counter:
        # A drop is a counter reset: add back the value before it. corr[i] is the sum of
        # the values before each drop up to sample i; a window adds the drops after its
        # first sample.
        drops = np.zeros(len(v))
        np.copyto(drops[1:], v[:-1], where=v[1:] < v[:-1])
        corr = np.cumsum(drops)
        result += corr[last]
        result -= corr[lo_]
    t_first, t_last, end = t[lo_], t[last], ends[ok]
    to_start = (t_first - (end - rng)) / 1000.0
    to_end = (end - t_last) / 1000.0
    sampled = (t_last - t_first) / 1000.0
    avg_gap = sampled / (n[ok] - 1)
    if counter:
        with np.errstate(divide="ignore", invalid="ignore"):
            to_zero = sampled * (first_v / result)
        use_zero = (result > 0) & (first_v >= 0) & (to_zero < to_start)
        np.copyto(to_start, to_zero, where=use_zero)
    threshold = avg_gap * 1.1
    half = avg_gap / 2
    interval = sampled.copy()
    interval += np.where(to_start < threshold, to_start, half)
    interval += np.where(to_end < threshold, to_end, half)
    with np.errstate(divide="ignore", invalid="ignore"):
        interval /= sampled
    result *= interval
    if rate:
        result /= rng / 1000
    out[ok] = result
    return out, ok


def rate(t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, _: Floats | None) -> Result:
    return _extrapolated(t, v, lo, hi, ends, rng, True, True)


def increase(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, _: Floats | None
) -> Result:
    return _extrapolated(t, v, lo, hi, ends, rng, True, False)


def delta(t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, _: Floats | None) -> Result:
    return _extrapolated(t, v, lo, hi, ends, rng, False, False)


def _instant(t: Ints, v: Floats, lo: Ints, hi: Ints, is_rate: bool) -> Result:
    ok = (hi - lo) >= 2
    out = np.zeros(len(lo))
    last, prev = hi[ok] - 1, hi[ok] - 2
    lv, pv = v[last], v[prev]
    res = np.where((lv < pv) & is_rate, lv, lv - pv)
    gap = (t[last] - t[prev]).astype(np.float64)
    ok_idx = np.flatnonzero(ok)
    good = gap != 0
    if is_rate:
        res = res / (gap / 1000)
    out[ok_idx[good]] = res[good]
    ok[ok_idx[~good]] = False
    return out, ok


def irate(t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, _: Floats | None) -> Result:
    return _instant(t, v, lo, hi, True)


def idelta(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, _: Floats | None
) -> Result:
    return _instant(t, v, lo, hi, False)


def _nonempty(lo: Ints, hi: Ints) -> Bools:
    return hi > lo


def sum_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, math.fsum)


def count_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return (hi - lo).astype(np.float64), _nonempty(lo, hi)


def avg_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, lambda w: math.fsum(w) / len(w))


def min_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, _nan_last(min))


def max_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, _nan_last(max))


def _nan_last(pick: Callable[[list[float]], float]) -> Callable[[list[float]], float]:
    # Prometheus replaces a NaN by any number it meets: NaN only when all are NaN.
    def f(w: list[float]) -> float:
        nums = [x for x in w if not math.isnan(x)]
        return pick(nums) if nums else math.nan

    return f


def last_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    ok = _nonempty(lo, hi)
    out = np.zeros(len(lo))
    out[ok] = v[hi[ok] - 1]
    return out, ok


def present_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return np.ones(len(lo)), _nonempty(lo, hi)


def _variance(w: list[float]) -> float:
    # Welford, as Prometheus' stdvar_over_time.
    count, mean, aux = 0.0, 0.0, 0.0
    for x in w:
        count += 1
        delta_ = x - mean
        mean += delta_ / count
        aux += delta_ * (x - mean)
    return aux / count


def stdvar_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, _variance)


def stddev_over_time(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    return _windows(v, lo, hi, lambda w: math.sqrt(_variance(w)))


def changes(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    differ = np.zeros(len(v))
    differ[1:] = (v[1:] != v[:-1]) & ~(np.isnan(v[1:]) & np.isnan(v[:-1]))
    return _pairs(differ, lo, hi)


def resets(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    dropped = np.zeros(len(v))
    dropped[1:] = v[1:] < v[:-1]
    return _pairs(dropped, lo, hi)


def _pairs(marks: Floats, lo: Ints, hi: Ints) -> Result:
    # marks[i] concerns the pair (i-1, i): a window counts the pairs after its first sample.
    ok = _nonempty(lo, hi)
    c = np.cumsum(marks)
    out = np.zeros(len(lo))
    out[ok] = c[hi[ok] - 1] - c[lo[ok]]
    return out, ok


def _regression(t: Ints, v: Floats, intercept_ms: int) -> tuple[float, float]:
    y = v.astype(np.float64)
    if np.all(y == y[0]):
        if math.isinf(y[0]):
            return math.nan, math.nan
        return 0.0, float(y[0])
    x = (t - intercept_ms).astype(np.float64) / 1000
    n = len(x)
    sx, sy = math.fsum(x), math.fsum(y)
    cov = math.fsum(x * y) - sx * sy / n
    var = math.fsum(x * x) - sx * sx / n
    slope = cov / var if var != 0 else math.nan
    return slope, sy / n - slope * sx / n


def deriv(t: Ints, v: Floats, lo: Ints, hi: Ints, *_: object) -> Result:
    out = np.zeros(len(lo))
    ok = (hi - lo) >= 2
    for i in np.flatnonzero(ok):
        out[i] = _regression(t[lo[i] : hi[i]], v[lo[i] : hi[i]], int(t[lo[i]]))[0]
    return out, ok


def predict_linear(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, arg: Floats | None
) -> Result:
    assert arg is not None
    out = np.zeros(len(lo))
    ok = (hi - lo) >= 2
    for i in np.flatnonzero(ok):
        slope, icpt = _regression(t[lo[i] : hi[i]], v[lo[i] : hi[i]], int(ends[i]))
        out[i] = slope * arg[i] + icpt
    return out, ok


def holt_winters(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, arg: Floats | None
) -> Result:
    # Prometheus 2.42's funcHoltWinters: double exponential smoothing, the last level.
    assert arg is not None
    out = np.zeros(len(lo))
    ok = (hi - lo) >= 2
    for i in np.flatnonzero(ok):
        sf, tf = float(arg[0, i]), float(arg[1, i])
        w = v[lo[i] : hi[i]].tolist()
        s0, s1, b = 0.0, w[0], w[1] - w[0]
        for j in range(1, len(w)):
            if j > 1:
                b = tf * (s1 - s0) + (1 - tf) * b
            s0, s1 = s1, sf * w[j] + (1 - sf) * (s1 + b)
        out[i] = s1
    return out, ok


def quantile_over_time(
    t: Ints, v: Floats, lo: Ints, hi: Ints, ends: Ints, rng: int, arg: Floats | None
) -> Result:
    assert arg is not None
    out = np.zeros(len(lo))
    ok = _nonempty(lo, hi)
    for i in np.flatnonzero(ok):
        out[i] = quantile(float(arg[i]), v[lo[i] : hi[i]])
    return out, ok


def quantile(q: float, values: Floats) -> float:
    """Prometheus' ``quantile``: linear interpolation between closest ranks."""
    if len(values) == 0 or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    s = np.sort(values)
    rank = q * (len(s) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(s) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return float(s[lower] * (1 - weight) + s[upper] * weight)


def _windows(v: Floats, lo: Ints, hi: Ints, f: Callable[[list[float]], float]) -> Result:
    ok = _nonempty(lo, hi)
    out = np.zeros(len(lo))
    for i in np.flatnonzero(ok):
        out[i] = f(v[lo[i] : hi[i]].tolist())
    return out, ok


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": rate,
    "increase": increase,
    "delta": delta,
    "irate": irate,
    "idelta": idelta,
    "sum_over_time": sum_over_time,
    "count_over_time": count_over_time,
    "avg_over_time": avg_over_time,
    "min_over_time": min_over_time,
    "max_over_time": max_over_time,
    "last_over_time": last_over_time,
    "present_over_time": present_over_time,
    "stddev_over_time": stddev_over_time,
    "stdvar_over_time": stdvar_over_time,
    "changes": changes,
    "resets": resets,
    "deriv": deriv,
    "predict_linear": predict_linear,
    "quantile_over_time": quantile_over_time,
    "holt_winters": holt_winters,
    "double_exponential_smoothing": holt_winters,  # its Prometheus 3 name
}
# Functions whose scalar argument comes before the range vector / after it.
SCALAR_FIRST = {"quantile_over_time"}
SCALAR_AFTER = {"predict_linear", "holt_winters", "double_exponential_smoothing"}
