"""The metric query engine behind GetMetricData, GetMetricStatistics and ``/api/v1``.

A request is a list of queries over one time range: metric statistics (namespace, name,
exact dimensions, statistic, period, optional unit) and metric math expressions that refer
to them by id. The start is aligned as CloudWatch does (``align_start``), every result is a
grid of periods from the aligned start to the end (exclusive), and periods without data
are left out of the answer. Statistics read the level that ``levels.choose_level`` picks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.query import levels
from vigil.query.levels import SeriesRef
from vigil.query.metricmath import MathError, MathSyntaxError, parse
from vigil.query.metricmath.ast import Node
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS, Evaluator, references
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metricmath.series import Series, Value, grid
from vigil.query.search import Candidate, SearchError, parse_search
from vigil.query.statistics import (
    Statistic,
    StatisticError,
    aggregate,
    distribution_value,
    parse_statistic,
)
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention

HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
LIST_WINDOW = 14 * 86400  # ListMetrics and SEARCH see metrics with data in the last 2 weeks
MAX_QUERIES = 500
# Ten full GetMetricData pages of 100,800 datapoints: the most periods one request may span.
MAX_GRID_CELLS = 1_008_000
ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


class QueryError(ValueError):
    """A request CloudWatch would refuse: ``code`` is the AWS error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def valid_period(period: int) -> bool:
    return period in HIGH_RES_PERIODS or (period > 0 and period % 60 == 0)


def align_start(start: int, now: int, period: int) -> int:
    """CloudWatch's rounding of StartTime: sub-minute periods to the period; otherwise to
    the minute (younger than 15 days), 5 minutes (15–63 days) or the hour (older)."""
    if period < 60:
        return start - start % period
    age = now - start
    step = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
    return start - start % step


@dataclass(frozen=True, slots=True)
class MetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class MetricQuery:
    id: str
    metric: MetricSpec | None = None
    stat: str | None = None
    unit: str | None = None
    period: int | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = True


@dataclass(slots=True)
class Result:
    id: str
    label: str
    timestamps: list[int]  # epoch seconds, ascending
    values: list[float]
    status: str = "Complete"
    messages: list[dict[str, str]] = field(default_factory=list)


# --- series lookup ------------------------------------------------------------------------


async def exact_series(
    store: Store, tenant: str, metric: MetricSpec
) -> tuple[SeriesRef, dict[str, str]] | None:
    dims = sorted(metric.dimensions)
    rows = await store.query(
        "SELECT series_id, any(dimensions) FROM metric_series WHERE tenant = {t:String}"
        " AND namespace = {ns:String} AND name = {n:String}"
        " AND mapKeys(dimensions) = {k:Array(String)} AND mapValues(dimensions) = {v:Array(String)}"
        " GROUP BY series_id LIMIT 1",
        {
            "t": tenant,
            "ns": metric.namespace,
            "n": metric.name,
            "k": [k for k, _ in dims],
            "v": [v for _, v in dims],
        },
    )
    if not rows.rows:
        return None
    series_id, dimensions = rows.rows[0]
    return SeriesRef(metric.namespace, metric.name, int(series_id)), dict(dimensions)


@dataclass(frozen=True, slots=True)
class FoundSeries:
    ref: SeriesRef
    dimensions: dict[str, str]
    units: tuple[str, ...] = ()


async def list_metrics(
    store: Store,
    tenant: str,
    since: int,
    namespace: str | None = None,
    name: str | None = None,
    dimension_filters: Sequence[tuple[str, str | None]] = (),
    after: tuple[str, str, int] | None = None,
    limit: int = 500,
) -> list[FoundSeries]:
    """Series with data since ``since`` (epoch s), in (namespace, name, series id) order."""
    where = ["tenant = {t:String}"]
    params: dict[str, Any] = {"t": tenant, "since": since, "limit": limit}
    if namespace is not None:
        where.append("namespace = {ns:String}")
        params["ns"] = namespace
    if name is not None:
        where.append("name = {n:String}")
        params["n"] = name
    having = ["max(last_seen) >= toDateTime64({since:Int64}, 9)"]
    for i, (key, value) in enumerate(dimension_filters):
        params[f"dk{i}"] = key
        if value is None:
            having.append(f"mapContains(any(dimensions), {{dk{i}:String}})")
        else:
            params[f"dv{i}"] = value
            having.append(
                f"mapContains(any(dimensions), {{dk{i}:String}})"
                f" AND any(dimensions)[{{dk{i}:String}}] = {{dv{i}:String}}"
            )
    if after is not None:
        where.append("(namespace, name, series_id) > ({ans:String}, {an:String}, {aid:UInt64})")
        params.update(ans=after[0], an=after[1], aid=after[2])
    rows = await store.query(
        f"SELECT namespace, name, series_id, any(dimensions), groupUniqArrayArray(units)"
        f" FROM metric_series"
        f" WHERE {' AND '.join(where)} GROUP BY namespace, name, series_id"
        f" HAVING {' AND '.join(having)} ORDER BY namespace, name, series_id"
        " LIMIT {limit:UInt32}",
        params,
    )
    return [
        FoundSeries(SeriesRef(ns, n, int(sid)), dict(d), tuple(units))
        for ns, n, sid, d, units in rows.rows
    ]


