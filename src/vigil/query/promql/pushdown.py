"""``sum by (…) (rate(x[5m]))`` computed next to the store: the samples travel once, as
flat rows in the store's read order, and a compiled kernel computes every window and the
group sums, so that neither a Python object per sample nor a series per step is made.

Why: a range query over 10,000 series × 24 h reads 14 M samples; turned into Arrow rows and
numpy arrays they cost several times the answer (bench/RESULTS.md, "PromQL"); computed
with ClickHouse's array functions (this module's first form) most of the time went into
building per-step index arrays.

What it answers (``WindowAggregate``): ``op by|without (…) (fn(selector[range] offset o))``
with ``fn`` one of ``rate``, ``increase``, ``delta`` and ``op`` one of ``sum``, ``avg``,
``count``, ``min``, ``max``, over an evenly spaced grid of window ends (a range query's
steps, an instant query's one time). The evaluator uses it only then, and only for a
selector naming one metric (so no two series can share a label set once ``__name__`` is
dropped); anything
else takes the general path, and so do selectors that reach an OTLP histogram's virtual
``_bucket``/``_sum``/``_count`` series (``histograms``: this module reads stored series
only) and everything when the kernel was not built (no C compiler at install). When this
module declines a selector of that shape, the evaluator reads its samples and folds them
with the same kernel (``aggregate_samples``) rather than a Vector of every series' windows.

Semantics are the evaluator's (``_windows.pyx`` states them): samples read as
``sql.select`` reads them (the stored value ``sql.VALUE_SQL`` shows, milliseconds, two
rows of one series in one millisecond: the later one wins), windows ``[end - range, end]``
with both ends included, Prometheus 2.x's extrapolation and counter resets. The groups are
made in Python from the series' labels (``aggregate.group_labels``), not in SQL, so that the
label mapping stays in one place (``names``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.query.promql.aggregate import group_labels
from vigil.query.promql.binary import drop_name
from vigil.query.promql.errors import TooManySamples
from vigil.query.promql.histograms import any_virtual
from vigil.query.promql.names import METRIC_NAME, Labels
from vigil.query.promql.sql import LabelMatcher, metric_filter, series_sql, value_sql
from vigil.query.promql.values import Samples, Vector
from vigil.store.interface import Store

log = logging.getLogger(__name__)

FUNCTIONS = ("rate", "increase", "delta")  # the kernel's fn: their index
OPS = ("sum", "avg", "count", "min", "max")
# How the kernel folds a window's value into its group: added, the least, the greatest.
_FOLD = {"sum": 0, "avg": 0, "count": 0, "min": 1, "max": 2}


def _kernel() -> ModuleType | None:
    try:
        return importlib.import_module("vigil.query.promql._windows")
    except ImportError as exc:  # pragma: no cover - a build without a C compiler
        log.warning("PromQL window kernel unavailable (%s); the general path answers", exc)
        return None


_WINDOWS = _kernel()
_SPLIT_MIN = 256  # series per half below which one read does it all


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """``op by|without (names) (fn(selector[range_ms]))`` at ``steps`` window ends
    ``first_end + k * step_ms`` (ms; offset already applied)."""

    fn: str
    op: str
    names: tuple[str, ...]
    without: bool
    range_ms: int
    first_end: int
    step_ms: int
    steps: int


def _where(every_series: bool) -> str:
    """The samples read. ``every_series``: the selector matches on ``__name__`` alone, so
    every series of the metric names found is selected (``__name__`` depends on the name
    only) and the series need not be listed: the list's hash lookup per row was 15% of
    the read."""
    listed = "" if every_series else "AND series_id IN {ids:Array(UInt64)}"
    return f"""
