"""Metric rollups computed from each insert's rows in numpy, not by views over ``metrics``.

Every ``metrics`` insert is summarized here before it goes to the store: per series, unit
and bucket the count, sum, min, max and percentile sketch of the 1-minute (high-resolution
rows only), 5-minute and 1-hour rollups (the hour cascades from the 5-minute rows), and per
series the ``metric_series`` row. Those few rows go to ``metric_rollup_input`` in one more
insert; its views (m0201) add ``series_id`` (the hash the ``metrics`` table derives) and
route each level to its table. The rows are a function of the batch only, so a replay of a
WAL range rebuilds the same rows and the same deduplication token drops them.

Why not views over ``metrics`` (m0200 did that): the views grouped every inserted row by
six keys and merged a one-key sketch per row with ``sumMap``, ~2.5 times the cost of the
raw insert itself (bench/RESULTS.md); here each row costs a few vectorized passes.

The arithmetic is the views' (m0200): sum ``value · count`` for samples and ``value`` for
statistic sets and histograms, min/max ±inf when unknown, sketch keys exactly as
``vigil.model.sketch`` defines them (``key_of``), weights summed per key with zero sums
dropped and keys sorted, as ``sumMap`` leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.model.metrics import PointKind
from vigil.model.sketch import LN_GAMMA, OFFSET, key_of

INPUT_TABLE = "metric_rollup_input"

# ``level`` of an input row: the rollup's bucket in seconds, or SERIES for metric_series.
SERIES = 0
LEVELS = ((60, "1m"), (300, "5m"), (3600, "1h"))

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

INPUT_SCHEMA = pa.schema(
    [
        ("level", pa.uint16()),
        ("tenant", pa.string()),
        ("namespace", pa.string()),
        ("name", pa.string()),
        ("dimensions", pa.map_(pa.string(), pa.string())),
        ("unit", pa.string()),
        ("timestamp", pa.timestamp("s")),
        ("count", pa.float64()),
        ("sum", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("keys", pa.list_(pa.int32())),
        ("weights", pa.list_(pa.float64())),
        ("units", pa.list_(pa.string())),
        ("first_seen", pa.timestamp("ns")),
        ("last_seen", pa.timestamp("ns")),
        ("points", pa.uint64()),
    ]
)

_SERIES_COLUMNS = ("tenant", "namespace", "name", "dimensions", "unit")
_USED = (
    *_SERIES_COLUMNS,
    *("timestamp", "resolution", "kind", "value", "count", "min", "max", "bounds", "buckets"),
)
# Sketch keys are within ±(OFFSET + 37,300): (group, key) pairs pack into one integer.
_KEY_SPAN = 4 * OFFSET


class NonFiniteSketchValue(ValueError):
    """A value that has no sketch key (NaN or ±inf): the store refuses the batch."""


@dataclass(slots=True)
class _Partials:
    """Rows to aggregate: raw points or rollup rows, with their sketch entries."""

    rep: I64  # a raw row of each one (its series and unit strings)
    series: I64
    unit: I64
    seconds: I64
    count: F64
    sum: F64
    min: F64
    max: F64
    first_ns: I64  # first and last raw timestamp, raw rows: for metric_series
    last_ns: I64
    points: I64
    entry_row: I64  # sketch entries: the row each belongs to, its key and weight
    entry_key: I64
    entry_weight: F64


@dataclass(slots=True)
class Prepared:
    """A batch with its sketch entries, every value with a key."""

    rows: pa.Table
    entry_row: I64
    entry_key: I64
    entry_weight: F64


def prepare(rows: pa.Table) -> Prepared:
    """The batch's sketch entries; raises ``NonFiniteSketchValue`` for a value without a
    key (the store prepares a batch before inserting anything: such a batch is refused
    whole, as the views' ``toInt32`` refused it). Cheap next to ``summarize``."""
    rows = rows.select([c for c in _USED if c in rows.column_names]).combine_chunks()
    entry_row, entry_value, entry_weight = _sketch_values(rows)
    return Prepared(rows, entry_row, sketch_keys(entry_value), entry_weight)


def rollup_input(rows: pa.Table) -> pa.Table | None:
    """The ``metric_rollup_input`` rows summarizing a batch of ``metrics`` rows."""
    return summarize(prepare(rows)) if rows.num_rows else None


def summarize(prepared: Prepared) -> pa.Table:
    """The ``metric_rollup_input`` rows of a prepared (non-empty) batch. Reads the batch
    only: safe in another thread while the batch itself is being inserted."""
    rows = prepared.rows
    raw = _raw_partials(prepared)
    five = _aggregate(raw, 300)
    levels = [(300, five), (3600, _aggregate(five, 3600))]
    high = np.flatnonzero(_i64(rows, "resolution") == 1)
    if high.size:
        levels.insert(0, (60, _aggregate(_subset(raw, high), 60)))
    parts = [_level_table(rows, level, p) for level, p in levels]
    parts.append(_series_table(rows, five))
    return pa.concat_tables(parts)


# --- partials of raw rows ------------------------------------------------------------


def _raw_partials(prepared: Prepared) -> _Partials:
    rows = prepared.rows
    kind = _i64(rows, "kind")
    value, count = _f64(rows, "value"), _f64(rows, "count")
    mn, mx = _f64(rows, "min"), _f64(rows, "max")
    sample = kind == PointKind.SAMPLE
    ts = _i64(rows, "timestamp")
    return _Partials(
        rep=np.arange(rows.num_rows, dtype=np.int64),
        series=_series_codes(rows),
        unit=_codes(rows.column("unit")),
        seconds=ts // 1_000_000_000,
        count=count,
        sum=np.where(sample, value * count, value),
        min=np.where(sample, value, np.where(np.isnan(mn), np.inf, mn)),
        max=np.where(sample, value, np.where(np.isnan(mx), -np.inf, mx)),
        first_ns=ts,
        last_ns=ts,
        points=np.ones(rows.num_rows, dtype=np.int64),
        entry_row=prepared.entry_row,
        entry_key=prepared.entry_key,
        entry_weight=prepared.entry_weight,
    )


def _sketch_values(rows: pa.Table) -> tuple[I64, F64, F64]:
    """Each row's sketch entries as (row, value, weight): a sample's value, a histogram's
    bucket middles, a statistic set's value when all its values are equal."""
    kind = _i64(rows, "kind")
    value, count = _f64(rows, "value"), _f64(rows, "count")
    mn, mx = _f64(rows, "min"), _f64(rows, "max")
    stats = (
        (kind == PointKind.STATS)
        & (mn == mx)
        & (np.abs(value - mn * count) <= 1e-9 * np.abs(value))
    )
    single = np.flatnonzero((kind == PointKind.SAMPLE) | stats)
    single_value = np.where(kind[single] == PointKind.SAMPLE, value[single], mn[single])
    hist_row, hist_value, hist_weight = _histogram_entries(rows, kind, value, count, mn, mx)
    return (
        np.concatenate([single, hist_row]),
        np.concatenate([single_value, hist_value]),
        np.concatenate([count[single], hist_weight]),
    )


def _histogram_entries(
    rows: pa.Table, kind: I64, value: F64, count: F64, mn: F64, mx: F64
) -> tuple[I64, F64, F64]:
    """A histogram enters the sketch at the middle of each bucket (clamped to its known
    min and max), as ``sketch.histogram_midpoints_sql``; with no bounds at its mean."""
    if "buckets" not in rows.column_names or "bounds" not in rows.column_names:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    bounds_col, buckets_col = rows.column("bounds").chunk(0), rows.column("buckets").chunk(0)
    b_off = np.asarray(bounds_col.offsets, dtype=np.int64)
    k_off = np.asarray(buckets_col.offsets, dtype=np.int64)
    n_bounds, n_buckets = np.diff(b_off), np.diff(k_off)
    hist = np.flatnonzero((kind == PointKind.HISTOGRAM) & (n_buckets == n_bounds + 1))
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    if hist.size == 0:
        return empty
    bounds = np.asarray(bounds_col.values, dtype=np.float64)
    buckets = np.asarray(buckets_col.values).astype(np.float64)
    per_row = n_buckets[hist]
    row = np.repeat(hist, per_row)
    # position of each entry inside its row's buckets
    pos = np.arange(row.size, dtype=np.int64) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    weight = buckets[k_off[row] + pos]
    nb = n_bounds[row]
    lo_known, hi_known = ~np.isnan(mn[row]), ~np.isnan(mx[row])
    lo = np.where(lo_known, mn[row], -np.inf)
    hi = np.where(hi_known, mx[row], np.inf)
    last = np.maximum(nb - 1, 0)
    at = b_off[row]
    if bounds.size == 0:
        bounds = np.zeros(1)
    first_bound = bounds[np.minimum(at, bounds.size - 1)]
    last_bound = bounds[np.minimum(at + last, bounds.size - 1)]
    prev_bound = bounds[np.clip(at + pos - 1, 0, bounds.size - 1)]
    this_bound = bounds[np.clip(at + pos, 0, bounds.size - 1)]
    lower = np.where(pos == 0, np.where(lo_known, mn[row], first_bound), prev_bound)
    upper = np.where(pos == nb, np.where(hi_known, mx[row], last_bound), this_bound)
    mid = (np.maximum(lower, lo) + np.minimum(upper, hi)) / 2
    c = count[row]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(c > 0, value[row] / c, 0.0)
    return row, np.where(nb == 0, mean, mid), weight


def sketch_keys(values: F64) -> I64:
    """``vigil.model.sketch.key_of`` of every value, vectorized."""
    if not np.isfinite(values).all():
        raise NonFiniteSketchValue("Unexpected inf or nan in a metric's sketch value")
    nonzero = values != 0
    scaled = np.log(np.abs(np.where(nonzero, values, 1.0))) / LN_GAMMA
    keys = np.where(nonzero, np.sign(values) * (np.ceil(scaled) + OFFSET), 0).astype(np.int64)
    # np.log may round differently from math.log by an ulp: the values whose key could
    # depend on it (ln|v| / ln γ next to an integer) take key_of's answer.
    close = np.flatnonzero((np.abs(scaled - np.rint(scaled)) < 1e-6) & nonzero)
    for i in close:
        keys[i] = key_of(float(values[i]))
    return keys


# --- grouping ------------------------------------------------------------------------


def _aggregate(p: _Partials, seconds: int) -> _Partials:
    """Rows per (series, unit, bucket of ``seconds``), entries per row and key. Hash-based
    (no sort of the rows); sums add the rows in their order, as the store's aggregation."""
    bucket = p.seconds // seconds * seconds
    group = _dense(_combine(_combine(p.series, p.unit), (bucket - bucket.min()) // seconds))
    n = int(group.max()) + 1
    first = _first_rows(group)
    low = np.full(n, np.inf)
    np.minimum.at(low, group, p.min)
    high = np.full(n, -np.inf)
    np.maximum.at(high, group, p.max)
    first_ns = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_ns, group, p.first_ns)
    last_ns = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_ns, group, p.last_ns)
    # sketch entries per (row, key): one integer per pair, summed, then sorted by it (keys
    # ascending within a row, as sumMap leaves them)
    pair = group[p.entry_row] * _KEY_SPAN + (p.entry_key + _KEY_SPAN // 2)
    encoded = pc.dictionary_encode(pa.array(pair))
    pairs = np.asarray(encoded.dictionary, dtype=np.int64)
    weight = np.bincount(
        np.asarray(encoded.indices, dtype=np.int64), p.entry_weight, minlength=pairs.size
    )
    order = np.argsort(pairs)
    pairs, weight = pairs[order], weight[order]
    kept = weight != 0  # sumMap drops keys whose weights sum to zero
    return _Partials(
        rep=p.rep[first],
        series=p.series[first],
        unit=p.unit[first],
        seconds=bucket[first],
        count=_sums(group, p.count, n),
        sum=_sums(group, p.sum, n),
        min=low,
        max=high,
        first_ns=first_ns,
        last_ns=last_ns,
        points=np.bincount(group, p.points, minlength=n).astype(np.int64),
        entry_row=pairs[kept] // _KEY_SPAN,
        entry_key=pairs[kept] % _KEY_SPAN - _KEY_SPAN // 2,
        entry_weight=weight[kept],
    )


def _sums(group: I64, values: F64, n: int) -> F64:
    """Per group, its values added in row order."""
    return np.asarray(np.bincount(group, values, minlength=n), dtype=np.float64)


def _first_rows(codes: I64) -> I64:
    """The first row of each code, for codes numbered in order of first appearance."""
    seen = np.maximum.accumulate(codes)
    new = np.ones(codes.size, dtype=bool)
    new[1:] = seen[1:] > seen[:-1]
    return np.flatnonzero(new)


def _subset(p: _Partials, rows: I64) -> _Partials:
    position = np.full(p.rep.size, -1, dtype=np.int64)
    position[rows] = np.arange(rows.size)
    keep = position[p.entry_row] >= 0
    return _Partials(
        rep=p.rep[rows],
        series=p.series[rows],
        unit=p.unit[rows],
        seconds=p.seconds[rows],
        count=p.count[rows],
        sum=p.sum[rows],
        min=p.min[rows],
        max=p.max[rows],
        first_ns=p.first_ns[rows],
        last_ns=p.last_ns[rows],
        points=p.points[rows],
        entry_row=position[p.entry_row[keep]],
        entry_key=p.entry_key[keep],
        entry_weight=p.entry_weight[keep],
    )


def _series_codes(rows: pa.Table) -> I64:
    """Dense codes equal exactly when (tenant, namespace, name, dimensions) are equal."""
    code = _codes(rows.column("tenant"))
    for column in ("namespace", "name"):
        code = _combine(code, _codes(rows.column(column)))
    return _combine(code, _dimension_codes(rows.column("dimensions").chunk(0)))


def _dimension_codes(dims: pa.MapArray) -> I64:
    """Codes of the dimension maps, equal exactly when the maps are (same pairs, same
    order). A map's entries are one range of its keys and one of its items, so a map is
    three byte strings read in place: its keys' bytes, its items' bytes, and the lengths
    of each key and item (which delimit them). Hashing those per row costs a fraction of
    dictionary-encoding every key and value (it was 2/3 of the rollups' time)."""
    entry = np.asarray(dims.offsets, dtype=np.int64)
    k_off, k_data = _string_parts(dims.keys)
    v_off, v_data = _string_parts(dims.items)
    lengths = (np.diff(k_off) << 32) | np.diff(v_off)  # each length < 2**31
    code = _codes(_binary(entry * 8, pa.py_buffer(lengths)))
    code = _combine(code, _codes(_binary(k_off[entry], k_data)))
    return _combine(code, _codes(_binary(v_off[entry], v_data)))


def _string_parts(strings: pa.Array) -> tuple[I64, pa.Buffer]:
    """A string array's offsets (value i is ``data[offsets[i]:offsets[i + 1]]``) and data."""
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    _, offsets, data = strings.buffers()
    if offsets is None:  # an empty array
        return np.zeros(1, dtype=np.int64), pa.py_buffer(b"")
    at = strings.offset
    view = np.frombuffer(offsets, dtype=width)[at : at + len(strings) + 1]
    return view.astype(np.int64), data if data is not None else pa.py_buffer(b"")


def _binary(offsets: I64, data: pa.Buffer) -> pa.Array:
    """Binary values ``data[offsets[i]:offsets[i + 1]]``, without copying ``data``."""
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), offsets.size - 1, [None, pa.py_buffer(offsets), data]
    )


