"""Many metric windows in one SQL statement (``windows.statistic_windows_batch``).

The windows travel as one array parameter. Their series are found by a join with
``metric_series`` on (namespace, name, dimension keys, dimension values) inside the same
statement, so an alarm evaluator needs no series cache. Windows are grouped by the level
that answers them (``levels.choose_level``, as a one-window read picks it) and by whether
their statistic needs the distribution; each group reads its level's sources with the
same SQL fragments as ``levels``' fetches, joined to its windows by series id, and every
row is put in its window's period. One row per (window, period) comes back, with count,
sum, min and max, and the (value, weight) points for distribution statistics; the
statistic is then computed by the same code as GetMetricData's (``fetch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.query import levels
from vigil.query.levels import Level, Source
from vigil.query.metricdata.fetch import Fetch, Vector, aggregate_vectors, distribution
from vigil.query.sketch import value_sql
from vigil.query.statistics import AGGREGATES, Statistic

if TYPE_CHECKING:
    from vigil.query.metricdata.windows import Window

# The windows parameter: index, group, namespace, name, dimension keys and values, unit,
# has unit, start, end, period.
_WINDOWS_TYPE = (
    "Array(Tuple(UInt32, UInt16, String, String, Array(String), Array(String), String,"
    " UInt8, Int64, Int64, UInt32))"
)
_WINDOWS = (
    "SELECT x.1 AS w_i, x.2 AS w_g, x.3 AS w_ns, x.4 AS w_n, x.5 AS w_k, x.6 AS w_v,"
    " x.7 AS w_unit, x.8 AS w_has_unit, x.9 AS w_start, x.10 AS w_end, x.11 AS w_period"
    f" FROM (SELECT arrayJoin({{windows:{_WINDOWS_TYPE}}}) AS x)"
)
# Each window with its series id (windows of metrics without series drop out).
_WINDOW_SERIES = (
    "SELECT w.*, s.series_id AS w_sid FROM windows AS w INNER JOIN ("
    " SELECT DISTINCT namespace, name, series_id, mapKeys(dimensions) AS k,"
    " mapValues(dimensions) AS v FROM metric_series WHERE tenant = {tenant:String}"
    " AND (namespace, name) IN {metrics:Array(Tuple(String, String))}"
    ") AS s ON w.w_ns = s.namespace AND w.w_n = s.name AND w.w_k = s.k AND w.w_v = s.v"
)
_BUCKET = "intDiv(toUnixTimestamp(timestamp) - w_start, w_period) AS b"
_NO_POINTS = "CAST([], 'Array(Tuple(Float64, Float64))') AS ipts"


def _part(group: int, source: Source, distribution: bool) -> str:
    """One level source's rows of the group's windows: per (window, period) count, sum,
    min, max and (distribution) points, as ``levels`` computes them per series."""
    time = (
        "timestamp >= fromUnixTimestamp64Nano({lo%d:Int64} * 1000000000)"
        " AND timestamp < fromUnixTimestamp64Nano({hi%d:Int64} * 1000000000)"
        if source.raw
        else "timestamp >= toDateTime({lo%d:Int64}) AND timestamp < toDateTime({hi%d:Int64})"
    ) % (group, group)
    where = [
        "tenant = {tenant:String}",
        f"(namespace, name) IN {{m{group}:Array(Tuple(String, String))}}",
        f"series_id IN (SELECT w_sid FROM window_series WHERE w_g = {group})",
        time,
        # The window's own range and unit (after the join: they differ per window).
        "toUnixTimestamp(timestamp) >= w_start AND toUnixTimestamp(timestamp) < w_end",
        "(w_has_unit = 0 OR unit = w_unit)",
    ]
    if source.condition:
        where.append(source.condition)
    rows = (
        f"FROM {source.table} INNER JOIN (SELECT * FROM window_series WHERE w_g = {group})"
        f" AS ws ON series_id = ws.w_sid WHERE {' AND '.join(where)} GROUP BY w_i, b"
    )
    if source.raw:
        points = (
            f"groupArrayArray({levels._raw_points_sql()}) AS ipts" if distribution else _NO_POINTS
        )
        return f"SELECT w_i, {_BUCKET}, {levels._RAW_AGG}, {points} {rows}"
    if not distribution:
        return f"SELECT w_i, {_BUCKET}, {levels._ROLLUP_AGG}, {_NO_POINTS} {rows}"
    values = f"arrayMap(k -> {value_sql('k')}, sk.1)"
    return (
        f"SELECT w_i, b, ic, is, ilo, ihi, arrayZip({values}, sk.2) AS ipts FROM ("
        f" SELECT w_i, {_BUCKET}, {levels._ROLLUP_AGG}, sumMap(sketch) AS sk {rows})"
    )


def build(
    f: Fetch, windows: Sequence[Window], stats: Sequence[Statistic]
) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters."""
    groups: dict[tuple[str, bool], int] = {}
    levels_of: dict[int, Level] = {}
    rows: list[tuple[Any, ...]] = []
    params: dict[str, Any] = {"tenant": f.tenant}
    for i, (window, stat) in enumerate(zip(windows, stats, strict=True)):
        level = levels.choose_level(
            f.retention, window.period, window.start, f.now, stat.distribution
        )
        group = groups.setdefault((level.name, stat.distribution), len(groups))
        levels_of[group] = level
        metric = window.stat.metric
        dims = sorted(metric.dimensions)
        unit = window.stat.unit
        rows.append(
            (
                i,
                group,
                metric.namespace,
                metric.name,
                [k for k, _ in dims],
                [v for _, v in dims],
                unit or "",
                int(unit is not None),
                window.start,
                window.end,
                window.period,
            )
        )
        metrics = params.setdefault(f"m{group}", set())
        metrics.add((metric.namespace, metric.name))
        params[f"lo{group}"] = min(params.get(f"lo{group}", window.start), window.start)
        params[f"hi{group}"] = max(params.get(f"hi{group}", window.end), window.end)
    params["windows"] = rows
    params["metrics"] = sorted({(r[2], r[3]) for r in rows})
    for group in levels_of:
        params[f"m{group}"] = sorted(params[f"m{group}"])
    parts = [
        _part(group, source, distribution)
        for (_, distribution), group in groups.items()
        for source in levels_of[group].sources
    ]
    sql = (
        f"WITH windows AS ({_WINDOWS}), window_series AS ({_WINDOW_SERIES})"
        f" SELECT w_i, b, {levels._MERGE}, groupArrayArray(ipts) AS points"
        f" FROM ({' UNION ALL '.join(parts)}) GROUP BY w_i, b ORDER BY w_i, b"
    )
    return sql, params


