"""Which stored resolution answers a metric query, and the SQL that reads it.

Levels, finest first: ``raw`` (the ``metrics`` table, every point as sent), then the
1-minute, 5-minute and 1-hour rollups. A query uses the coarsest level that answers it
exactly: the level's resolution divides the period, the (aligned) start falls on one of
its buckets, and the level still holds data at the start (its retention covers it).
Distribution statistics (percentiles, trimmed means …) are exact only over raw points, so
they read raw data while the range lies within the raw retention, and the rollups'
sketches beyond it (within 1%, see ``vigil.query.sketch``).

Every fetch returns one row per (series, period index, [unit]) with count, sum, min and max
(min/max ±inf when unknown), and for distribution statistics the points of the period:
exact ``(value, weight)`` pairs from raw rows, or the merged sketch from rollups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from vigil.query.sketch import histogram_midpoints_sql
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    resolution: int
    table: str

    @property
    def raw(self) -> bool:
        return self.name == "raw"


RAW = Level("raw", 1, "metrics")
ROLLUPS = (
    Level("1h", 3600, "metric_rollup_1h"),
    Level("5m", 300, "metric_rollup_5m"),
    Level("1m", 60, "metric_rollup_1m"),
)


def choose_level(
    retention: MetricRetention, period: int, start: int, now: int, distribution: bool
) -> Level:
    """The level that answers a query of ``period`` seconds from ``start`` (epoch s)."""
    if distribution and start >= now - retention.raw:
        return RAW
    usable = [lv for lv in ROLLUPS if period % lv.resolution == 0 and start % lv.resolution == 0]
    for level in usable:
        if start >= now - retention.of(level.name):
            return level
    if start >= now - retention.raw or not usable:
        return RAW
    return usable[0]


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """Where a series' rows are: enough of the sort key to read only them."""

    namespace: str
    name: str
    series_id: int


def _where(
    tenant: str, refs: list[SeriesRef], start: int, end: int, unit: str | None, level: Level
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "tenant": tenant,
        "start": start,
        "end": end,
        "ids": sorted({r.series_id for r in refs}),
    }
    metrics = sorted({(r.namespace, r.name) for r in refs})
    if len(metrics) == 1:
        clauses = ["namespace = {ns:String}", "name = {name:String}"]
        params.update(ns=metrics[0][0], name=metrics[0][1])
    else:
        clauses = ["(namespace, name) IN {metrics:Array(Tuple(String, String))}"]
        params["metrics"] = metrics
    time = (
        "timestamp >= fromUnixTimestamp64Nano({start:Int64} * 1000000000)"
        " AND timestamp < fromUnixTimestamp64Nano({end:Int64} * 1000000000)"
        if level.raw
        else "timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64})"
    )
    where = ["tenant = {tenant:String}", *clauses, "series_id IN {ids:Array(UInt64)}", time]
    if unit is not None:
        where.append("unit = {unit:String}")
        params["unit"] = unit
    return " AND ".join(where), params


_RAW_AGG = (
    "sum(count) AS c, sum(if(kind = 0, value * count, value)) AS s,"
    " min(if(kind = 0, value, if(isNaN(min), inf, min))) AS lo,"
    " max(if(kind = 0, value, if(isNaN(max), -inf, max))) AS hi"
)
_ROLLUP_AGG = "sum(count) AS c, sum(sum) AS s, min(min) AS lo, max(max) AS hi"


async def fetch_aggregates(
    store: Store,
    level: Level,
    tenant: str,
    refs: list[SeriesRef],
    period: int,
    start: int,
    end: int,
    unit: str | None = None,
    by_unit: bool = False,
) -> pa.Table:
    """Columns series_id, b (period index from ``start``), [unit], c, s, lo, hi."""
    where, params = _where(tenant, refs, start, end, unit, level)
    params["period"] = period
    bucket = "intDiv(toUnixTimestamp(timestamp) - {start:Int64}, {period:UInt32}) AS b"
    unit_col = ", toString(unit) AS unit" if by_unit else ""
    agg = _RAW_AGG if level.raw else _ROLLUP_AGG
    sql = (
        f"SELECT series_id, {bucket}{unit_col}, {agg} FROM {level.table} WHERE {where}"
        f" GROUP BY series_id, b{', unit' if by_unit else ''} ORDER BY series_id, b"
    )
    return await store.query_arrow(sql, params)