FROM metrics
WHERE tenant = {{tenant:String}}
  AND namespace IN {{namespaces:Array(String)}} AND name IN {{names:Array(String)}}
  {listed}
  AND timestamp >= fromUnixTimestamp64Milli({{s:Int64}})
  AND timestamp < fromUnixTimestamp64Milli({{e:Int64}})"""


def rows_sql(value_sql: str, every_series: bool, half: int | None = None) -> str:
    """The samples, one row each, in the order the store reads them: a part's rows of one
    series come together and in time order, so that a series arrives as a few sorted
    pieces (the kernel merges them). Neither grouped nor sorted here: building an array
    per series, or merging the parts, cost more than handing over the rows; what travels
    is 24 bytes a sample, as Arrow uncompressed (LZ4 costs more CPU than the copy it
    saves). ``LIMIT``: memory is bounded before it is spent. ``half`` 0 or 1: the series
    with ids below ``mid``, or the others (a range of the table's key, so each read reads
    only its own granules; the two run side by side, since handing over an answer is one
    thread's work)."""
    cut = {None: "", 0: "AND series_id < {mid:UInt64}", 1: "AND series_id >= {mid:UInt64}"}
    return f"""
SELECT toInt64(series_id) AS sid, toUnixTimestamp64Nano(timestamp) AS t, {value_sql} AS v
{_where(every_series)}
{cut[half]}
LIMIT {{lim:UInt64}}
SETTINGS output_format_arrow_compression_method = 'none'"""


async def aggregate_windows(
    store: Store,
    tenant: str,
    matchers: Sequence[LabelMatcher],
    spec: WindowAggregate,
    max_samples: int,
    timeout: float | None = None,
) -> Vector | None:
    """``spec`` over the series ``matchers`` select, as the evaluator's Vector; None when
    the general path must answer (no kernel, virtual histogram series selected, or the
    per-series result would pass ``max_samples``)."""
    if _WINDOWS is None:
        return None
    fetch_start = spec.first_end - spec.range_ms
    fetch_end = spec.first_end + (spec.steps - 1) * spec.step_ms
    if await any_virtual(store, tenant, matchers, fetch_start, fetch_end, timeout=timeout):
        return None
    params: dict[str, Any] = {}
    series = await store.query_arrow(
        series_sql(tenant, matchers, fetch_start, fetch_end, params), params, timeout=timeout
    )
    t = spec.steps
    if series.num_rows == 0:
        return Vector.empty(t)
    if series.num_rows * t > max_samples:
        # The general path refuses, or not, on the rate's own size (series × steps):
        # leave the decision, and the error, to it.
        return None
    ids = series.column("series_id").to_numpy()
    by_id = np.argsort(ids, kind="stable")  # the general path's order: by series id
    keys: dict[Labels, int] = {}
    group_of = np.array(  # in ``by_id`` order
        [keys.setdefault(k, len(keys)) for k in _group_keys(series, by_id, spec)],
        dtype=np.uint32,
    )
    every = all(m.name == METRIC_NAME for m in matchers)
    where = {"tenant": tenant, **metric_filter(series), "s": fetch_start, "e": fetch_end + 1}
    if not every:
        where["ids"] = ids[by_id].tolist()
    value = await value_sql(store, _where(every), where, timeout)
    fold = _FOLD[spec.op]
    fn = FUNCTIONS.index(spec.fn)
    sorted_ids = ids[by_id]
    order = np.arange(len(ids), dtype=np.int64)  # by series id, the general path's order
    halves: list[int | None] = [None] if len(ids) < 2 * _SPLIT_MIN else [0, 1]

    def fold_in(rows: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
        pieces = _pieces(rows, sorted_ids)
        if pieces is None:
            return None
        assert _WINDOWS is not None
        total, count = np.zeros((len(keys), t)), np.zeros((len(keys), t))
        _WINDOWS.windows(
            pieces.t_chunks, pieces.v_chunks, pieces.chunk, pieces.starts, pieces.ends,
            pieces.offsets, group_of, order, spec.first_end, spec.step_ms, spec.range_ms, t,
            fn, fold, total, count,
        )  # fmt: skip
        return total, count

    async def half(h: int | None) -> tuple[int, tuple[np.ndarray, np.ndarray] | None]:
        rows = await store.query_arrow(
            rows_sql(value, every, h),
            {**where, "lim": max_samples + 1, "mid": int(sorted_ids[len(ids) // 2])},
            timeout=timeout,
        )
        if rows.num_rows > max_samples:
            raise TooManySamples(max_samples)
        # On a worker thread (the kernel runs without the GIL): the event loop stays free
        # and the other half's read goes on beside it.
        return rows.num_rows, await asyncio.to_thread(fold_in, rows)

    # Many series in two halves by id, each read and folded on its own, side by side: on
    # two cores the reads' single-threaded hand-over and the kernel run in parallel. The
    # halves' sums are added at the end: the last digits of a group's sum may differ from
    # a sequential sum.
    done = await asyncio.gather(*(half(h) for h in halves))
    if sum(n for n, _ in done) > max_samples:
        raise TooManySamples(max_samples)
    folded = [f for _, f in done if f is not None]
    if len(folded) < len(done):
        # A series written between the two reads (every series of the names was read):
        # the general path reads both again.
        return None
    total, count = folded[0]
    for more_total, more_count in folded[1:]:
        both = (count > 0) & (more_count > 0)
        if fold == 0:
            total += more_total
        else:
            pick = np.minimum if fold == 1 else np.maximum
            total = np.where(both, pick(total, more_total), total + more_total)
        count += more_count
    return _vector(list(keys), total, count, spec.op)


def _vector(keys: list[Labels], total: np.ndarray, count: np.ndarray, op: str) -> Vector:
    """The kernel's group totals and counts as the aggregation's Vector (groups with no
    value at any step left out)."""
    present = count > 0
    if op == "avg":
        with np.errstate(invalid="ignore", divide="ignore"):
            values = total / np.maximum(count, 1)
    elif op == "count":
        values = count
    else:
        values = total
    keep = np.asarray(present.any(axis=1))
    kept = [lbl for lbl, kp in zip(keys, keep, strict=True) if kp]
    return Vector(kept, values[keep], present[keep])


def aggregate_samples(series: list[Samples], spec: WindowAggregate) -> Vector | None:
    """``spec`` over samples already read (the general path's range vector: what
    ``aggregate_windows`` leaves to it, as an OTLP histogram's virtual ``_bucket`` series),
    by the same kernel, instead of a Vector of every series' windows and then the groups.
    The caller checks the shape (one metric name among the series, so no two share a
    label set once ``__name__`` is dropped; the size against the sample limit). None
    when the kernel was not built. Groups come in the order of their first series."""
    if _WINDOWS is None:
        return None
    series = [s for s in series if len(s.times)]
    t = spec.steps
    if not series:
        return Vector.empty(t)
    keys: dict[Labels, int] = {}
    group_of = np.array(
        [
            keys.setdefault(group_labels(drop_name(s.labels), spec.names, spec.without), len(keys))
            for s in series
        ],
        dtype=np.uint32,
    )
    n = len(series)
    # One piece per series, its own chunk; times as the store's nanoseconds (the kernel
    # truncates them to the milliseconds they came as).
    t_chunks = [np.ascontiguousarray(s.times, dtype=np.int64) * 1_000_000 for s in series]
    v_chunks = [np.ascontiguousarray(s.values, dtype=np.float64) for s in series]
    index = np.arange(n, dtype=np.int64)
    lengths = np.array([len(s.times) for s in series], dtype=np.int64)
    total, count = np.zeros((len(keys), t)), np.zeros((len(keys), t))
    _WINDOWS.windows(
        t_chunks, v_chunks, index, np.zeros(n, dtype=np.int64), lengths,
        np.arange(n + 1, dtype=np.int64), group_of, index, spec.first_end, spec.step_ms,
        spec.range_ms, t, FUNCTIONS.index(spec.fn), _FOLD[spec.op], total, count,
    )  # fmt: skip
    return _vector(list(keys), total, count, spec.op)


@dataclass(frozen=True, slots=True)
class Pieces:
    """The samples as the kernel reads them: the answer's chunks as they arrived (times,
    values: zero-copy views), and the pieces — runs of one series' rows in one chunk —
    ``chunk``/``starts``/``ends``, grouped by series: series ``i`` of the ids owns pieces
    ``offsets[i]`` to ``offsets[i+1] - 1``."""

    t_chunks: list[np.ndarray]
    v_chunks: list[np.ndarray]
    chunk: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray


def _pieces(rows: pa.Table, ids: np.ndarray) -> Pieces | None:
    """``rows`` (``sid``, ``t``, ``v``) cut into pieces for the series ``ids`` (ascending);
    None when a row's series is not one of them."""
    batches = rows.to_batches()
    t_chunks = [b.column("t").to_numpy() for b in batches]
    v_chunks = [b.column("v").to_numpy() for b in batches]
    chunk, starts, ends, sids = [], [], [], []
    for i, batch in enumerate(batches):
        sid = batch.column("sid").to_numpy().view(np.uint64)
        if len(sid) == 0:
            continue
        cuts = np.flatnonzero(sid[1:] != sid[:-1]) + 1
        first = np.concatenate(([0], cuts))
        chunk.append(np.full(len(first), i, dtype=np.int64))
        starts.append(first)
        ends.append(np.concatenate((cuts, [len(sid)])))
        sids.append(sid[first])
    if not sids:
        none = np.zeros(0, dtype=np.int64)
        return Pieces([], [], none, none, none, np.zeros(len(ids) + 1, dtype=np.int64))
    piece_sid = np.concatenate(sids)
    at = np.minimum(np.searchsorted(ids, piece_sid), len(ids) - 1)
    if np.any(ids[at] != piece_sid):
        return None
    by_series = np.argsort(at, kind="stable")
    return Pieces(
        t_chunks,
        v_chunks,
        np.concatenate(chunk)[by_series],
        np.concatenate(starts).astype(np.int64)[by_series],
        np.concatenate(ends).astype(np.int64)[by_series],
        np.searchsorted(at[by_series], np.arange(len(ids) + 1)).astype(np.int64),
    )


def _group_keys(series: pa.Table, order: np.ndarray, spec: WindowAggregate) -> list[Labels]:
    """Each series' group (``aggregate.group_labels`` of its labels without ``__name__``),
    in ``order``. For ``by``, only the named labels are read (a tenth of the time of
    reading every series' labels into Python)."""
    lbl = series.column("lbl").combine_chunks().take(pa.array(order))
    if not spec.without:
        wanted = sorted(set(spec.names) - {METRIC_NAME})
        if not wanted:
            return [()] * len(order)
        values = [pc.map_lookup(lbl, pa.scalar(n), "first").to_pylist() for n in wanted]
        # A label with an empty value is no label (as in ``sql.select``).
        return [
            tuple((n, v) for n, v in zip(wanted, vs, strict=True) if v)
            for vs in zip(*values, strict=True)
        ]
    out = []
    for pairs in lbl.to_pylist():
        labels = tuple(sorted((k, v) for k, v in pairs if v != ""))
        out.append(group_labels(drop_name(labels), spec.names, spec.without))
    return out