async def fetch(
    f: Fetch, windows: Sequence[Window], stats: Sequence[Statistic]
) -> list[tuple[Vector, Vector]]:
    """Per window: (values, sample counts) of its periods (NaN value: no value)."""
    out = [(np.full(w.periods, np.nan), np.zeros(w.periods)) for w in windows]
    if not windows:
        return out
    sql, params = build(f, windows, stats)
    table = await f.store.query_arrow(sql, params)
    if not table.num_rows:
        return out
    index = table.column("w_i").to_numpy().astype(np.int64)
    b = table.column("b").to_numpy().astype(np.int64)
    c, s, lo, hi = (table.column(n).to_numpy().astype(np.float64) for n in ("c", "s", "lo", "hi"))
    # Aggregates, vectorized: each row takes the value of its window's statistic.
    names = np.array(
        [AGGREGATES.index(st.aggregate) if not st.distribution else -1 for st in stats]
    )
    code = names[index]
    values = np.full(len(index), np.nan)
    for k, name in enumerate(AGGREGATES):
        mask = code == k
        if mask.any():
            values[mask] = aggregate_vectors(name, c[mask], s[mask], lo[mask], hi[mask])
    points = table.column("points").combine_chunks()
    offsets = points.offsets.to_numpy()
    flat = points.flatten()
    pv = flat.field(0).to_numpy(zero_copy_only=False).astype(np.float64)
    pw = flat.field(1).to_numpy(zero_copy_only=False).astype(np.float64)
    for row in range(len(index)):
        i, j = int(index[row]), int(b[row])
        if not 0 <= j < windows[i].periods:
            continue
        window_values, window_counts = out[i]
        window_counts[j] = c[row]
        stat = stats[i]
        if not stat.distribution:
            window_values[j] = values[row]
            continue
        weights = pw[offsets[row] : offsets[row + 1]]
        value = distribution(
            stat,
            {
                "c": c[row],
                "lo": lo[row],
                "hi": hi[row],
                "values": pv[offsets[row] : offsets[row + 1]],
                "weights": weights,
                # As levels.fetch_distributions decides it.
                "complete": float(weights.sum()) >= c[row] * (1 - 1e-9),
            },
        )
        if value is not None:
            window_values[j] = value
    return out
