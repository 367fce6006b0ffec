"""Cumulative → delta conversion, per OTLP stream (resource, scope, name, attributes).

Rules (README "Model and mapping"):
* The first point of a stream counts in full when the stream started (its start time)
  after the converter did: nothing of it can have been missed. Otherwise (an unknown or
  earlier start) it only sets the baseline and stores nothing.
* Later points store ``value - previous`` over (previous time, time].
* A reset starts again from zero: when the start time changes to one at or after the
  previous point's time, or the value goes down, the new value itself is the delta (the
  counter restarted from 0 and counted that much since). A start time that moves backwards
  sets a new baseline instead.
* A point not newer than the previous one of its stream is refused (a duplicate or late).
* Histograms: count, sum and every bucket are differenced. An exponential histogram whose
  scale went down (its range grew) is differenced after the previous point is downscaled
  into the new buckets (``exponential.previous_in``). Anything else that cannot continue the
  previous point is a reset, like a counter's: the count went down, a bucket went down,
  explicit bounds changed, an exponential scale went up: the point itself is stored as
  the delta (Prometheus' counter-reset rule for native histograms, which treats changed
  custom bounds and a finer schema as resets; nothing is dropped, where the collector's
  ``cumulativetodelta`` drops such a point). min and max of a cumulative histogram do not
  survive differencing and are stored as NaN.

State lives in memory; converted sum rows keep the cumulative value and start time, so
after a restart ``prime`` reloads each stream's last state from the store and conversion
goes on exactly. Not thread-safe: the pipeline calls it from the event loop only.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from vigil.ingest.interface import CumulativePoint, Rejections
from vigil.ingest.otlp.exponential import Exponential, previous_in
from vigil.model.metrics import MetricColumns, PointKind


@dataclass(slots=True)
class StreamState:
    start_time: int
    timestamp: int
    value: float
    count: float = 0.0
    bounds: list[float] | None = None
    buckets: list[int] | None = None
    exponential: Exponential | None = None


class CumulativeConverter:
    def __init__(self, started_ns: int, max_streams: int = 1_000_000) -> None:
        self._states: OrderedDict[int, StreamState] = OrderedDict()
        self._max_streams = max_streams
        self._started_ns = started_ns

    def __len__(self) -> int:
        return len(self._states)

    def unknown(self, points: list[CumulativePoint]) -> list[CumulativePoint]:
        """Sum points whose stream has no state in memory (candidates for ``prime``)."""
        return [p for p in points if p.bounds is None and p.stream_id not in self._states]

    def prime(self, states: dict[int, StreamState]) -> None:
        for stream_id, state in states.items():
            self._states.setdefault(stream_id, state)

    def forget(self, stream_ids: list[int]) -> None:
        """Drop state (after a failed commit), so that it is reloaded from the store."""
        for stream_id in stream_ids:
            self._states.pop(stream_id, None)

    def convert(
        self, points: list[CumulativePoint], out: MetricColumns, rejected: Rejections
    ) -> None:
        for point in points:
            previous = self._states.get(point.stream_id)
            if previous is not None and point.timestamp <= previous.timestamp:
                rejected.add(
                    f"metric {point.name!r}: cumulative point at {point.timestamp} is not newer"
                    f" than the previous one of its stream ({previous.timestamp})"
                )
                continue
            self._remember(point)
            if previous is None:
                if not point.start_time or point.start_time < self._started_ns:
                    continue
                previous = _ZERO
            if point.bounds is None:
                _sum_delta(point, previous, out)
            else:
                _histogram_delta(point, previous, out)

    def _remember(self, point: CumulativePoint) -> None:
        self._states[point.stream_id] = StreamState(
            point.start_time,
            point.timestamp,
            point.value,
            point.count,
            point.bounds,
            point.buckets,
            point.exponential,
        )
        self._states.move_to_end(point.stream_id)
        while len(self._states) > self._max_streams:
            self._states.popitem(last=False)


# The state of a stream that started after the converter: it counted from zero.
_ZERO = StreamState(start_time=0, timestamp=0, value=0.0)


def _restarted(point: CumulativePoint, previous: StreamState) -> bool | None:
    """True: counting restarted from 0; None: a baseline only; False: same run."""
    if point.start_time and previous.start_time and point.start_time != previous.start_time:
        return True if point.start_time >= previous.timestamp else None
    return False


def _sum_delta(point: CumulativePoint, previous: StreamState, out: MetricColumns) -> None:
    restarted = _restarted(point, previous)
    if restarted is None:
        return
    if restarted or point.value < previous.value:
        delta = point.value
    else:
        delta = point.value - previous.value
    out.add(
        tenant=point.tenant,
        namespace=point.namespace,
        name=point.name,
        dimensions=point.dimensions,
        unit=point.unit,
        timestamp=point.timestamp,
        start_time=point.start_time,
        kind=PointKind.SAMPLE,
        value=delta,
        metric_type="sum",
        stream_id=point.stream_id,
        cumulative=point.value,
    )


def _previous_buckets(point: CumulativePoint, previous: StreamState) -> list[int] | None:
    """The previous point's bucket counts in the point's buckets; None: not comparable."""
    assert point.buckets is not None
    if previous is _ZERO:
        return [0] * len(point.buckets)
    if point.exponential is not None and previous.exponential is not None:
        return previous_in(point.exponential, previous.exponential)
    if (
        point.exponential is not None
        or previous.exponential is not None
        or point.bounds != previous.bounds
        or previous.buckets is None
        or len(previous.buckets) != len(point.buckets)
    ):
        return None
    return previous.buckets


def _histogram_delta(point: CumulativePoint, previous: StreamState, out: MetricColumns) -> None:
    restarted = _restarted(point, previous)
    if restarted is None:
        return
    assert point.buckets is not None
    old_buckets = _previous_buckets(point, previous)
    if restarted or old_buckets is None or point.count < previous.count:
        count, total, buckets = point.count, point.value, list(point.buckets)
    else:
        count = point.count - previous.count
        total = point.value - previous.value
        buckets = [a - b for a, b in zip(point.buckets, old_buckets, strict=True)]
        if any(b < 0 for b in buckets):
            count, total, buckets = point.count, point.value, list(point.buckets)
    out.add(
        tenant=point.tenant,
        namespace=point.namespace,
        name=point.name,
        dimensions=point.dimensions,
        unit=point.unit,
        timestamp=point.timestamp,
        start_time=point.start_time,
        kind=PointKind.HISTOGRAM if point.bounds or point.buckets else PointKind.STATS,
        value=total,
        count=count,
        min=math.nan,
        max=math.nan,
        bounds=point.bounds,
        buckets=buckets,
        metric_type="histogram",
    )
