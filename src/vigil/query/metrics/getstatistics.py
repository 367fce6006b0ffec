"""GetMetricStatistics: one datapoint per period and unit, each with every statistic asked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vigil.query.metrics import levels
from vigil.query.metrics.fetch import Fetch, distribution
from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.series import exact_series
from vigil.query.metrics.spec import (
    MetricSpec,
    QueryError,
    align_start,
    check_period,
    check_stat,
)
from vigil.query.metrics.statistics import aggregate

MAX_STATISTICS_DATAPOINTS = 1440


async def get_statistics(
    f: Fetch,
    metric: MetricSpec,
    stats: Sequence[str],
    period: int,
    start: int,
    end: int,
    unit: str | None,
) -> list[dict[str, Any]]:
    """GetMetricStatistics: one datapoint per period and unit, each with every statistic."""
    check_period(period)
    parsed = [check_stat(s) for s in stats]
    start = align_start(start, f.now, period)
    if end <= start:
        raise QueryError(
            "InvalidParameterValue",
            "The parameter StartTime must be less than the parameter EndTime.",
        )
    requested = math.ceil((end - start) / period) * len(parsed)
    if requested > MAX_STATISTICS_DATAPOINTS:
        raise QueryError(
            "InvalidParameterCombination",
            f"You have requested up to {requested} datapoints, which exceeds the limit of"
            f" {MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by"
            " increasing Period, or decreasing the time range.",
        )
    found = await exact_series(f.store, f.tenant, metric)
    if found is None:
        return []
    ref = found[0]
    await _check_resolution(f, ref, period, start, end)
    points: dict[tuple[int, str], dict[str, Any]] = {}
    for stat in parsed:
        level = levels.choose_level(f.retention, period, start, f.now, stat.distribution)
        if stat.distribution:
            rows = await levels.fetch_distributions(
                f.store, level, f.tenant, [ref], period, start, end, unit, by_unit=True
            )
            pairs = [(r, distribution(stat, r)) for r in rows]
        else:
            table = await levels.fetch_aggregates(
                f.store, level, f.tenant, [ref], period, start, end, unit, by_unit=True
            )
            rows = table.to_pylist()
            pairs = [(r, aggregate(stat, r["c"], r["s"], r["lo"], r["hi"])) for r in rows]
        for row, value in pairs:
            if value is None:
                continue
            key = (int(row["b"]), str(row["unit"]))
            point = points.setdefault(key, {"Timestamp": start + key[0] * period, "Unit": key[1]})
            if stat.kind == "aggregate":
                point[stat.aggregate] = value
            else:
                point.setdefault("ExtendedStatistics", {})[stat.name] = value
    return [points[k] for k in sorted(points)]


async def _check_resolution(f: Fetch, ref: SeriesRef, period: int, start: int, end: int) -> None:
    """A sub-minute period needs high-resolution data (StorageResolution 1)."""
    if period >= 60:
        return
    rows = await f.store.query(
        "SELECT count(), countIf(resolution = 1) FROM metrics WHERE tenant = {t:String}"
        " AND namespace = {ns:String} AND name = {n:String} AND series_id = {id:UInt64}"
        " AND timestamp >= fromUnixTimestamp64Nano({s:Int64} * 1000000000)"
        " AND timestamp < fromUnixTimestamp64Nano({e:Int64} * 1000000000)",
        {
            "t": f.tenant,
            "ns": ref.namespace,
            "n": ref.name,
            "id": ref.series_id,
            "s": start,
            "e": end,
        },
    )
    total, high = rows.rows[0]
    if total and not high:
        raise QueryError(
            "InvalidParameterValue",
            f"The parameter Period must be a multiple of 60 for this metric: it has"
            f" standard resolution (60 s) data only, and {period} is not.",
        )