def _raw_points_sql() -> str:
    eligible = "(kind = 1 AND min = max AND abs(value - min * count) <= 1e-9 * abs(value))"
    histogram = "(kind = 2 AND length(buckets) = length(bounds) + 1)"
    mids = histogram_midpoints_sql()
    return (
        f"multiIf(kind = 0, [(value, count)],"
        f" {histogram}, arrayZip({mids}, arrayMap(x -> toFloat64(x), buckets)),"
        f" {eligible}, [(min, count)], CAST([], 'Array(Tuple(Float64, Float64))'))"
    )


async def fetch_distributions(
    store: Store,
    level: Level,
    tenant: str,
    refs: list[SeriesRef],
    period: int,
    start: int,
    end: int,
    unit: str | None = None,
    by_unit: bool = False,
) -> list[dict[str, Any]]:
    """Per series and period: c, s, lo, hi and ``points`` — a list of (value, weight) —
    plus ``complete`` (False when some data cannot take part, e.g. a statistic set with
    unequal values)."""
    where, params = _where(tenant, refs, start, end, unit, level)
    params["period"] = period
    bucket = "intDiv(toUnixTimestamp(timestamp) - {start:Int64}, {period:UInt32}) AS b"
    unit_col = ", toString(unit) AS unit" if by_unit else ""
    group = f"series_id, b{', unit' if by_unit else ''}"
    if level.raw:
        sql = (
            f"SELECT series_id, {bucket}{unit_col}, {_RAW_AGG},"
            f" groupArrayArray({_raw_points_sql()}) AS points"
            f" FROM {level.table} WHERE {where} GROUP BY {group} ORDER BY {group}"
        )
    else:
        sql = (
            f"SELECT series_id, {bucket}{unit_col}, {_ROLLUP_AGG}, sumMap(sketch) AS sk"
            f" FROM {level.table} WHERE {where} GROUP BY {group} ORDER BY {group}"
        )
    rows = (await store.query(sql, params)).dicts()
    for row in rows:
        if level.raw:
            points = row["points"]
            row["values"] = [float(p[0]) for p in points]
            row["weights"] = [float(p[1]) for p in points]
            row["sketch"] = False
        else:
            keys, weights = row.pop("sk")
            row["keys"], row["weights"] = list(keys), [float(w) for w in weights]
            row["sketch"] = True
        row["complete"] = sum(row["weights"]) >= row["c"] * (1 - 1e-9)
    return rows


_PER_SERIES = {
    "SampleCount": "c",
    "Sum": "s",
    "Average": "s / c",
    "Minimum": "lo",
    "Maximum": "hi",
}
_ACROSS = {"SUM": "sum", "AVG": "avg", "MIN": "min", "MAX": "max"}


async def fetch_across(
    store: Store,
    level: Level,
    tenant: str,
    refs: list[SeriesRef],
    period: int,
    start: int,
    end: int,
    aggregate: str,
    function: str,
) -> pa.Table:
    """One aggregate statistic per series and period, then ``function`` across the series
    that have a value in each period: columns b, v. Runs entirely in the store."""
    where, params = _where(tenant, refs, start, end, None, level)
    params["period"] = period
    bucket = "intDiv(toUnixTimestamp(timestamp) - {start:Int64}, {period:UInt32}) AS b"
    agg = _RAW_AGG if level.raw else _ROLLUP_AGG
    sql = (
        f"SELECT b, {_ACROSS[function]}(x) AS v FROM ("
        f" SELECT b, c, {_PER_SERIES[aggregate]} AS x FROM ("
        f"  SELECT series_id, {bucket}, {agg} FROM {level.table} WHERE {where}"
        "   GROUP BY series_id, b)"
        ") WHERE isFinite(x) AND c > 0 GROUP BY b ORDER BY b"
    )
    return await store.query_arrow(sql, params)
