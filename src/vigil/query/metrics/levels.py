"""Which stored resolution answers a metric query, and the SQL that reads it.

Levels, finest first:

* ``raw`` — the ``metrics`` table, every point as sent (high-resolution points for 3 h,
  standard-resolution ones for 15 days);
* ``1m`` — standard-resolution raw points (already one-minute data) together with the
  1-minute rollup of high-resolution points;
* ``5m`` and ``1h`` — the rollups.

A query uses the coarsest level that answers it exactly: the level's resolution divides the
period, the (aligned) start falls on one of its buckets, and the level still holds data
at the start (its retention covers it). Distribution statistics (percentiles, trimmed
means …) are exact over raw points, so they read raw data while the range lies within the
raw retention; beyond it they read the coarsest usable level, whose raw points stay exact
and whose rollup rows answer from their sketches (within 1%, see ``vigil.model.sketch``).

Every fetch returns one row per (series, period index, [unit]) with count ``c``, sum
``s``, min ``lo`` and max ``hi`` (±inf when unknown); distribution fetches add the
period's points as (value, weight) pairs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from vigil.model.sketch import histogram_midpoints_sql, value_sql
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


@dataclass(frozen=True, slots=True)
class Source:
    table: str
    raw: bool  # raw point rows (else rollup rows)
    condition: str = ""


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    resolution: int
    sources: tuple[Source, ...]

    @property
    def raw(self) -> bool:
        return self.name == "raw"


RAW = Level("raw", 1, (Source("metrics", True),))
ROLLUPS = (
    Level("1h", 3600, (Source("metric_rollup_1h", False),)),
    Level("5m", 300, (Source("metric_rollup_5m", False),)),
    Level(
        "1m",
        60,
        (Source("metrics", True, "resolution != 1"), Source("metric_rollup_1m", False)),
    ),
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


def _params(
    tenant: str, refs: list[SeriesRef], start: int, end: int, period: int, unit: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "tenant": tenant,
        "start": start,
        "end": end,
        "period": period,
        "ids": sorted({r.series_id for r in refs}),
    }
    metrics = sorted({(r.namespace, r.name) for r in refs})
    if len(metrics) == 1:
        params.update(ns=metrics[0][0], name=metrics[0][1])
    else:
        params["namespaces"] = sorted({ns for ns, _ in metrics})
        params["names"] = sorted({name for _, name in metrics})
    if unit is not None:
        params["unit"] = unit
    return params


def _where(source: Source, params: dict[str, Any]) -> str:
    if "names" in params:
        # Two lists, not one list of (namespace, name) tuples: the tuple filter cost
        # ClickHouse ~5x the scan it guards (query/promql/sql.py measured it). The lists'
        # cross product may name more metrics than asked; ``series_id`` (a hash of
        # namespace, name and dimensions) keeps exactly the asked series.
        clauses = [
            "namespace IN {namespaces:Array(String)}",
            "name IN {names:Array(String)}",
        ]
    else:
        clauses = ["namespace = {ns:String}", "name = {name:String}"]
    time = (
        "timestamp >= fromUnixTimestamp64Nano({start:Int64} * 1000000000)"
        " AND timestamp < fromUnixTimestamp64Nano({end:Int64} * 1000000000)"
        if source.raw
        else "timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64})"
    )
    where = ["tenant = {tenant:String}", *clauses, "series_id IN {ids:Array(UInt64)}", time]
    if "unit" in params:
        where.append("unit = {unit:String}")
    if source.condition:
        where.append(source.condition)
    return " AND ".join(where)


_BUCKET = "intDiv(toUnixTimestamp(timestamp) - {start:Int64}, {period:UInt32}) AS b"
# The aggregate columns of one bucket (shared with windows_batch, which builds the same
# reads for many alarms in one statement): count, sum, min, max of raw points or rollups,
# and their merge across levels.
RAW_AGG = (
    "sum(count) AS ic, sum(if(kind = 0, value * count, value)) AS is,"
    " min(if(kind = 0, value, if(isNaN(min), inf, min))) AS ilo,"
    " max(if(kind = 0, value, if(isNaN(max), -inf, max))) AS ihi"
)
ROLLUP_AGG = "sum(count) AS ic, sum(sum) AS is, min(min) AS ilo, max(max) AS ihi"
MERGE = "sum(ic) AS c, sum(is) AS s, min(ilo) AS lo, max(ihi) AS hi"


def _keys(by_unit: bool) -> tuple[str, str]:
    unit = ", toString(unit) AS unit" if by_unit else ""
    group = "series_id, b, unit" if by_unit else "series_id, b"
    return unit, group


def _aggregates_sql(level: Level, params: dict[str, Any], by_unit: bool) -> str:
    unit, group = _keys(by_unit)
    parts = [
        f"SELECT series_id, {_BUCKET}{unit}, {RAW_AGG if src.raw else ROLLUP_AGG}"
        f" FROM {src.table} WHERE {_where(src, params)} GROUP BY {group}"
        for src in level.sources
    ]
    return (
        f"SELECT {group}, {MERGE} FROM ({' UNION ALL '.join(parts)})"
        f" GROUP BY {group} ORDER BY {group}"
    )


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
    params = _params(tenant, refs, start, end, period, unit)
    return await store.query_arrow(_aggregates_sql(level, params, by_unit), params)


def raw_points_sql() -> str:
    eligible = "(kind = 1 AND min = max AND abs(value - min * count) <= 1e-9 * abs(value))"
    histogram = "(kind = 2 AND length(buckets) = length(bounds) + 1)"
    mids = histogram_midpoints_sql()
    return (
        f"multiIf(kind = 0, [(value, count)],"
        f" {histogram}, arrayZip({mids}, arrayMap(x -> toFloat64(x), buckets)),"
        f" {eligible}, [(min, count)], CAST([], 'Array(Tuple(Float64, Float64))'))"
    )


def _distribution_part(src: Source, params: dict[str, Any], by_unit: bool) -> str:
    unit, group = _keys(by_unit)
    where = _where(src, params)
    if src.raw:
        return (
            f"SELECT series_id, {_BUCKET}{unit}, {RAW_AGG},"
            f" groupArrayArray({raw_points_sql()}) AS ipts"
            f" FROM {src.table} WHERE {where} GROUP BY {group}"
        )
    values = f"arrayMap(k -> {value_sql('k')}, sk.1)"
    return (
        f"SELECT {group}, ic, is, ilo, ihi, arrayZip({values}, sk.2) AS ipts FROM ("
        f" SELECT series_id, {_BUCKET}{unit}, {ROLLUP_AGG}, sumMap(sketch) AS sk"
        f" FROM {src.table} WHERE {where} GROUP BY {group})"
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
    """Per series and period: c, s, lo, hi, ``values`` and ``weights`` (exact points from
    raw rows, bucket values from sketches) and ``complete`` (False when some data cannot
    take part, e.g. a statistic set with unequal values)."""
    params = _params(tenant, refs, start, end, period, unit)
    _, group = _keys(by_unit)
    parts = [_distribution_part(src, params, by_unit) for src in level.sources]
    sql = (
        f"SELECT {group}, {MERGE}, groupArrayArray(ipts) AS points"
        f" FROM ({' UNION ALL '.join(parts)}) GROUP BY {group} ORDER BY {group}"
    )
    table = await store.query_arrow(sql, params)
    # Arrow, not Python tuples: a 90-day percentile query moves ~10^5 points.
    points = table.column("points").combine_chunks()
    offsets = points.offsets.to_numpy()
    flat = points.flatten()
    values = flat.field(0).to_numpy(zero_copy_only=False).astype(np.float64)
    weights = flat.field(1).to_numpy(zero_copy_only=False).astype(np.float64)
    rows: list[dict[str, Any]] = table.drop_columns(["points"]).to_pylist()
    for i, row in enumerate(rows):
        row["values"] = values[offsets[i] : offsets[i + 1]]
        row["weights"] = weights[offsets[i] : offsets[i + 1]]
        row["complete"] = float(row["weights"].sum()) >= row["c"] * (1 - 1e-9)
    return rows


_PER_SERIES = {"SampleCount": "c", "Sum": "s", "Average": "s / c", "Minimum": "lo", "Maximum": "hi"}
# The same statistic over one merged rollup row.
_PER_ROW = {
    "SampleCount": "count",
    "Sum": "sum",
    "Average": "sum / count",
    "Minimum": "min",
    "Maximum": "max",
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
    single_unit: bool = False,
) -> pa.Table:
    """One aggregate statistic per series and period, then ``function`` across the series
    that have a value in each period: columns b, v. Runs entirely in the store.

    When the period is the rollup's own resolution and every series has one unit, a
    rollup read with FINAL has exactly one row per series and period, so no per-series
    grouping is needed (about 3x faster over millions of rows)."""
    params = _params(tenant, refs, start, end, period, None)
    (source,) = level.sources if len(level.sources) == 1 else (None,)
    if source is not None and not source.raw and single_unit and period == level.resolution:
        x = _PER_ROW[aggregate]
        return await store.query_arrow(
            f"SELECT {_BUCKET}, {_ACROSS[function]}({x}) AS v FROM {source.table} FINAL"
            f" WHERE {_where(source, params)} AND count > 0 AND isFinite({x})"
            " GROUP BY b ORDER BY b",
            params,
        )
    per_series = _aggregates_sql(level, params, False).rsplit(" ORDER BY ", 1)[0]
    sql = (
        f"SELECT b, {_ACROSS[function]}(x) AS v FROM ("
        f" SELECT b, c, {_PER_SERIES[aggregate]} AS x FROM ({per_series})"
        ") WHERE isFinite(x) AND c > 0 GROUP BY b ORDER BY b"
    )
    return await store.query_arrow(sql, params)


async def fetch_grouped(
    store: Store,
    level: Level,
    tenant: str,
    refs: list[SeriesRef],
    groups: list[int],
    period: int,
    start: int,
    end: int,
) -> pa.Table:
    """The series' counts, sums, minima and maxima merged per group of series and period
    (``groups[i]`` is the group of ``refs[i]``): columns g, b, gc, gs, glo, ghi. Runs in the
    store, so 10,000 series × 180 periods come back as groups × periods rows."""
    params = _params(tenant, refs, start, end, period, None)
    params["gid"] = [r.series_id for r in refs]
    params["gno"] = groups
    per_series = _aggregates_sql(level, params, False).rsplit(" ORDER BY ", 1)[0]
    sql = (
        "SELECT transform(series_id, {gid:Array(UInt64)}, {gno:Array(UInt32)}, toUInt32(0))"
        " AS g, b, sum(c) AS gc, sum(s) AS gs, min(lo) AS glo, max(hi) AS ghi"
        f" FROM ({per_series}) WHERE c > 0 GROUP BY g, b ORDER BY g, b"
    )
    return await store.query_arrow(sql, params)


# Per-row forms of the aggregate columns (what RAW_AGG / ROLLUP_AGG sum, min and max).
_ROW_COLUMNS = {
    True: {
        "c": "count",
        "s": "if(kind = 0, value * count, value)",
        "lo": "if(kind = 0, value, if(isNaN(min), inf, min))",
        "hi": "if(kind = 0, value, if(isNaN(max), -inf, max))",
    },
    False: {"c": "count", "s": "sum", "lo": "min", "hi": "max"},
}
_GROUPED = {"c": "sum(c)", "s": "sum(s)", "lo": "min(lo)", "hi": "max(hi)"}


async def fetch_aggregate_rows(
    store: Store,
    level: Level,
    tenant: str,
    refs: list[SeriesRef],
    period: int,
    start: int,
    end: int,
    unit: str | None,
    columns: tuple[str, ...],
    max_rows: int,
) -> list[pa.Table]:
    """The rows behind ``fetch_aggregates``, not merged: per source, columns series_id,
    b (Int64) and ``columns`` (of c, s, lo, hi: only those the statistic needs), for the
    caller to merge per (series, b) (sums, minima, maxima: any order gives the same).

    Why: the store's GROUP BY of (series, b) was most of a dashboard's read (480k rollup
    rows: ~450 ms grouped, ~30 ms read as they are). Rollup rows are at most one per
    bucket, unit and unmerged part, so they come as stored; raw rows come as stored while
    there are at most ``max_rows`` (a LIMIT stops the read there), else grouped in the
    store after all, so a series of many points per period never moves them all."""
    params = _params(tenant, refs, start, end, period, unit)
    keys = f"series_id, toInt64({_BUCKET.removesuffix(' AS b')}) AS b"

    async def read(src: Source) -> pa.Table:
        row = _ROW_COLUMNS[src.raw]
        picked = ", ".join(f"{row[c]} AS {c}" for c in columns)
        sql = f"SELECT {keys}, {picked} FROM {src.table} WHERE {_where(src, params)}"
        if not src.raw:
            return await store.query_arrow(sql, params)
        table = await store.query_arrow(f"{sql} LIMIT {max_rows + 1}", params)
        if table.num_rows <= max_rows:
            return table
        merged = ", ".join(f"{_GROUPED[c]} AS {c}" for c in columns)
        return await store.query_arrow(
            f"SELECT series_id, b, {merged} FROM ({sql}) GROUP BY series_id, b", params
        )

    return list(await asyncio.gather(*(read(src) for src in level.sources)))
