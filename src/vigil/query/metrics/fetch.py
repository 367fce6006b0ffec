"""One statistic of some series on a grid of periods, read from the level that answers it
(``vigil.query.metrics.levels``); and the unit of each period's data. GetMetricData, SEARCH, the
read API and the metric windows of alarms all read statistics through here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from vigil.query.metricmath.series import grid
from vigil.query.metrics import levels
from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.series import exact_series
from vigil.query.metrics.spec import MetricSpec
from vigil.query.metrics.statistics import Statistic, distribution_value
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention

Vector = np.ndarray[Any, np.dtype[np.float64]]
Matrix = np.ndarray[Any, np.dtype[np.float64]]  # a row per series, a column per period
Ids = np.ndarray[Any, np.dtype[np.uint64]]


@dataclass(slots=True)
class Fetch:
    """The inputs of a statistics read shared by its series."""

    store: Store
    retention: MetricRetention
    tenant: str
    now: int


async def statistic_series(
    f: Fetch,
    refs: list[SeriesRef],
    stat: Statistic,
    period: int,
    start: int,
    end: int,
    unit: str | None,
) -> dict[int, Vector]:
    """series id → values on the period grid from ``start`` (NaN: no data point)."""
    order, values, _ = await _read(f, refs, stat, period, start, end, unit, counts=False)
    return {int(sid): values[i] for i, sid in enumerate(order)}


async def statistic_matrix(
    f: Fetch,
    refs: list[SeriesRef],
    stat: Statistic,
    period: int,
    start: int,
    end: int,
    unit: str | None,
) -> tuple[Ids, Matrix]:
    """``statistic_series`` as one matrix: the series ids (sorted, unique) and their
    values, a row per id on the period grid from ``start`` (NaN: no data point)."""
    order, values, _ = await _read(f, refs, stat, period, start, end, unit, counts=False)
    return order, values


async def statistic_grid(
    f: Fetch,
    refs: list[SeriesRef],
    stat: Statistic,
    period: int,
    start: int,
    end: int,
    unit: str | None,
) -> dict[int, tuple[Vector, Vector]]:
    """series id → (values, sample counts) on the period grid from ``start`` (NaN value:
    no data point; count 0: no sample in the period)."""
    order, values, counts = await _read(f, refs, stat, period, start, end, unit, counts=True)
    return {int(sid): (values[i], counts[i]) for i, sid in enumerate(order)}


# The aggregate columns each statistic reads (the count always: it says "no data").
_COLUMNS = {
    "SampleCount": ("c",),
    "Sum": ("c", "s"),
    "Average": ("c", "s"),
    "Minimum": ("c", "lo"),
    "Maximum": ("c", "hi"),
}


async def _read(
    f: Fetch,
    refs: list[SeriesRef],
    stat: Statistic,
    period: int,
    start: int,
    end: int,
    unit: str | None,
    counts: bool,
) -> tuple[Ids, Matrix, Matrix]:
    # Sample counts only when asked: a SEARCH of 1,000 series does not pay for them.
    stamps = grid(start, end, period)
    order = np.array(sorted({r.series_id for r in refs}), dtype=np.uint64)
    shape = (len(order), len(stamps))
    out: Matrix = np.full(shape, np.nan)
    samples: Matrix = np.zeros(shape if counts else (len(order), 0))
    if not refs or not len(stamps):
        return order, out, samples
    level = levels.choose_level(f.retention, period, start, f.now, stat.distribution)
    if not stat.distribution:
        columns = _COLUMNS[stat.aggregate]
        tables = await levels.fetch_aggregate_rows(
            f.store,
            level,
            f.tenant,
            refs,
            period,
            start,
            end,
            unit,
            columns,
            max_rows=max(2 * out.size, 100_000),
        )
        merged = merge_rows(tables, order, len(stamps), columns)
        out = aggregate_matrix(stat.aggregate, merged)
        if counts:
            samples = merged["c"]
        return order, out, samples
    rows = await levels.fetch_distributions(
        f.store, level, f.tenant, refs, period, start, end, unit
    )
    position = {int(sid): i for i, sid in enumerate(order)}
    for row in rows:
        index = int(row["b"])
        if 0 <= index < len(stamps):
            i = position[int(row["series_id"])]
            if counts:
                samples[i, index] = row["c"]
            value = distribution(stat, row)
            if value is not None:
                out[i, index] = value
    return order, out, samples


_EMPTY = {"c": 0.0, "s": 0.0, "lo": np.inf, "hi": -np.inf}


def merge_rows(
    tables: list[pa.Table], order: Ids, count: int, columns: tuple[str, ...]
) -> dict[str, Matrix]:
    """Unmerged rows (series_id, b, c, s, lo, hi) merged per series and period onto one
    matrix per column (a row per id of ``order``, sorted): counts and sums added, minima
    and maxima kept, in numpy (``bincount``, ``minimum.at``), with no loop per series."""
    size = len(order) * count
    merged = {c: np.full(size, _EMPTY[c]) for c in columns}
    for table in tables:
        if not table.num_rows:
            continue
        ids = table.column("series_id").to_numpy().astype(np.uint64)
        b = table.column("b").to_numpy().astype(np.int64)
        rows = np.searchsorted(order, ids)
        keep = (b >= 0) & (b < count) & (rows < len(order))
        keep[keep] &= order[rows[keep]] == ids[keep]  # ids the caller did not ask for
        flat = rows[keep] * count + b[keep]
        for c in columns:
            values = table.column(c).to_numpy().astype(np.float64)[keep]
            if c in ("c", "s"):
                merged[c] += np.bincount(flat, weights=values, minlength=size)
            elif c == "lo":
                np.minimum.at(merged[c], flat, values)
            else:
                np.maximum.at(merged[c], flat, values)
    return {c: m.reshape(len(order), count) for c, m in merged.items()}


def aggregate_matrix(name: str, merged: dict[str, Matrix]) -> Matrix:
    """``aggregate_vectors`` over merged matrices holding only the columns it needs."""
    c = merged["c"]
    with np.errstate(all="ignore"):
        if name == "SampleCount":
            values = c
        elif name == "Average":
            values = merged["s"] / c
        else:
            values = merged[{"Sum": "s", "Minimum": "lo", "Maximum": "hi"}[name]]
    result: Matrix = np.where((c > 0) & np.isfinite(values), values, np.nan)
    return result


def fill_grids(
    grids: dict[int, Vector], ids: Vector, b: Vector, values: Vector, empty: float = np.nan
) -> dict[int, Vector]:
    """Rows (series id, period index, value) placed on each series' grid in one pass.

    Linear in rows + series: the rows are scattered into one matrix (a row per series,
    found by a binary search over the sorted ids) whose rows become the grids. Masking the
    whole answer once per series was quadratic (10,000 series: minutes)."""
    if not grids:
        return grids
    count = len(next(iter(grids.values())))
    order = np.array(sorted(grids), dtype=np.uint64)
    matrix = np.full((len(order), count), empty)
    if len(ids):
        rows = np.searchsorted(order, ids)
        keep = (b >= 0) & (b < count) & (rows < len(order))
        keep[keep] &= order[rows[keep]] == ids[keep]  # ids the caller did not ask for
        matrix[rows[keep], b[keep]] = values[keep]
    return {int(sid): matrix[i] for i, sid in enumerate(order)}


def aggregate_vectors(name: str, c: Vector, s: Vector, lo: Vector, hi: Vector) -> Vector:
    """An aggregate statistic per period from the periods' counts, sums, minima and maxima
    (NaN where the period has no value)."""
    with np.errstate(all="ignore"):
        values = {
            "SampleCount": c,
            "Sum": s,
            "Average": s / c,
            "Minimum": lo,
            "Maximum": hi,
        }[name]
    return np.where((c > 0) & np.isfinite(values), values, np.nan)


def distribution(stat: Statistic, row: Mapping[str, Any]) -> float | None:
    """A distribution statistic of one period's row of ``levels.fetch_distributions``."""
    if not row["complete"] or row["c"] <= 0:
        return None
    weights = np.asarray(row["weights"], dtype=np.float64)
    lo, hi = float(row["lo"]), float(row["hi"])
    # Sketch values are within 1%; the period's true min and max bound them exactly (raw
    # values are within them already).
    values = np.clip(
        np.asarray(row["values"], dtype=np.float64),
        lo if math.isfinite(lo) else -np.inf,
        hi if math.isfinite(hi) else np.inf,
    )
    value = distribution_value(stat, values, weights)
    return value if value is not None and math.isfinite(value) else None


