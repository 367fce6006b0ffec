"""OTLP exponential histogram buckets: their explicit form, and an earlier cumulative point
of the same stream brought into a later one's buckets.

Explicit form (what the store keeps, ``bounds``/``buckets``): every cell, in increasing order
of its values, with both edges — negative bucket ``i`` is ``[-base**(i+1), -base**i)``, the
zero cell ``[-zero_threshold, zero_threshold]`` (kept when it counts something or there are
no negative buckets), positive bucket ``i`` is ``(base**i, base**(i+1)]`` with
``base = 2**(2**-scale)``. The bucket below the lowest edge and the one above the highest
(``+Inf``) are empty, so a row answers "how many observations ≤ b" exactly for any ``b``
outside its range; that is what lets rows whose range moved be summed per ``le``
(``query.promql.histograms``).

Alignment (``previous_in``): an SDK's cumulative exponential histogram only ever merges
buckets as its range grows — the scale goes down, the offsets and lengths change. The
earlier point is then downscaled to the later scale (index ``i`` becomes ``i >> d``, two
buckets per step merge) and its counts land in the later point's cells, so the difference
is well defined. A later point with a finer scale or a smaller zero threshold, or one
missing a cell the earlier point counted in, cannot come from the same run: not aligned (the
caller treats it as a reset, as Prometheus' counter-reset detection for native histograms
does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint

# A cell: ("n", index), ("z", 0) or ("p", index); None for the two empty edge buckets.
Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Exponential:
    scale: int
    zero_threshold: float
    zero_count: int
    positive_offset: int
    positive: tuple[int, ...]
    negative_offset: int
    negative: tuple[int, ...]

    @classmethod
    def of(cls, point: ExponentialHistogramDataPoint) -> Exponential:
        return cls(
            point.scale,
            point.zero_threshold,
            point.zero_count,
            point.positive.offset,
            tuple(point.positive.bucket_counts),
            point.negative.offset,
            tuple(point.negative.bucket_counts),
        )


def layout(h: Exponential) -> tuple[list[float], list[int], list[Key | None]]:
    """(bounds, buckets, the cell of each bucket) of the explicit form; ``OverflowError``
    when an edge does not fit a float."""
    base = 2.0 ** (2.0**-h.scale)
    bounds: list[float] = []
    buckets: list[int] = []
    keys: list[Key | None] = []
    if h.negative:
        # The empty bucket below the lowest negative bucket's lower edge.
        bounds.append(-(base ** (h.negative_offset + len(h.negative))))
        buckets.append(0)
        keys.append(None)
        for i in reversed(range(len(h.negative))):
            bounds.append(-(base ** (h.negative_offset + i)))
            buckets.append(h.negative[i])
            keys.append(("n", h.negative_offset + i))
    if h.zero_count or not h.negative:
        bounds.append(h.zero_threshold)
        buckets.append(h.zero_count)
        keys.append(("z", 0))
    for i, count in enumerate(h.positive):
        bounds.append(base ** (h.positive_offset + i + 1))
        buckets.append(count)
        keys.append(("p", h.positive_offset + i))
    buckets.append(0)  # +Inf: above the highest edge
    keys.append(None)
    if any(not math.isfinite(b) for b in bounds):
        raise OverflowError("exponential histogram bucket edge overflows")
    return bounds, buckets, keys


def previous_in(current: Exponential, previous: Exponential) -> list[int] | None:
    """The earlier point's counts in the later one's explicit buckets (``layout(current)``),
    or None when the later point cannot continue the earlier one."""
    if current.scale > previous.scale or current.zero_threshold < previous.zero_threshold:
        return None
    shift = previous.scale - current.scale
    base = 2.0 ** (2.0**-current.scale)
    counts: dict[Key, int] = {("z", 0): previous.zero_count}
    for sign, offset, cells in (
        ("p", previous.positive_offset, previous.positive),
        ("n", previous.negative_offset, previous.negative),
    ):
        for i, count in enumerate(cells):
            if not count:
                continue
            index = (offset + i) >> shift
            # A wider zero threshold took in the buckets wholly inside it.
            if current.zero_threshold and base ** (index + 1) <= current.zero_threshold:
                key: Key = ("z", 0)
            else:
                key = (sign, index)
            counts[key] = counts.get(key, 0) + count
    _, _, keys = layout(current)
    where = {k: n for n, k in enumerate(keys) if k is not None}
    out = [0] * len(keys)
    for key, count in counts.items():
        if not count:
            continue
        if key not in where:
            return None
        out[where[key]] += count
    return out
