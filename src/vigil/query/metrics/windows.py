"""The public metric call: one statistic over N periods ending at t (what an alarm
evaluates), alone or for many alarms at once.

Contract:

* A ``Window`` is a ``MetricStat`` (namespace, name, exact dimensions, a CloudWatch
  statistic — ``Average`` … ``SampleCount`` or an extended one such as ``p99``, ``tm90``,
  ``TM(10%:90%)``, ``PR(:300)`` — and an optional unit), a period in seconds, a number of
  periods and an end (epoch seconds, exclusive). Its periods are
  ``[end - periods·period + j·period, … + period)`` for ``j = 0 … periods - 1``; the end is
  not aligned: give one on the period's (or the minute's) boundary so that rollups answer.
* The answer is one ``Datapoint`` per period, oldest first, always ``periods`` of them:
  the period's start, its value (``None`` when the period has no data, or the statistic
  has no value over its data) and the number of samples in it (0 without data).
* Values are those GetMetricData gives for the same metric, statistic, unit and period
  grid: the same level choice (``levels.choose_level`` with the reader's clock), the same
  statistic code (``vigil.query.metrics.statistics``); without a unit, data of every unit counts,
  with one, only data stored with that unit.
* An invalid period or statistic raises ``QueryError`` (InvalidParameterValue); a metric
  without stored series answers periods without data.
* ``statistic_windows`` answers one window (two store round trips: the series, then its
  data); ``statistic_windows_batch`` answers any number of windows in one SQL statement,
  with the same values as one-by-one calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.query.metrics import windows_batch
from vigil.query.metrics.fetch import Fetch, Vector, statistic_grid
from vigil.query.metrics.series import exact_series
from vigil.query.metrics.spec import MetricSpec, QueryError, check_period, check_stat
from vigil.query.metrics.statistics import Statistic


@dataclass(frozen=True, slots=True)
class MetricStat:
    metric: MetricSpec
    statistic: str  # Statistic or ExtendedStatistic, as CloudWatch spells it
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    stat: MetricStat
    period: int  # seconds
    periods: int
    end: int  # epoch seconds, exclusive

    @property
    def start(self) -> int:
        return self.end - self.periods * self.period


@dataclass(frozen=True, slots=True)
class Datapoint:
    timestamp: int  # the period's start, epoch seconds
    value: float | None
    sample_count: float


async def statistic_windows(
    f: Fetch, stat: MetricStat, period: int, periods: int, end: int
) -> list[Datapoint]:
    """One statistic of one metric over ``periods`` periods ending at ``end``."""
    window = Window(stat, period, periods, end)
    parsed = check_window(window)
    found = await exact_series(f.store, f.tenant, stat.metric)
    if found is None:
        return empty(window)
    ref = found[0]
    grids = await statistic_grid(f, [ref], parsed, period, window.start, end, stat.unit)
    values, counts = grids[ref.series_id]
    return datapoints(window, values, counts)


async def statistic_windows_batch(f: Fetch, windows: Sequence[Window]) -> list[list[Datapoint]]:
    """The datapoints of each window, in the windows' order, from one SQL statement."""
    parsed = [check_window(w) for w in windows]
    grids = await windows_batch.fetch(f, windows, parsed)
    return [datapoints(w, *g) for w, g in zip(windows, grids, strict=True)]


def check_window(window: Window) -> Statistic:
    check_period(window.period)
    if window.periods < 1:
        raise QueryError(
            "InvalidParameterValue",
            f"The number of periods must be at least 1, not {window.periods}.",
        )
    return check_stat(window.stat.statistic)


def empty(window: Window) -> list[Datapoint]:
    return [Datapoint(window.start + j * window.period, None, 0.0) for j in range(window.periods)]


def datapoints(
    window: Window,
    values: Vector,
    counts: Vector,
) -> list[Datapoint]:
    start, period = window.start, window.period
    return [
        Datapoint(start + j * period, None if v != v else v, c)
        for j, (v, c) in enumerate(zip(values.tolist(), counts.tolist(), strict=True))
    ]
