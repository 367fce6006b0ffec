"""GetMetricData: metric statistics and metric math expressions over one time range.

A request is a list of queries: metric statistics (namespace, name, exact dimensions,
statistic, period, optional unit) and metric math expressions that refer to them by id.
The start is aligned as CloudWatch does (``align_start``), every result is a grid of
periods from the aligned start to the end (exclusive), and periods without data are left
out of the answer. Statistics read the level that ``levels.choose_level`` picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.model.deadline import Deadline
from vigil.query import metricsinsights as mi
from vigil.query.metricmath import MathError, MathSyntaxError, parse
from vigil.query.metricmath.ast import Node
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS, Evaluator, references
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metricmath.series import Floats, Ints, Series, Value, grid
from vigil.query.metrics import levels
from vigil.query.metrics.fetch import Fetch, statistic_series
from vigil.query.metrics.labels import result_label, search_label, series_meta
from vigil.query.metrics.search import Candidate, SearchError, parse_search
from vigil.query.metrics.series import FoundSeries, exact_series, list_metrics
from vigil.query.metrics.spec import (
    ID_RE,
    LIST_WINDOW,
    MAX_GRID_CELLS,
    MAX_QUERIES,
    MetricQuery,
    QueryError,
    Result,
    align_start,
    check_period,
    check_stat,
    valid_period,
)
from vigil.query.metrics.statistics import Statistic, StatisticError, parse_statistic


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
    insights: dict[str, Any] = field(default_factory=dict)  # id → metricsinsights.Query
    # Messages for a query's results (e.g. a SEARCH that matched more than the limit).
    notes: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    deadline: Deadline | None = None  # the expressions' time bound (ExpressionTimeout)


class _Ctx:
    """The ``functions.Context`` of one expression."""

    def __init__(self, request: _Request, period: int, qid: str) -> None:
        self._r = request
        self._qid = qid
        self.start = request.start
        self.end = request.end
        self.period = period
        # metricmath.scope.RequestScope: what ANOMALY_DETECTION_BAND and
        # INSIGHT_RULE_METRIC read beyond their arguments.
        self.tenant = request.f.tenant
        self.now = request.f.now
        self.queries = request.queries

    async def value(self, qid: str) -> Value:
        return await _value(self._r, qid)

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
        meta = series_meta(c.ref.namespace, c.ref.name, c.dimensions, stat.name, period)
        out.append(Series(stamps, values[c.ref.series_id], period, search_label(meta), meta))
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


async def get_metric_data(
    f: Fetch,
    queries: Sequence[MetricQuery],
    start: int,
    end: int,
    *,
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
    timezone: str | None = None,
    deadline: Deadline | None = None,
) -> list[Result]:
    """Evaluate the queries; results (ascending) for those with ``return_data``. With a
    ``deadline``, math expressions stop at it (``ExpressionTimeout``)."""
    found = await get_metric_grids(
        f,
        queries,
        start,
        end,
        search_limit=search_limit,
        functions=functions,
        timezone=timezone,
        deadline=deadline,
    )
    return [r.to_result() for r in found]


@dataclass(slots=True)
class GridResult:
    """A result as numpy arrays on its whole period grid (NaN: no data point): what a
    dashboard draws without a list of Python numbers per point in between."""

    id: str
    label: str
    timestamps: Ints
    values: Floats
    messages: list[dict[str, str]]

    def to_result(self) -> Result:
        present = ~np.isnan(self.values)
        return Result(
            self.id,
            self.label,
            self.timestamps[present].astype(np.int64).tolist(),
            self.values[present].astype(np.float64).tolist(),
            messages=self.messages,
        )


async def get_metric_grids(
    f: Fetch,
    queries: Sequence[MetricQuery],
    start: int,
    end: int,
    *,
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
    timezone: str | None = None,
    deadline: Deadline | None = None,
) -> list[GridResult]:
    """``get_metric_data``'s results before they become lists."""
    by_id = _check_queries(queries)
    periods = [q.period for q in queries if q.period] or [60]
    default_period = min(periods)
    request = _Request(f, by_id, start, end, search_limit, functions, default_period)
    request.deadline = deadline
    request.start = align_start(start, f.now, default_period)
    if end <= request.start:
        raise QueryError("ValidationError", "The parameter EndTime must be greater than StartTime.")
    _check_grid(queries, request.start, end, default_period)
    for query in queries:
        if query.expression is None:
            continue
        if mi.looks_like_insights(query.expression):
            request.insights[query.id] = _parse_insights(query, request.insights)
        else:
            request.trees[query.id] = _parse_expression(query)
    _check_cycles(request)
    await asyncio.gather(*(_value(request, q.id) for q in queries if q.metric is not None))
    results: list[GridResult] = []
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


def _parse_insights(query: MetricQuery, seen: dict[str, Any]) -> Any:
    if seen:
        raise QueryError(
            "ValidationError",
            f"Error in expression {query.id}: a GetMetricData request can hold only one"
            f" Metrics Insights query ({next(iter(seen))} is one)",
        )
    try:
        return mi.parse(query.expression or "")
    except mi.InsightsSyntaxError as exc:
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
    if qid in request.insights:
        outcome = await mi.evaluate(
            request.insights[qid], request.f, request.start_raw, request.end, period
        )
        request.notes.setdefault(qid, []).extend(outcome.messages)
        return outcome.value
    ctx = _Ctx(request, period, qid)

    def ref(name: str) -> Any:
        if name in request.queries:
            return _value(request, name)
        return None

    evaluator = Evaluator(ctx, ref, request.functions, request.deadline)
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
    meta = series_meta(metric.namespace, metric.name, dict(metric.dimensions), stat.name, period)
    meta["Id"] = query.id
    if found is None:
        return Series(stamps, np.full(len(stamps), np.nan), period, metric.name, meta)
    ref, _ = found
    values = await statistic_series(request.f, [ref], stat, period, start, request.end, query.unit)
    return Series(stamps, values[ref.series_id], period, metric.name, meta)


def _results(
    request: _Request, query: MetricQuery, value: Value, timezone: str | None
) -> list[GridResult]:
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
        label = result_label(query, s, single, timezone)
        messages = list(request.notes.get(query.id, []))
        out.append(GridResult(query.id, label, s.timestamps, s.values, messages))
    return out
