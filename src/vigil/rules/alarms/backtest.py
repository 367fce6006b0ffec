"""What an alarm would have done: its definition replayed over stored data (a backtest).

``replay(alarm, start, end, query, step)`` is pure: the evaluator (``evaluate.evaluate``)
runs at every evaluation time in ``[start, end]`` (on the alarm's cadence, as the engine
does: every minute, every 10 s for high-resolution periods), from INSUFFICIENT_DATA at
``start`` — as if the alarm had been created then — and the transitions come out, each
with CloudWatch's reason. Nothing is written, nothing is sent.

``load(reader, alarm, start, end)`` is the I/O half: it fetches, once, every window the
replay will ask for. A window of period P ending at t reads the periods of the grid
``t mod P``; the replay's times fall on at most P / step such grids, so each grid is one
store read over the whole range (a 5-minute alarm over 7 days: 5 reads, not 10,080).
Periods longer than an hour are evaluated every P / 60 seconds or so (at most
``MAX_GRIDS`` grids): their transitions may show up to that step later than the engine
would have made them. An anomaly-band alarm's model is trained as the engine trains it
(the 14 days before), once per replayed day, on what was stored before that day.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vigil.rules.alarms import anomaly
from vigil.rules.alarms.evaluate import EXTRA_PERIODS, cadence, evaluate
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import Datapoints, Floats, Window, WindowQuery
from vigil.rules.alarms.model import AlarmState, MetricAlarm
from vigil.rules.alarms.spec import band_call

MAX_GRIDS = 60
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Change:
    at: int  # epoch seconds of the evaluation that made it
    old: str
    new: str
    reason: str


@dataclass(slots=True)
class Replay:
    changes: list[Change] = field(default_factory=list)
    evaluations: int = 0
    final: str = "INSUFFICIENT_DATA"


def evaluation_step(period: int) -> int:
    """Seconds between replayed evaluations: the engine's cadence, coarser when a period
    would need more than ``MAX_GRIDS`` grids (the step always divides the period)."""
    step = cadence(period)
    while period // step > MAX_GRIDS or period % step:
        step += cadence(period)
        if step >= period:
            return period
    return step


def times(period: int, start: int, end: int) -> range:
    """The evaluation times in ``[start, end]``, on the step's boundaries."""
    step = evaluation_step(period)
    first = start + (-start) % step
    return range(first, end + 1, step)


def replay(
    alarm: MetricAlarm, start: int, end: int, query: WindowQuery, initial: AlarmState | None = None
) -> Replay:
    state = initial.copy() if initial is not None else AlarmState(updated_ms=start * 1000)
    out = Replay(final=state.value)
    for t in times(alarm.period, start, end):
        out.evaluations += 1
        state, events = evaluate(alarm, state, t, query)
        for e in events:
            out.changes.append(Change(t, e.old_state, e.new_state, e.reason))
    out.final = state.value
    return out


@dataclass(slots=True)
class _Grid:
    end: int  # exclusive end of the grid's last period
    values: Floats
    samples: Floats | None = None
    lower: Floats | None = None
    upper: Floats | None = None


class GridQuery:
    """A ``WindowQuery`` over grids fetched in advance (one per ``end mod period``)."""

    def __init__(self, period: int, grids: dict[int, _Grid], unit: str | None = None) -> None:
        self.period = period
        self.grids = grids
        self.unit = unit

    def __call__(self, alarm: MetricAlarm, window: Window) -> Datapoints:
        grid = self.grids.get(window.end % self.period)
        stamps = window.stamps()
        if grid is None:
            return Datapoints(stamps, np.full(window.count, math.nan), error="no data")
        last = len(grid.values) - (grid.end - window.end) // self.period
        first = last - window.count
        if first < 0 or last > len(grid.values):
            return Datapoints(stamps, np.full(window.count, math.nan), error="out of range")

        def cut(a: Floats | None) -> Floats | None:
            return None if a is None else a[first:last]

        return Datapoints(
            stamps,
            grid.values[first:last],
            cut(grid.samples),
            cut(grid.lower),
            cut(grid.upper),
            unit=self.unit,
        )

    def series(self) -> tuple[list[int], Floats, Floats | None, Floats | None]:
        """The epoch-aligned grid (periods starting at multiples of the period), for a
        graph: period starts, values, band."""
        grid = self.grids.get(0) or next(iter(self.grids.values()))
        count = len(grid.values)
        stamps = [grid.end - (count - i) * self.period for i in range(count)]
        return stamps, grid.values, grid.lower, grid.upper