def _codes(values: pa.Array | pa.ChunkedArray) -> I64:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    return np.asarray(encoded.indices, dtype=np.int64)


def _combine(a: I64, b: I64) -> I64:
    """Codes of the pairs (a, b) of non-negative codes, dense when a and b are."""
    nb = int(b.max()) + 1 if b.size else 1
    if nb == 1:
        return a
    return _dense(a * nb + b)


def _dense(values: I64) -> I64:
    """Codes 0, 1, … of the values in order of first appearance (a hash, not a sort)."""
    return np.asarray(pc.dictionary_encode(pa.array(values)).indices, dtype=np.int64)


# --- the input table -----------------------------------------------------------------


def _level_table(rows: pa.Table, level: int, p: _Partials) -> pa.Table:
    n = p.rep.size
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(p.entry_row, minlength=n), out=offsets[1:])
    strings = rows.select(_SERIES_COLUMNS).take(pa.array(p.rep))
    return _input_table(
        strings,
        level=level,
        timestamp=pa.array(p.seconds, pa.timestamp("s")),
        count=p.count,
        sum=p.sum,
        min=p.min,
        max=p.max,
        keys=pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(p.entry_key.astype(np.int32), pa.int32())
        ),
        weights=pa.ListArray.from_arrays(pa.array(offsets), pa.array(p.entry_weight)),
    )


