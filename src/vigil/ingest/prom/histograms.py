"""Native histograms → classic ``_count``, ``_sum`` and cumulative ``_bucket{le}`` series.

Why the classic expansion rather than vigil's HISTOGRAM rows: vigil's histogram rows are
per-period distributions (OTLP deltas), while a Prometheus histogram is cumulative since
its last reset, like a counter; expanding it keeps the one rule of the mapping (values as
sent, so ``rate()`` and ``histogram_quantile(rate(x_bucket[5m]))`` work over it) and the
PromQL side needs only classic histograms. The cost: one row per populated bucket per
sample, and Prometheus' native-histogram functions (``histogram_count(x)``, quantiles on
``x`` itself) are not available — query ``x_bucket`` instead.

Bucket boundaries: exponential schemas (-4..8) give bucket ``i`` the upper bound
``2**(i * 2**-schema)`` (negative buckets mirror it, the zero bucket's bound is the zero
threshold); schema -53 (custom buckets) takes ``custom_values[i]`` (+Inf past the end).
Integer histograms carry deltas between consecutive buckets, float histograms absolute
counts; both are accumulated into ``le`` counts in increasing order of the bound, and the
``le="+Inf"`` bucket is the histogram's count.
"""

from __future__ import annotations

import math
from typing import Any

CUSTOM_BUCKETS_SCHEMA = -53


class HistogramError(ValueError):
    pass


def format_le(bound: float) -> str:
    """Prometheus' rendering of a bound: ``+Inf``, ``1``, ``0.25``, ``1e-05``."""
    if math.isinf(bound):
        return "+Inf" if bound > 0 else "-Inf"
    if bound == int(bound) and abs(bound) < 1e15:
        return str(int(bound))
    return repr(bound)


def _buckets(spans: Any, deltas: Any, counts: Any) -> list[tuple[int, float]]:
    """(bucket index, count) from spans plus deltas (integer) or counts (float)."""
    indexes: list[int] = []
    index = 0
    for span in spans:
        index += span.offset  # the first from 0, each next from the end of the last
        for _ in range(span.length):
            indexes.append(index)
            index += 1
    if deltas:
        if len(deltas) != len(indexes):
            raise HistogramError("bucket deltas do not match the bucket spans")
        values: list[float] = []
        running = 0
        for d in deltas:
            running += d
            if running < 0:
                raise HistogramError("a bucket count is negative")
            values.append(float(running))
    else:
        values = list(counts)
        if len(values) != len(indexes):
            raise HistogramError("bucket counts do not match the bucket spans")
    return list(zip(indexes, values, strict=True))


def expand(h: Any) -> tuple[float, float, list[tuple[str, float]]]:
    """(count, sum, [(le, cumulative count)]) of one native histogram sample."""
    count = float(h.count_float) if h.WhichOneof("count") == "count_float" else float(h.count_int)
    zero = (
        float(h.zero_count_float)
        if h.WhichOneof("zero_count") == "zero_count_float"
        else float(h.zero_count_int)
    )
    schema = h.schema
    positive = _buckets(h.positive_spans, h.positive_deltas, h.positive_counts)
    negative = _buckets(h.negative_spans, h.negative_deltas, h.negative_counts)
    out: list[tuple[str, float]] = []
    running = 0.0
    if schema == CUSTOM_BUCKETS_SCHEMA:
        bounds = list(h.custom_values)
        for index, c in positive:
            if index < 0 or index > len(bounds):
                raise HistogramError("a custom bucket index is out of range")
            running += c
            if index < len(bounds):
                out.append((format_le(bounds[index]), running))
    else:
        if not -4 <= schema <= 8:
            raise HistogramError(f"native histogram schema {schema} is not in -4..8")
        factor = 2.0**-schema
        try:
            for index, c in sorted(negative, reverse=True):
                running += c
                out.append((format_le(-(2.0 ** ((index - 1) * factor))), running))
            if zero or negative:
                running += zero
                out.append((format_le(h.zero_threshold), running))
            for index, c in positive:
                running += c
                out.append((format_le(2.0 ** (index * factor)), running))
        except OverflowError:
            raise HistogramError("a bucket bound overflows") from None
    out.append(("+Inf", count))
    return count, float(h.sum), out