async def load(reader: MetricReader, alarm: MetricAlarm, start: int, end: int) -> GridQuery:
    """Every window ``replay`` will read, in one store read per grid."""
    period = alarm.period
    ts = times(period, start, end)
    grids: dict[int, _Grid] = {}
    offsets = sorted({t % period for t in ts[: period // evaluation_step(period) + 1]})
    if 0 not in offsets:
        offsets.insert(0, 0)  # the graph's grid
    lead = (alarm.evaluation_periods + EXTRA_PERIODS) * period
    for offset in offsets:
        grid_end = end - ((end - offset) % period)
        count = (grid_end - (start - lead)) // period + 1
        window = Window(grid_end, period, max(count, 1))
        grids[offset] = await _grid(reader, alarm, window)
    return GridQuery(period, grids, alarm.unit)


async def _grid(reader: MetricReader, alarm: MetricAlarm, window: Window) -> _Grid:
    tenant = alarm.tenant
    if alarm.metric is not None:
        ids = await reader.series_ids(tenant, [alarm.metric])
        ref = ids.get(alarm.metric)
        if ref is None:
            return _Grid(window.end, np.full(window.count, math.nan))
        stat = alarm.statistic or "Average"
        values = (await reader.windows(tenant, [ref], stat, window.period, alarm.unit, window))[
            ref.series_id
        ]
        samples = None
        if alarm.evaluate_low_sample_count_percentile == "ignore":
            counts = await reader.windows(
                tenant, [ref], "SampleCount", window.period, alarm.unit, window
            )
            samples = np.nan_to_num(counts[ref.series_id])
        return _Grid(window.end, values, samples)
    ret = alarm.return_query()
    if ret is None:
        return _Grid(window.end, np.full(window.count, math.nan))
    values = (await reader.math(tenant, alarm.metrics, [ret.id], window))[ret.id]
    lower = upper = None
    if alarm.threshold_metric_id:
        lower, upper = await _band(reader, alarm, window)
    return _Grid(window.end, values, None, lower, upper)


async def _band(reader: MetricReader, alarm: MetricAlarm, window: Window) -> tuple[Floats, Floats]:
    """The band on the window's grid: a model per day of the window, trained (as the
    engine trains one) on the 14 days of data before that day."""
    lower = np.full(window.count, math.nan)
    upper = np.full(window.count, math.nan)
    by_id = {q.id: q for q in alarm.metrics}
    band_query = by_id.get(alarm.threshold_metric_id or "")
    call = band_call(band_query.expression or "") if band_query is not None else None
    if call is None or call[0] not in by_id:
        return lower, upper
    source, width = call
    queries = [q for q in alarm.metrics if q.id != alarm.threshold_metric_id]
    stamps = np.asarray(window.stamps(), dtype=np.int64)
    period = window.period
    day_start = window.start - window.start % DAY
    while day_start < window.end:
        inside = (stamps >= day_start) & (stamps < day_start + DAY)
        if inside.any():
            history = Window(
                day_start - day_start % period, period, anomaly.TRAINING_DAYS * DAY // period
            )
            data = (await reader.math(alarm.tenant, queries, [source], history))[source]
            model = await _train(history.stamps(), data, period)
            if model is not None:
                low, high = model.band(_list(stamps[inside]), width)
                lower[inside], upper[inside] = low, high
        day_start += DAY
    return lower, upper


async def _train(stamps: list[int], values: Floats, period: int) -> anomaly.AnomalyModel | None:
    return await asyncio.to_thread(anomaly.train, stamps, values, period)


def _list(a: np.ndarray) -> Sequence[int]:
    return [int(x) for x in a]