def _series_table(rows: pa.Table, five: _Partials) -> pa.Table:
    """One metric_series row per series: its dimensions, units, first and last time and
    number of points in this batch (from the 5-minute rows, which carry them)."""
    series = _dense(five.series)
    n = int(series.max()) + 1
    first_ns = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_ns, series, five.first_ns)
    last_ns = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_ns, series, five.last_ns)
    # the distinct units of each series: a 5-minute row of each (series, unit), by series
    pair_rows = _first_rows(_combine(series, five.unit))
    pair_rows = pair_rows[np.argsort(series[pair_rows], kind="stable")]
    unit_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(series[pair_rows], minlength=n), out=unit_offsets[1:])
    units = rows.column("unit").take(pa.array(five.rep[pair_rows])).combine_chunks()
    strings = rows.select(_SERIES_COLUMNS).take(pa.array(five.rep[_first_rows(series)]))
    return _input_table(
        strings,
        level=SERIES,
        units=pa.ListArray.from_arrays(pa.array(unit_offsets), units),
        first_seen=pa.array(first_ns, pa.timestamp("ns")),
        last_seen=pa.array(last_ns, pa.timestamp("ns")),
        points=pa.array(np.bincount(series, five.points, minlength=n).astype(np.uint64)),
        timestamp=pa.array(np.zeros(n, np.int64), pa.timestamp("s")),
    )