async def period_units(
    f: Fetch, metric: MetricSpec, period: int, start: int, end: int
) -> Callable[[int], str]:
    """The unit of each period's data (by period start): the unit when there is one,
    ``Mixed`` when a period holds several, ``None`` without any."""
    found = await exact_series(f.store, f.tenant, metric)
    if found is None:
        return lambda _t: "None"
    rows = await f.store.query(
        "SELECT groupUniqArrayArray(units) FROM metric_series WHERE tenant = {t:String}"
        " AND namespace = {ns:String} AND name = {n:String} AND series_id = {id:UInt64}",
        {"t": f.tenant, "ns": metric.namespace, "n": metric.name, "id": found[0].series_id},
    )
    units = sorted(rows.rows[0][0]) if rows.rows else []
    if len(units) <= 1:
        only = units[0] if units else "None"
        return lambda _t: only
    level = levels.choose_level(f.retention, period, start, f.now, False)
    table = await levels.fetch_aggregates(
        f.store, level, f.tenant, [found[0]], period, start, end, by_unit=True
    )
    seen: dict[int, set[str]] = {}
    for b, unit in zip(
        table.column("b").to_pylist(), table.column("unit").to_pylist(), strict=True
    ):
        seen.setdefault(start + int(b) * period, set()).add(str(unit))
    labels = {t: next(iter(u)) if len(u) == 1 else "Mixed" for t, u in seen.items()}
    return lambda t: labels.get(t, "None")
