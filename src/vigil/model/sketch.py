"""The percentile sketch kept in every rollup: DDSketch-style logarithmic buckets.

A value v ≠ 0 falls in bucket ``i = ceil(ln|v| / ln γ)`` with ``γ = (1 + α) / (1 − α)`` and
α = 1%; bucket i holds the values in ``(γ^(i−1), γ^i]`` and answers for them with
``2·γ^i / (γ + 1)``, which is within α (1%) of every value in the bucket. Keys are signed
and offset so that sorting keys sorts values: ``key = sign(v) · (i + OFFSET)``, 0 for 0.

A rollup row stores the sketch as ``(keys, weights)`` arrays merged with ClickHouse's
``sumMap``: merging sketches is adding their weights, so any number of rows, periods and
series merge without further error. Error bound: a distribution statistic computed from the
sketch uses each data point's bucket value instead of the value itself, so a percentile is
within 1% (relative) of the exact nearest-rank percentile, and trimmed means, sums and
winsorized means are within 1% as well. Histogram points enter the sketch at the middle of
each bucket (clamped to the point's min and max when known), so their error is also bounded
by their own bucket widths. Statistic sets enter it only when all their values are equal
(CloudWatch's rule for percentiles over statistic sets).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
OFFSET = 40_000  # |ln v| ≤ 745 for every finite double, so |i| < 37,300 < OFFSET


def key_sql(value: str) -> str:
    """SQL for the sketch key of the Float64 expression ``value``."""
    return (
        f"toInt32(if(({value}) = 0, 0, sign({value}) *"
        f" (ceil(log(abs({value})) / {LN_GAMMA!r}) + {OFFSET})))"
    )


def value_sql(key: str) -> str:
    """SQL for the value the sketch key expression ``key`` answers with."""
    return (
        f"if(({key}) = 0, 0., sign({key}) * 2 * pow({GAMMA!r}, abs({key}) - {OFFSET})"
        f" / {GAMMA + 1!r})"
    )


def key_of(value: float) -> int:
    if value == 0:
        return 0
    index = math.ceil(math.log(abs(value)) / LN_GAMMA) + OFFSET
    return index if value > 0 else -index


def values_of(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The value each key answers with."""
    k = keys.astype(np.float64)
    index = np.abs(k) - OFFSET
    magnitude = 2.0 * np.power(GAMMA, index) / (GAMMA + 1.0)
    return np.where(k == 0, 0.0, np.sign(k) * magnitude)


def histogram_midpoints_sql(t: str = "") -> str:
    """SQL (over a ``metrics`` row; ``t`` qualifies its columns) for the value each
    histogram bucket enters the sketch with: the middle of the bucket, clamped to the row's
    min and max when they are known."""
    mn, mx, bounds = f"{t}min", f"{t}max", f"{t}bounds"
    lo = f"if(isNaN({mn}), -inf, {mn})"
    hi = f"if(isNaN({mx}), inf, {mx})"
    n = f"length({bounds})"
    lower = f"if(j = 1, if(isNaN({mn}), {bounds}[1], {mn}), {bounds}[j - 1])"
    upper = f"if(j = {n} + 1, if(isNaN({mx}), {bounds}[{n}], {mx}), {bounds}[j])"
    return (
        f"if({n} = 0, [if({t}count > 0, {t}value / {t}count, 0.)],"
        f" arrayMap(j -> (greatest({lower}, {lo}) + least({upper}, {hi})) / 2,"
        f" arrayEnumerate({t}buckets)))"
    )


def sketch_sql(t: str = "") -> tuple[str, str]:
    """SQL (over a ``metrics`` row; ``t`` qualifies its columns) for the sketch keys and
    weights the row contributes."""
    kind, value, count, mn, mx = (f"{t}{c}" for c in ("kind", "value", "count", "min", "max"))
    histogram = f"({kind} = 2 AND length({t}buckets) = length({t}bounds) + 1)"
    mids = histogram_midpoints_sql(t)
    eligible = (
        f"({kind} = 1 AND {mn} = {mx} AND abs({value} - {mn} * {count}) <= 1e-9 * abs({value}))"
    )
    keys = (
        f"multiIf({kind} = 0, [{key_sql(value)}],"
        f" {histogram}, arrayMap(x -> {key_sql('x')}, {mids}),"
        f" {eligible}, [{key_sql(mn)}], CAST([], 'Array(Int32)'))"
    )
    weights = (
        f"multiIf({kind} = 0, [{count}],"
        f" {histogram}, arrayMap(b -> toFloat64(b), {t}buckets),"
        f" {eligible}, [{count}], CAST([], 'Array(Float64)'))"
    )
    return keys, weights
