"""Many metric windows in one SQL statement (``windows.statistic_windows_batch``).

Windows are grouped by shape: the level that answers them (``levels.choose_level``, as a
one-window read picks it), whether their statistic needs the distribution, period, start,
end and unit. Alarms evaluated in the same minute share a few shapes, however many they
are. Each shape reads its level's sources as ``levels``' fetches do (the same SQL
fragments: count, sum, min, max and the distribution's points per series and period),
for the series of its windows, found by their exact dimensions in ``metric_series``
within the same statement. A last branch of the statement answers which series id each
(namespace, name, dimensions) has. The statistic is then computed per window by the code
GetMetricData uses (``fetch``): windows of one series and shape share its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from vigil.model.sketch import value_sql
from vigil.query.metrics import levels
from vigil.query.metrics.fetch import Fetch, Vector, aggregate_vectors, distribution
from vigil.query.metrics.levels import Level, Source
from vigil.query.metrics.statistics import AGGREGATES, Statistic

if TYPE_CHECKING:
    from vigil.query.metrics.windows import Window

# (level, distribution, period, start, end, unit)
Shape = tuple[str, bool, int, int, int, str | None]

# A series' namespace, name, dimension keys and values as one string: each part
# length-prefixed (bytes), so that no name or value can be mistaken for another. Specs
# travel as arrays of these strings: ClickHouse parses an Array(String) parameter about
# ten times faster than an array of tuples of arrays (10,000 specs: 0.1 s against 1 s).
_ENCODED = (
    "arrayStringConcat(arrayMap(x -> concat(toString(length(x)), ':', x),"
    " arrayConcat([toString(namespace), toString(name)], mapKeys(dimensions),"
    " mapValues(dimensions))))"
)
_NO_POINTS = "CAST([], 'Array(Tuple(Float64, Float64))') AS ipts"


def encode(namespace: str, name: str, dimensions: Sequence[tuple[str, str]]) -> str:
    """``_ENCODED`` of a metric (dimensions sorted, as stored)."""
    dims = sorted(dimensions)
    parts = [namespace, name, *(k for k, _ in dims), *(v for _, v in dims)]
    return "".join(f"{len(p.encode())}:{p}" for p in parts)


def _series_ids(g: int) -> str:
    """The ids of the series of shape ``g``'s windows (exact dimensions)."""
    return (
        "SELECT series_id FROM metric_series WHERE tenant = {tenant:String}"
        f" AND namespace IN n{g} AND name IN k{g} AND {_ENCODED} IN s{g}"
    )


def _part(g: int, shape: Shape, source: Source) -> str:
    """One level source's rows for a shape: per series and period count, sum, min, max and
    (distribution) points, as ``levels`` computes them."""
    _, dist, period, start, end, unit = shape
    time = (
        f"timestamp >= fromUnixTimestamp64Nano({start} * 1000000000)"
        f" AND timestamp < fromUnixTimestamp64Nano({end} * 1000000000)"
        if source.raw
        else f"timestamp >= toDateTime({start}) AND timestamp < toDateTime({end})"
    )
    where = [
        "tenant = {tenant:String}",
        f"namespace IN n{g}",
        f"name IN k{g}",
        f"series_id IN ({_series_ids(g)})",
        time,
    ]
    if unit is not None:
        where.append(f"unit = {{u{g}:String}}")
    if source.condition:
        where.append(source.condition)
    bucket = f"intDiv(toUnixTimestamp(timestamp) - {start}, {period}) AS b"
    rows = f"FROM {source.table} WHERE {' AND '.join(where)} GROUP BY series_id, b"
    head = f"SELECT toInt32({g}) AS g, series_id, {bucket}"
    if source.raw:
        points = f"groupArrayArray({levels.raw_points_sql()}) AS ipts" if dist else _NO_POINTS
        return f"{head}, {levels.RAW_AGG}, {points} {rows}"
    if not dist:
        return f"{head}, {levels.ROLLUP_AGG}, {_NO_POINTS} {rows}"
    values = f"arrayMap(k -> {value_sql('k')}, sk.1)"
    return (
        f"SELECT g, series_id, b, ic, is, ilo, ihi, arrayZip({values}, sk.2) AS ipts FROM ("
        f" {head}, {levels.ROLLUP_AGG}, sumMap(sketch) AS sk {rows})"
    )