# --- one statistic over series -----------------------------------------------------------


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
) -> dict[int, np.ndarray[Any, np.dtype[np.float64]]]:
    """series id → values on the period grid from ``start`` (NaN: no data point)."""
    stamps = grid(start, end, period)
    out = {r.series_id: np.full(len(stamps), np.nan) for r in refs}
    if not refs or not len(stamps):
        return out
    level = levels.choose_level(f.retention, period, start, f.now, stat.distribution)
    if not stat.distribution:
        table = await levels.fetch_aggregates(
            f.store, level, f.tenant, refs, period, start, end, unit
        )
        ids = table.column("series_id").to_numpy()
        b = table.column("b").to_numpy().astype(np.int64)
        cols = [table.column(c).to_numpy().astype(np.float64) for c in ("c", "s", "lo", "hi")]
        values = _aggregate_vectors(stat.aggregate, *cols)
        for sid in np.unique(ids):
            mask = ids == sid
            keep = mask & (b >= 0) & (b < len(stamps))
            out[int(sid)][b[keep]] = values[keep]
        return out
    rows = await levels.fetch_distributions(
        f.store, level, f.tenant, refs, period, start, end, unit
    )
    for row in rows:
        index = int(row["b"])
        if 0 <= index < len(stamps):
            value = _distribution(stat, row)
            if value is not None:
                out[int(row["series_id"])][index] = value
    return out