def _input_table(strings: pa.Table, *, level: int, **columns: object) -> pa.Table:
    n = strings.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for field in INPUT_SCHEMA:
        if field.name == "level":
            arrays.append(pa.array(np.full(n, level, np.uint16)))
        elif field.name in _SERIES_COLUMNS:
            arrays.append(strings.column(field.name).cast(field.type))
        elif field.name in columns:
            value = columns[field.name]
            arrays.append(value if isinstance(value, pa.Array) else pa.array(value, field.type))
        else:
            arrays.append(_empty(field.type, n))
    return pa.Table.from_arrays(arrays, schema=INPUT_SCHEMA)


def _empty(kind: pa.DataType, n: int) -> pa.Array:
    if pa.types.is_list(kind):
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)), pa.array([], kind.value_type)
        )
    if pa.types.is_timestamp(kind):
        return pa.array(np.zeros(n, np.int64), kind)
    return pa.array(np.zeros(n), pa.float64()).cast(kind)


# Columns an insert leaves out get the table's DEFAULT (0, empty) in the store: here too.


def _f64(rows: pa.Table, column: str) -> F64:
    if column not in rows.column_names:
        return np.zeros(rows.num_rows)
    return np.asarray(rows.column(column).chunk(0), dtype=np.float64)


def _i64(rows: pa.Table, column: str) -> I64:
    if column not in rows.column_names:
        return np.zeros(rows.num_rows, dtype=np.int64)
    return np.asarray(rows.column(column).chunk(0).cast(pa.int64()), dtype=np.int64)