def build(
    f: Fetch, windows: Sequence[Window], stats: Sequence[Statistic]
) -> tuple[str, dict[str, Any], list[int], list[str]]:
    """The statement, its parameters, and each window's shape index and encoded metric."""
    shapes: dict[Shape, int] = {}
    level_of: dict[int, Level] = {}
    specs: dict[int, set[str]] = {}
    metrics: dict[int, set[tuple[str, str]]] = {}
    shape_of: list[int] = []
    encoded: list[str] = []
    for window, stat in zip(windows, stats, strict=True):
        metric = window.stat.metric
        encoded.append(encode(metric.namespace, metric.name, metric.dimensions))
        level = levels.choose_level(
            f.retention, window.period, window.start, f.now, stat.distribution
        )
        shape: Shape = (
            level.name,
            stat.distribution,
            window.period,
            window.start,
            window.end,
            window.stat.unit,
        )
        g = shapes.setdefault(shape, len(shapes))
        level_of[g] = level
        specs.setdefault(g, set()).add(encoded[-1])
        metrics.setdefault(g, set()).add((metric.namespace, metric.name))
        shape_of.append(g)
    params: dict[str, Any] = {"tenant": f.tenant}
    # Each array parameter appears once (a WITH alias): ClickHouse parses every occurrence.
    aliases = []
    for shape, g in shapes.items():
        params[f"s{g}"] = sorted(specs[g])
        # Namespaces and names as two lists, not one list of (namespace, name) tuples:
        # ClickHouse's tuple filter cost ~2.5x the scan it guards (levels.py measured
        # it); ``s{g}`` (the encoded metric, dimensions included) keeps the read exact.
        params[f"n{g}"] = sorted({ns for ns, _ in metrics[g]})
        params[f"k{g}"] = sorted({name for _, name in metrics[g]})
        aliases += [
            f"{{s{g}:Array(String)}} AS s{g}",
            f"{{n{g}:Array(String)}} AS n{g}",
            f"{{k{g}:Array(String)}} AS k{g}",
        ]
        if shape[5] is not None:
            params[f"u{g}"] = shape[5]
    every = ", ".join(f"s{g}" for g in shapes.values())
    every_ns = ", ".join(f"n{g}" for g in shapes.values())
    every_name = ", ".join(f"k{g}" for g in shapes.values())
    parts = [_part(g, shape, src) for shape, g in shapes.items() for src in level_of[g].sources]
    sql = (
        f"WITH {', '.join(aliases)} SELECT g, series_id, b, c, s, lo, hi, points, '' AS spec"
        f" FROM (SELECT g, series_id, b, {levels.MERGE}, groupArrayArray(ipts) AS points"
        f" FROM ({' UNION ALL '.join(parts)}) GROUP BY g, series_id, b)"
        # Which series each window's metric is: rows with g = -1.
        " UNION ALL SELECT toInt32(-1), series_id, 0, 0., 0., 0., 0.,"
        f" CAST([], 'Array(Tuple(Float64, Float64))'), any({_ENCODED})"
        " FROM metric_series WHERE tenant = {tenant:String}"
        f" AND namespace IN arrayConcat({every_ns}) AND name IN arrayConcat({every_name})"
        f" AND {_ENCODED} IN arrayConcat({every}) GROUP BY namespace, name, series_id"
    )
    return sql, params, shape_of, encoded


async def fetch(
    f: Fetch, windows: Sequence[Window], stats: Sequence[Statistic]
) -> list[tuple[Vector, Vector]]:
    """Per window: (values, sample counts) of its periods (NaN value: no value)."""
    sizes = np.array([w.periods for w in windows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    values = np.full(int(starts[-1]), np.nan)
    counts = np.zeros(int(starts[-1]))
    if windows:
        sql, params, shape_of, encoded = build(f, windows, stats)
        table = await f.store.query_arrow(sql, params)
        _fill(table, stats, shape_of, encoded, starts, values, counts)
    return [
        (values[starts[i] : starts[i + 1]], counts[starts[i] : starts[i + 1]])
        for i in range(len(windows))
    ]


def _fill(
    table: pa.Table,
    stats: Sequence[Statistic],
    shape_of: list[int],
    encoded: list[str],
    starts: np.ndarray[Any, np.dtype[np.int64]],
    values: Vector,
    counts: Vector,
) -> None:
    g = table.column("g").to_numpy()
    sid = table.column("series_id").to_numpy()
    lookup = np.flatnonzero(g < 0)
    found = table.column("spec").take(pa.array(lookup)).to_pylist()
    series = dict(zip(found, sid[lookup].tolist(), strict=True))
    rows_of: dict[tuple[int, int], list[int]] = {}
    data = np.flatnonzero(g >= 0)
    for r, shape, series_id in zip(
        data.tolist(), g[data].tolist(), sid[data].tolist(), strict=True
    ):
        rows_of.setdefault((shape, series_id), []).append(r)
    # (row, window) pairs: a window takes the rows of its series in its shape.
    pair_rows: list[int] = []
    pair_windows: list[int] = []
    for i, (shape, metric) in enumerate(zip(shape_of, encoded, strict=True)):
        series_id = series.get(metric)
        if series_id is None:
            continue
        rows = rows_of.get((shape, series_id), ())
        pair_rows.extend(rows)
        pair_windows.extend([i] * len(rows))
    if not pair_rows:
        return
    row_of = np.array(pair_rows, dtype=np.int64)
    window_of = np.array(pair_windows, dtype=np.int64)
    b = table.column("b").to_numpy().astype(np.int64)[row_of]
    c, s, lo, hi = (
        table.column(n).to_numpy().astype(np.float64)[row_of] for n in ("c", "s", "lo", "hi")
    )
    slot = starts[window_of] + b
    counts[slot] = c
    # Aggregates, vectorized: each pair takes its window's statistic.
    codes = np.array([-1 if st.distribution else AGGREGATES.index(st.aggregate) for st in stats])
    code = codes[window_of]
    for k, name in enumerate(AGGREGATES):
        mask = code == k
        if mask.any():
            values[slot[mask]] = aggregate_vectors(name, c[mask], s[mask], lo[mask], hi[mask])
    dist = np.flatnonzero(code < 0)
    if not len(dist):
        return
    points = table.column("points").combine_chunks()
    offsets = points.offsets.to_numpy()
    flat = points.flatten()
    pv = flat.field(0).to_numpy(zero_copy_only=False).astype(np.float64)
    pw = flat.field(1).to_numpy(zero_copy_only=False).astype(np.float64)
    for p in dist.tolist():
        row = int(row_of[p])
        weights = pw[offsets[row] : offsets[row + 1]]
        value = distribution(
            stats[int(window_of[p])],
            {
                "c": c[p],
                "lo": lo[p],
                "hi": hi[p],
                "values": pv[offsets[row] : offsets[row + 1]],
                "weights": weights,
                # As levels.fetch_distributions decides it.
                "complete": float(weights.sum()) >= c[p] * (1 - 1e-9),
            },
        )
        if value is not None:
            values[slot[p]] = value