def _aggregate_vectors(
    name: str,
    c: np.ndarray[Any, np.dtype[np.float64]],
    s: np.ndarray[Any, np.dtype[np.float64]],
    lo: np.ndarray[Any, np.dtype[np.float64]],
    hi: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    with np.errstate(all="ignore"):
        values = {
            "SampleCount": c,
            "Sum": s,
            "Average": s / c,
            "Minimum": lo,
            "Maximum": hi,
        }[name]
    return np.where((c > 0) & np.isfinite(values), values, np.nan)


def _distribution(stat: Statistic, row: Mapping[str, Any]) -> float | None:
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


def check_stat(text: str) -> Statistic:
    try:
        return parse_statistic(text)
    except StatisticError as exc:
        raise QueryError("InvalidParameterValue", str(exc)) from None


def check_period(period: int, where: str = "Period") -> None:
    if not valid_period(period):
        raise QueryError(
            "InvalidParameterValue",
            f"The parameter {where} must be 1, 5, 10, 20, 30 or a multiple of 60"
            f" (got {period}); standard-resolution metrics need a multiple of 60.",
        )


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


# --- GetMetricStatistics ---------------------------------------------------------------------

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
            "InvalidParameterValue", "The parameter StartTime must be less than EndTime."
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
            pairs = [(r, _distribution(stat, r)) for r in rows]
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


# --- GetMetricData -----------------------------------------------------------------------------


@dataclass
class _Request:
    f: Fetch
    queries: dict[str, MetricQuery]
    start_raw: int
    end: int
    search_limit: int
    functions: FunctionTable
    default_period: int
    start: int = 0
    values: dict[str, Value] = field(default_factory=dict)
    pending: dict[str, asyncio.Task[Value]] = field(default_factory=dict)
    trees: dict[str, Node] = field(default_factory=dict)
    # Messages for a query's results (e.g. a SEARCH that matched more than the limit).
    notes: dict[str, list[dict[str, str]]] = field(default_factory=dict)


class _Ctx:
    """The ``functions.Context`` of one expression."""

    def __init__(self, request: _Request, period: int, qid: str) -> None:
        self._r = request
        self._qid = qid
        self.start = request.start
        self.end = request.end
        self.period = period

    def grid(self, period: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        return grid(self.start, self.end, period)

    def metrics(self, contains: str | None) -> list[Series]:
        out: list[Series] = []
        for qid, query in self._r.queries.items():
            if query.metric is None or (contains is not None and contains not in qid):
                continue
            value = self._r.values.get(qid)
            if isinstance(value, Series):
                out.append(value)
        return out

    async def search(self, query: str, stat: str, period: int) -> list[Series]:
        return await _search(self._r, self._qid, query, stat, period)

    async def search_aggregate(
        self, query: str, stat: str, period: int, function: str
    ) -> Series | None:
        return await _search_aggregate(self._r, self._qid, query, stat, period, function)


async def _found(
    r: _Request, qid: str, text: str, stat_text: str, period: int
) -> tuple[list[FoundSeries], Statistic]:
    """The series a SEARCH finds (at most the search limit, in a stable order)."""
    try:
        search = parse_search(text)
    except SearchError as exc:
        raise MathError(f"SEARCH: {exc}") from None
    stat = _math_stat(stat_text)
    if not valid_period(period):
        raise MathError(
            f"SEARCH: the period must be 1, 5, 10, 20, 30 or a multiple of 60, not {period}"
        )
    candidates = await list_metrics(
        r.f.store, r.f.tenant, r.f.now - LIST_WINDOW, namespace=search.namespace, limit=100_000
    )
    matched = sorted(
        (
            c
            for c in candidates
            if search.matches(Candidate(c.ref.namespace, c.ref.name, c.dimensions))
        ),
        key=lambda c: (c.ref.namespace, c.ref.name, sorted(c.dimensions.items())),
    )
    if len(matched) > r.search_limit:
        r.notes.setdefault(qid, []).append(
            {
                "Code": "MaxMetricsExceeded",
                "Value": f"SEARCH matched {len(matched)} metrics; the first {r.search_limit}"
                " are used",
            }
        )
    return matched[: r.search_limit], stat


async def _search(r: _Request, qid: str, text: str, stat_text: str, period: int) -> list[Series]:
    matched, stat = await _found(r, qid, text, stat_text, period)
    refs = [c.ref for c in matched]
    start = align_start(r.start_raw, r.f.now, period)
    values = await statistic_series(r.f, refs, stat, period, start, r.end, None)
    stamps = grid(start, r.end, period)
    out = []
    for c in matched:
        meta = _meta(c.ref.namespace, c.ref.name, c.dimensions, stat.name, period)
        out.append(Series(stamps, values[c.ref.series_id], period, _search_label(meta), meta))
    return out


async def _search_aggregate(
    r: _Request, qid: str, text: str, stat_text: str, period: int, function: str
) -> Series | None:
    matched, stat = await _found(r, qid, text, stat_text, period)
    if stat.distribution or not matched:
        return None
    start = align_start(r.start_raw, r.f.now, period)
    level = levels.choose_level(r.f.retention, period, start, r.f.now, False)
    table = await levels.fetch_across(
        r.f.store,
        level,
        r.f.tenant,
        [c.ref for c in matched],
        period,
        start,
        r.end,
        stat.aggregate,
        function,
        single_unit=all(len(c.units) <= 1 for c in matched),
    )
    stamps = grid(start, r.end, period)
    values = np.full(len(stamps), np.nan)
    b = table.column("b").to_numpy().astype(np.int64)
    v = table.column("v").to_numpy().astype(np.float64)
    keep = (b >= 0) & (b < len(stamps))
    values[b[keep]] = v[keep]
    return Series(stamps, values, period, label=function.lower())


def _math_stat(text: str) -> Statistic:
    try:
        return parse_statistic(text)
    except StatisticError as exc:
        raise MathError(str(exc)) from None


def _meta(
    namespace: str, name: str, dims: Mapping[str, str], stat: str, period: int
) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": dict(dims),
        "Stat": stat,
        "Period": period,
    }


def _search_label(meta: Mapping[str, Any]) -> str:
    dims = meta.get("Dimensions") or {}
    return " ".join([*(str(v) for _, v in sorted(dims.items())), meta["MetricName"]])


async def get_metric_data(
    f: Fetch,
    queries: Sequence[MetricQuery],
    start: int,
    end: int,
    *,
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
    timezone: str | None = None,
) -> list[Result]:
    """Evaluate the queries; results (ascending) for those with ``return_data``."""
    by_id = _check_queries(queries)
    periods = [q.period for q in queries if q.period] or [60]
    default_period = min(periods)
    request = _Request(f, by_id, start, end, search_limit, functions, default_period)
    request.start = align_start(start, f.now, default_period)
    if end <= request.start:
        raise QueryError(
            "InvalidParameterValue", "The parameter StartTime must be less than EndTime."
        )
    _check_grid(queries, request.start, end, default_period)
    for query in queries:
        if query.expression is not None:
            request.trees[query.id] = _parse_expression(query)
    _check_cycles(request)
    await asyncio.gather(*(_value(request, q.id) for q in queries if q.metric is not None))
    results: list[Result] = []
    for query in queries:
        if not query.return_data:
            continue
        try:
            value = await _value(request, query.id)
        except MathError as exc:
            raise QueryError("ValidationError", f"Error in expression {query.id}: {exc}") from None
        results.extend(_results(request, query, value, timezone))
    return results


def _check_grid(queries: Sequence[MetricQuery], start: int, end: int, default: int) -> None:
    """Refuse, before any work, a request whose period grid is too large to hold.

    Every query is evaluated on a dense grid of periods (math needs aligned series), so
    the grid, not the data, bounds the memory a request takes: one query of 1 s periods
    from 1970 would be 1.7 billion cells. CloudWatch answers at most 100,800 datapoints
    per call and has no data finer than its retention keeps; vigil allows ten such pages.
    """
    cells = 0
    for query in queries:
        period = query.period or default
        cells += -(-(end - start) // period)
    if cells > MAX_GRID_CELLS:
        raise QueryError(
            "InvalidParameterCombination",
            f"You have requested up to {cells} datapoints, which exceeds the limit of"
            f" {MAX_GRID_CELLS}. You may reduce the datapoints requested by increasing"
            " Period, or decreasing the time range.",
        )


def _check_queries(queries: Sequence[MetricQuery]) -> dict[str, MetricQuery]:
    if not queries:
        raise QueryError("InvalidParameterValue", "MetricDataQueries must not be empty.")
    if len(queries) > MAX_QUERIES:
        raise QueryError(
            "InvalidParameterValue",
            f"MetricDataQueries holds {len(queries)} queries; the limit is {MAX_QUERIES}.",
        )
    by_id: dict[str, MetricQuery] = {}
    for query in queries:
        if not ID_RE.match(query.id):
            raise QueryError(
                "InvalidParameterValue",
                f"The Id {query.id!r} is not valid: it must start with a lowercase letter"
                " and hold only letters, digits and underscores.",
            )
        if query.id in by_id:
            raise QueryError("InvalidParameterValue", f"The Id {query.id!r} is used twice.")
        if (query.metric is None) == (query.expression is None):
            raise QueryError(
                "InvalidParameterCombination",
                f"Query {query.id!r} must have exactly one of MetricStat and Expression.",
            )
        if query.metric is not None:
            check_stat(query.stat or "")
            check_period(query.period or 0, f"MetricStat.Period of query {query.id}")
        elif query.period is not None:
            check_period(query.period, f"Period of query {query.id}")
        by_id[query.id] = query
    if not any(q.return_data for q in queries):
        raise QueryError(
            "InvalidParameterValue", "At least one query must have ReturnData set to true."
        )
    return by_id


def _parse_expression(query: MetricQuery) -> Node:
    try:
        return parse(query.expression or "")
    except MathSyntaxError as exc:
        raise QueryError("ValidationError", f"Error in expression {query.id}: {exc}") from None


def _check_cycles(request: _Request) -> None:
    state: dict[str, int] = {}

    def visit(qid: str, path: list[str]) -> None:
        if state.get(qid) == 2:
            return
        if state.get(qid) == 1:
            cycle = " -> ".join([*path, qid])
            raise QueryError("ValidationError", f"Circular dependency between queries: {cycle}")
        state[qid] = 1
        for ref in references(request.trees.get(qid, _EMPTY)):
            if ref in request.queries:
                visit(ref, [*path, qid])
        state[qid] = 2

    for qid in request.trees:
        visit(qid, [])


_EMPTY: Node = parse("0")


async def _value(request: _Request, qid: str) -> Value:
    if qid in request.values:
        return request.values[qid]
    task = request.pending.get(qid)
    if task is None:
        task = request.pending[qid] = asyncio.ensure_future(_compute(request, qid))
    value = await task
    request.values[qid] = value
    return value


async def _compute(request: _Request, qid: str) -> Value:
    query = request.queries[qid]
    if query.metric is not None:
        return await _metric_stat(request, query)
    period = query.period or request.default_period
    ctx = _Ctx(request, period, qid)

    def ref(name: str) -> Any:
        if name in request.queries:
            return _value(request, name)
        return None

    evaluator = Evaluator(ctx, ref, request.functions)
    value = await evaluator.evaluate(request.trees[qid])
    if isinstance(value, float):
        stamps = grid(request.start, request.end, period)
        value = Series(stamps, np.full(len(stamps), value), period)
    return value


async def _metric_stat(request: _Request, query: MetricQuery) -> Series:
    assert query.metric is not None
    assert query.stat is not None
    assert query.period is not None
    stat = check_stat(query.stat)
    period = query.period
    start = align_start(request.start_raw, request.f.now, period)
    stamps = grid(start, request.end, period)
    metric = query.metric
    found = await exact_series(request.f.store, request.f.tenant, metric)
    meta = _meta(metric.namespace, metric.name, dict(metric.dimensions), stat.name, period)
    meta["Id"] = query.id
    if found is None:
        return Series(stamps, np.full(len(stamps), np.nan), period, metric.name, meta)
    ref, _ = found
    values = await statistic_series(request.f, [ref], stat, period, start, request.end, query.unit)
    return Series(stamps, values[ref.series_id], period, metric.name, meta)


def _results(
    request: _Request, query: MetricQuery, value: Value, timezone: str | None
) -> list[Result]:
    if isinstance(value, Series):
        series = [value]
        single = True
    elif isinstance(value, list):
        series = value
        single = False
    else:
        raise QueryError(
            "ValidationError",
            f"Error in expression {query.id}: the expression must produce a time series"
            " or an array of time series",
        )
    out = []
    for s in series:
        present = s.present
        label = _label(query, s, single, timezone)
        out.append(
            Result(
                query.id,
                label,
                [int(t) for t in s.timestamps[present]],
                [float(v) for v in s.values[present]],
                messages=list(request.notes.get(query.id, [])),
            )
        )
    return out


_DYNAMIC = re.compile(r"\$\{([A-Z_]+)(?:\('([^']*)'\))?\}")


def _label(query: MetricQuery, s: Series, single: bool, timezone: str | None) -> str:
    if query.label is None:
        if query.metric is not None:
            return query.metric.name
        return query.id if single or not s.label else s.label
    return _dynamic_label(query.label, s, timezone)


def _dynamic_label(template: str, s: Series, timezone: str | None) -> str:
    values = s.values[s.present]
    stamps = s.timestamps[s.present]

    def stat(fn: Callable[[Any], Any]) -> str:
        return _fmt(float(fn(values))) if len(values) else ""

    def when(index: int) -> str:
        if not len(stamps):
            return ""
        return _format_time(int(stamps[index]), timezone)

    def replace(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "PROP" and arg is not None:
            if arg.startswith("Dim."):
                return str(s.meta.get("Dimensions", {}).get(arg[4:], ""))
            value = s.meta.get(arg)
            return "" if value is None else str(value)
        simple: dict[str, Callable[[], str]] = {
            "LABEL": lambda: s.label,
            "AVG": lambda: stat(np.mean),
            "MIN": lambda: stat(np.min),
            "MAX": lambda: stat(np.max),
            "SUM": lambda: stat(np.sum),
            "FIRST": lambda: _fmt(float(values[0])) if len(values) else "",
            "LAST": lambda: _fmt(float(values[-1])) if len(values) else "",
            "DATAPOINT_COUNT": lambda: str(len(values)),
            "FIRST_TIME": lambda: when(0),
            "LAST_TIME": lambda: when(-1),
        }
        fn = simple.get(name)
        return fn() if fn is not None else match.group(0)

    return _DYNAMIC.sub(replace, template)


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.6g}"


def _format_time(stamp: int, timezone: str | None) -> str:
    tz = dt.UTC
    if timezone and re.match(r"^[+-]\d{4}$", timezone):
        sign = 1 if timezone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(timezone[1:3]), minutes=int(timezone[3:])))
    return dt.datetime.fromtimestamp(stamp, tz).strftime("%Y-%m-%dT%H:%M:%S%z")
