"""Running a Metrics Insights query over the store: the matching series (SQL over
``metric_series``, see ``compile``), their counts, sums, minima and maxima per period
(``levels.fetch_aggregates``, the level that answers the period), merged per group.

The function aggregates the *observations* of a period across the group's series, as
CloudWatch defines it: AVG is the sum of the values over their count (not a mean of
per-series means), COUNT the number of observations, SUM, MIN and MAX over all of them.

Limits, as CloudWatch documents them (the Messages name the codes it answers):

* a query looks at the last 14 days at most (older periods are left out,
  ``MaxQueryTimeRangeExceeded``);
* it processes the first 10,000 matching metrics (in series order,
  ``MaxMatchingResultsExceeded``);
* it returns at most 500 series: the first 500 in the ORDER BY order when there is one
  (``MaxQueryResultsExceeded`` when more groups had data and no LIMIT was given);
* high-resolution data is aggregated at one minute: a period under 60 s is read as 60 s.

Order without ORDER BY: by the GROUP BY label values, ascending. ORDER BY FUNCTION()
orders by that function over each result series' data points (e.g. MAX(): its largest
data point), ties by label. A series lacking a GROUP BY label is grouped under ``Other``.
Labels: the group's label values joined by a space; without GROUP BY, one series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.query.metricmath.series import Series, Value, grid
from vigil.query.metrics import levels
from vigil.query.metrics.fetch import Fetch, aggregate_vectors
from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.spec import align_start
from vigil.query.metricsinsights.compile import series_sql
from vigil.query.metricsinsights.syntax import Query

MAX_RANGE = 14 * 86400
MAX_METRICS = 10_000
MAX_SERIES = 500
OTHER = "Other"

STATISTIC = {
    "AVG": "Average",
    "COUNT": "SampleCount",
    "SUM": "Sum",
    "MIN": "Minimum",
    "MAX": "Maximum",
}
_SCALAR: dict[str, Callable[[Any], Any]] = {
    "AVG": np.mean,
    "COUNT": len,
    "SUM": np.sum,
    "MIN": np.min,
    "MAX": np.max,
}

MESSAGES = {
    "MaxQueryTimeRangeExceeded": "Metrics Insights queries read at most the last 14 days:"
    " older data was left out",
    "MaxMatchingResultsExceeded": "The query matched more than 10000 metrics: only the first"
    " 10000 were processed",
    "MaxQueryResultsExceeded": "Only the first 500 time series can be returned by a query",
}


@dataclass(slots=True)
class Outcome:
    value: Value
    messages: list[dict[str, str]] = field(default_factory=list)

    def note(self, code: str) -> None:
        self.messages.append({"Code": code, "Value": MESSAGES[code]})


async def evaluate(query: Query, f: Fetch, start: int, end: int, period: int) -> Outcome:
    """The query's series on the period grid: one ``Series`` without GROUP BY, else a
    list (ordered, limited). ``start``/``end``: the request's, epoch seconds."""
    out = Outcome([])
    period = max(period, 60)
    if start < f.now - MAX_RANGE:
        out.note("MaxQueryTimeRangeExceeded")
        start = f.now - MAX_RANGE
    start = align_start(start, f.now, period)
    stamps = grid(start, end, period)
    sql, params = series_sql(query, f.tenant, start, MAX_METRICS + 1)
    rows = (await f.store.query(sql, params)).rows
    if len(rows) > MAX_METRICS:
        out.note("MaxMatchingResultsExceeded")
        rows = rows[:MAX_METRICS]
    keys: dict[tuple[str, ...], int] = {}
    group_of: dict[int, int] = {}
    for sid, labels in rows:
        key = tuple(OTHER if v is None else str(v) for v in labels)
        group_of[int(sid)] = keys.setdefault(key, len(keys))
    values = await _merge(query, f, rows, group_of, len(keys), period, start, end, len(stamps))
    meta_base: dict[str, Any] = {"Namespace": query.namespace, "MetricName": query.metric}
    meta_base |= {"Stat": STATISTIC[query.function], "Period": period}
    if not query.group_by:
        merged = values[0] if len(keys) else np.full(len(stamps), np.nan)
        out.value = Series(stamps, merged, period, query.metric, {**meta_base, "Dimensions": {}})
        return out
    found: list[Series] = []
    for key, index in keys.items():
        row = values[index]
        if not np.any(~np.isnan(row)):
            continue
        dims = dict(zip(query.group_by, key, strict=True))
        found.append(Series(stamps, row, period, " ".join(key), {**meta_base, "Dimensions": dims}))
    found = _ordered(query, found)
    limit = query.limit or MAX_SERIES
    if len(found) > MAX_SERIES and query.limit is None:
        out.note("MaxQueryResultsExceeded")
    out.value = found[:limit]
    return out


async def _merge(
    query: Query,
    f: Fetch,
    rows: Sequence[Sequence[Any]],
    group_of: dict[int, int],
    groups: int,
    period: int,
    start: int,
    end: int,
    width: int,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """groups × periods: the function over the observations of each group's series."""
    if not groups or not width:
        return np.full((groups, width), np.nan)
    refs = [SeriesRef(query.namespace, query.metric, int(sid)) for sid, _ in rows]
    level = levels.choose_level(f.retention, period, start, f.now, False)
    table = await levels.fetch_grouped(
        f.store, level, f.tenant, refs, [group_of[r.series_id] for r in refs], period, start, end
    )
    g = table.column("g").to_numpy().astype(np.int64)
    b = table.column("b").to_numpy().astype(np.int64)
    names = ("gc", "gs", "glo", "ghi")
    c, s, lo, hi = (table.column(n).to_numpy().astype(np.float64) for n in names)
    keep = (b >= 0) & (b < width)
    size = groups * width
    count, total = np.zeros(size), np.zeros(size)
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    cell = g[keep] * width + b[keep]
    count[cell], total[cell], low[cell], high[cell] = c[keep], s[keep], lo[keep], hi[keep]
    merged = aggregate_vectors(STATISTIC[query.function], count, total, low, high)
    return merged.reshape(groups, width)


def _ordered(query: Query, found: list[Series]) -> list[Series]:
    if query.order_function is None:
        return sorted(found, key=lambda s: tuple(s.meta["Dimensions"].values()))
    scalar = _SCALAR[query.order_function]

    def rank(s: Series) -> float:
        return float(scalar(s.values[s.present]))

    ranked = sorted(found, key=lambda s: s.label)  # ties: by label, in both directions
    return sorted(ranked, key=rank, reverse=query.descending)
