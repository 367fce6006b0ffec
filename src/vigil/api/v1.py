"""The ``/api/v1`` read API: logs, metrics and traces as JSON (see docs/api.md).

Handlers only parse parameters, call query/ and shape the answer; every list is bounded
(``limit``) and paginated with an opaque ``cursor`` (``next_cursor`` in the answer).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.endpoint import Endpoint, Handler, json_endpoint
from vigil.api.params import ParamError, Params, make_cursor, parse_time
from vigil.api.responses import JSONResponse, error
from vigil.api.v1_traces import trace_id_param, trace_logs
from vigil.model.deadline import Deadline, ExpressionTimeout
from vigil.model.timefmt import rfc3339
from vigil.query import metrics as md
from vigil.query import traces as xq
from vigil.query.logs import search as logq
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metrics import levels as metric_levels
from vigil.query.metrics import listing as metq
from vigil.query.metrics.statistics import StatisticError, parse_statistic
from vigil.query.traces import lookup as trq
from vigil.query.xrayfilter import FilterError, compile_filter, parse
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention
from vigil.syntax import regex as user_regex
from vigil.telemetry import SelfMetrics

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class ReadApi:
    def __init__(
        self,
        store: Store,
        registry: LogGroupRegistry,
        metrics: SelfMetrics,
        clock: Callable[[], int] = time.time_ns,
        metric_retention: MetricRetention | None = None,
        metric_search_limit: int = 500,
        metric_functions: FunctionTable | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._clock = clock
        self._retention = metric_retention or MetricRetention()
        self._search_limit = metric_search_limit
        # metric math's functions (the core's table: anomaly bands, insight rule metrics)
        self._functions = metric_functions

    def _endpoint(self, name: str, handler: Handler) -> Endpoint:
        return json_endpoint(handler, self._metrics.query_seconds.labels(name))

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/logs", self._endpoint("logs", self.search_logs)),
            Route("/api/v1/logs/groups", self._endpoint("log_groups", self.log_groups)),
            Route(
                "/api/v1/logs/groups/{group:path}/retention",
                self._endpoint("log_group_retention", self.set_retention),
                methods=["PUT"],
            ),
            Route("/api/v1/metrics/series", self._endpoint("metric_series", self.metric_series)),
            Route("/api/v1/metrics/datapoints", self._endpoint("datapoints", self.datapoints)),
            Route(
                "/api/v1/metrics/query",
                self._endpoint("metric_query", self.metric_query),
                methods=["POST"],
            ),
            Route("/api/v1/metrics/functions", self._endpoint("metric_functions", self.functions)),
            Route("/api/v1/traces", self._endpoint("traces", self.search_traces)),
            Route("/api/v1/traces/{trace_id}", self._endpoint("trace", self.trace)),
        ]

    async def search_logs(self, request: Request, tenant: str, p: Params) -> Response:
        now = self._clock()
        severity = p.text("severity")
        min_severity = p.text("min_severity")
        for field, value in (("severity", severity), ("min_severity", min_severity)):
            if value and value.upper() not in logq.SEVERITY_RANGES:
                raise ParamError(
                    field, f"{value!r} is not one of {', '.join(logq.SEVERITY_RANGES)}"
                )
        trace_id = p.text("trace_id")
        if trace_id and not _HEX32.match(trace_id):
            raise ParamError("trace_id", "must be 32 hex digits")
        regex = p.text("regex")
        if regex:
            _check_regex(regex)
        search = logq.LogSearch(
            tenant=tenant,
            groups=p.all("group"),
            streams=p.all("stream"),
            start_ns=p.time("start", now),
            end_ns=p.time("end", now),
            contains=p.text("q"),
            regex=regex,
            severity=severity,
            min_severity=min_severity,
            attributes=p.pairs("attr"),
            trace_id=trace_id,
            limit=p.integer("limit", 100, lo=1, hi=10_000),
            cursor=p.cursor("cursor", _is_int_pair),
        )
        rows, cursor = await logq.search_logs(self._store, search)
        return JSONResponse({"logs": rows, "next_cursor": make_cursor(cursor) if cursor else None})

    async def log_groups(self, request: Request, tenant: str, p: Params) -> Response:
        groups, stats = await asyncio.gather(
            asyncio.to_thread(self._registry.groups, tenant), logq.list_groups(self._store, tenant)
        )
        prefix = p.text("prefix") or ""
        out = []
        for g in groups:
            if not g.name.startswith(prefix):
                continue
            s = stats.get(g.name, {})
            out.append(
                {
                    "name": g.name,
                    "created": rfc3339(g.created_ms * 10**6),
                    "created_ms": g.created_ms,
                    "retention_days": g.retention_days,
                    "origin": g.origin,
                    "stored_events": s.get("stored_events", 0),
                    "stored_bytes": s.get("stored_bytes", 0),
                    "streams": s.get("streams", 0),
                }
            )
        return JSONResponse({"log_groups": out})

    async def set_retention(self, request: Request, tenant: str, p: Params) -> Response:
        """Body ``{"retention_days": N}`` (1..3653) or ``{"retention_days": null}`` (default)."""
        group = request.path_params["group"]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ParamError("body", "is not JSON") from None
        days = body.get("retention_days", "missing") if isinstance(body, dict) else "missing"
        if days == "missing":
            raise ParamError("retention_days", "is required (a number of days, or null)")
        if days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3653
        ):
            raise ParamError(
                "retention_days", "must be a whole number of days from 1 to 3653, or null"
            )
        found = await asyncio.to_thread(self._registry.set_retention, tenant, group, days)
        if not found:
            return error(404, "not_found", f"log group {group!r} not found")
        return JSONResponse({"log_group": group, "retention_days": days})

    def _series_filter(self, tenant: str, p: Params) -> metq.SeriesFilter:
        return metq.SeriesFilter(
            tenant=tenant,
            namespace=p.text("namespace"),
            name=p.text("name"),
            dimensions=p.pairs("dimension"),
        )

    async def metric_series(self, request: Request, tenant: str, p: Params) -> Response:
        rows, cursor = await metq.list_series(
            self._store,
            self._series_filter(tenant, p),
            p.integer("limit", 500, lo=1, hi=10_000),
            p.cursor("cursor", lambda c: isinstance(c, list) and len(c) == 3),
        )
        return JSONResponse(
            {"series": rows, "next_cursor": make_cursor(cursor) if cursor else None}
        )

    async def datapoints(self, request: Request, tenant: str, p: Params) -> Response:
        """One metric (its full dimension set) by statistic and period, from the stored
        resolution that answers it exactly (``level`` in the answer)."""
        now = self._clock()
        f = self._series_filter(tenant, p)
        if f.namespace is None:
            raise ParamError("namespace", "is required")
        if f.name is None:
            raise ParamError("name", "is required")
        statistic = p.text("statistic", "Average") or "Average"
        try:
            stat = parse_statistic(statistic)
        except StatisticError as exc:
            raise ParamError("statistic", str(exc)) from None
        period = p.integer("period", 60, lo=1, hi=86400 * 366)
        if not md.valid_period(period):
            raise ParamError("period", "must be 1, 5, 10, 20, 30 or a multiple of 60")
        end = p.time("end", now) or now
        start = p.time("start", now)
        start = end - 3 * 3600 * 10**9 if start is None else start
        if start >= end:
            raise ParamError("start", "must be before end")
        if (end - start) // (period * 10**9) > metq.MAX_DATAPOINTS:
            limit = metq.MAX_DATAPOINTS
            raise ParamError("period", f"the range holds more than {limit} periods")
        start_s = start // 10**9
        start_s -= start_s % period  # periods are aligned to the epoch
        end_s = -(-end // 10**9)
        metric = md.MetricSpec(f.namespace, f.name, tuple(sorted(f.dimensions.items())))
        query = md.MetricQuery(
            id="m",
            metric=metric,
            stat=statistic,
            period=period,
            unit=p.text("unit"),
        )
        fetch = md.Fetch(self._store, self._retention, tenant, now // 10**9)
        (result,) = await _metric_data(fetch, [query], start_s, end_s)
        unit = p.text("unit")
        unit_of = (
            (lambda _t: unit)
            if unit is not None
            else await md.period_units(fetch, metric, period, start_s, end_s)
        )
        level = metric_levels.choose_level(
            self._retention, period, start_s, now // 10**9, stat.distribution
        )
        return JSONResponse(
            {
                "namespace": f.namespace,
                "name": f.name,
                "dimensions": f.dimensions,
                "statistic": statistic,
                "period": period,
                "level": level.name,
                "datapoints": [
                    {"timestamp": rfc3339(t * 10**9), "time": t, "value": v, "unit": unit_of(t)}
                    for t, v in zip(result.timestamps, result.values, strict=True)
                ],
            }
        )

    async def metric_query(self, request: Request, tenant: str, p: Params) -> Response:
        """GetMetricData as JSON: metric statistics and math expressions over one range."""
        now = self._clock()
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ParamError("body", f"is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ParamError("body", "must be a JSON object")
        end = _body_time(body, "end", now) or now
        start = _body_time(body, "start", now)
        start = end - 3 * 3600 * 10**9 if start is None else start
        raw = body.get("queries")
        if not isinstance(raw, list) or not raw:
            raise ParamError("queries", "must be a non-empty list")
        queries = [_body_query(q, i) for i, q in enumerate(raw)]
        fetch = md.Fetch(self._store, self._retention, tenant, now // 10**9)
        results = await _metric_data(
            fetch,
            queries,
            start // 10**9,
            -(-end // 10**9),
            search_limit=self._search_limit,
            timezone=body.get("timezone") if isinstance(body.get("timezone"), str) else None,
            metrics=self._metrics,
            functions=self._functions,
        )
        return JSONResponse(
            {
                "results": [
                    {
                        "id": r.id,
                        "label": r.label,
                        "timestamps": [rfc3339(t * 10**9) for t in r.timestamps],
                        "times": r.timestamps,
                        "values": r.values,
                        "messages": r.messages,
                    }
                    for r in results
                ]
            }
        )

    async def functions(self, request: Request, tenant: str, p: Params) -> Response:
        return JSONResponse(
            {
                "functions": (self._functions or DEFAULT_FUNCTIONS).names(),
                "statistics": [
                    *metq.STATISTICS,
                    "pNN.NN",
                    "tmNN",
                    "TM(a%:b%)",
                    "TM(a:b)",
                    "wmNN",
                    "WM(a%:b%)",
                    "tcNN",
                    "TC(a%:b%)",
                    "tsNN",
                    "TS(a%:b%)",
                    "PR(a:b)",
                    "IQM",
                ],
            }
        )

    async def search_traces(self, request: Request, tenant: str, p: Params) -> Response:
        now = self._clock()
        if p.text("filter") is not None:
            return await self._filter_traces(tenant, p, now)
        min_ms = p.number("min_duration_ms", lo=0, hi=1e12)
        max_ms = p.number("max_duration_ms", lo=0, hi=1e12)
        search = trq.TraceSearch(
            tenant=tenant,
            service=p.text("service"),
            name=p.text("name"),
            min_duration_ns=None if min_ms is None else int(min_ms * 1e6),
            max_duration_ns=None if max_ms is None else int(max_ms * 1e6),
            errors_only=p.flag("error"),
            start_ns=p.time("start", now),
            end_ns=p.time("end", now),
            limit=p.integer("limit", 20, lo=1, hi=1000),
            cursor=p.cursor(
                "cursor", lambda c: isinstance(c, list) and len(c) == 2 and isinstance(c[0], int)
            ),
        )
        rows, cursor = await trq.search_traces(self._store, search)
        await self._add_log_counts(tenant, rows)
        return JSONResponse(
            {"traces": rows, "next_cursor": make_cursor(cursor) if cursor else None}
        )

    async def _filter_traces(self, tenant: str, p: Params, now: int) -> Response:
        """``filter``: an X-Ray filter expression; X-Ray trace summaries plus ``trace_id``,
        ``log_count``. ``start`` defaults to an hour before ``end`` (default now)."""
        text = p.required("filter")
        try:
            compiled = compile_filter(parse(text))
        except FilterError as exc:
            raise ParamError("filter", str(exc)) from None
        end = p.time("end", now) or now
        start = p.time("start", now)
        start = end - xq.HOUR_NS if start is None else start
        if start >= end:
            raise ParamError("start", "must be before end")
        search = xq.SummarySearch(
            tenant=tenant,
            start_ns=start,
            end_ns=end,
            filter=compiled,
            limit=p.integer("limit", 20, lo=1, hi=1000),
            cursor=p.cursor(
                "cursor", lambda c: isinstance(c, list) and len(c) == 2 and isinstance(c[0], int)
            ),
        )
        rows, cursor = await xq.search_summaries(self._store, search)
        for row in rows:
            row["trace_id"] = row["Id"][2:].replace("-", "")
        await self._add_log_counts(tenant, rows)
        return JSONResponse(
            {"traces": rows, "next_cursor": make_cursor(list(cursor)) if cursor else None}
        )

    async def _add_log_counts(self, tenant: str, rows: list[dict[str, Any]]) -> None:
        """Each summary says how many log lines carry its trace id."""
        if not rows:
            return
        starts = [
            int(r["start_time_unix_nano"])
            if "start_time_unix_nano" in r
            else int(r["StartTime"] * 1e9)
            for r in rows
        ]
        counts = await xq.log_counts(
            self._store,
            tenant,
            [r["trace_id"] for r in rows],
            min(starts),
            max(starts) + xq.HOUR_NS,
        )
        for row in rows:
            row["log_count"] = counts.get(row["trace_id"], 0)

    async def trace(self, request: Request, tenant: str, p: Params) -> Response:
        """The trace as a span tree, with its log lines (``logs=false`` leaves them out)."""
        text = request.path_params["trace_id"]
        trace_id = trace_id_param(text)
        trace = await trq.get_trace(self._store, tenant, trace_id)
        if trace is None:
            return error(404, "not_found", f"trace {text} not found")
        if p.flag("logs", True):
            logs, count = await trace_logs(
                self._store, tenant, trace_id, p.integer("log_limit", 1000, lo=1, hi=10_000)
            )
            trace["log_count"] = count
            trace["logs"] = logs
        return JSONResponse(trace)


async def _metric_data(
    fetch: md.Fetch,
    queries: list[md.MetricQuery],
    start: int,
    end: int,
    search_limit: int = 500,
    timezone: str | None = None,
    metrics: SelfMetrics | None = None,
    functions: FunctionTable | None = None,
) -> list[md.Result]:
    """``md.get_metric_data`` with its query errors as 400s naming the query, its math
    bounded in time (counted on /metrics when ``metrics`` is given)."""
    started = time.perf_counter()
    try:
        return await md.get_metric_data(
            fetch,
            queries,
            start,
            end,
            search_limit=search_limit,
            functions=functions if functions is not None else DEFAULT_FUNCTIONS,
            timezone=timezone,
            deadline=Deadline(),
        )
    except md.QueryError as exc:
        raise ParamError(_query_field(exc), exc.message, "invalid_query") from None
    except ExpressionTimeout as exc:
        if metrics is not None:
            metrics.expression_overruns.labels("metric-math").inc()
        raise ParamError("queries", str(exc), "expression_timeout") from None
    finally:
        if metrics is not None:
            elapsed = time.perf_counter() - started
            metrics.expression_seconds.labels("metric-math").observe(elapsed)


def _query_field(exc: md.QueryError) -> str:
    match = re.search(r"(?:query|expression) ([a-z][A-Za-z0-9_]*)", exc.message)
    return f"queries.{match.group(1)}" if match else "queries"


def _body_time(body: dict[str, Any], field: str, now: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_time(field, str(value), now)
    if isinstance(value, str):
        return parse_time(field, value, now)
    raise ParamError(field, "must be a time (RFC 3339, Unix seconds or now-15m)")


def _body_query(q: Any, index: int) -> md.MetricQuery:
    where = f"queries[{index}]"
    if not isinstance(q, dict):
        raise ParamError(where, "must be an object")
    qid = q.get("id")
    if not isinstance(qid, str):
        raise ParamError(f"{where}.id", "is required")
    for key in ("label", "expression", "unit"):
        if q.get(key) is not None and not isinstance(q[key], str):
            raise ParamError(f"{where}.{key}", "must be a string")
    query = md.MetricQuery(
        id=qid,
        label=q.get("label"),
        return_data=bool(q.get("return_data", True)),
        period=q.get("period"),
        expression=q.get("expression"),
    )
    if query.period is not None and (
        not isinstance(query.period, int) or isinstance(query.period, bool)
    ):
        raise ParamError(f"{where}.period", "must be an integer")
    if query.expression is None:
        for key in ("namespace", "name", "stat"):
            if not isinstance(q.get(key), str):
                raise ParamError(f"{where}.{key}", "is required with a metric query")
        dims = q.get("dimensions") or {}
        if not isinstance(dims, dict):
            raise ParamError(f"{where}.dimensions", "must be an object of name: value")
        query.metric = md.MetricSpec(
            q["namespace"], q["name"], tuple(sorted((str(k), str(v)) for k, v in dims.items()))
        )
        query.stat, query.unit = q["stat"], q.get("unit")
        query.period = query.period or 60
    return query


def _is_int_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)


def _check_regex(pattern: str) -> None:
    """The store runs the regex with RE2: refuse here what RE2 would refuse there."""
    try:
        user_regex.check(pattern)
    except user_regex.RegexError as exc:
        raise ParamError("regex", f"invalid regular expression: {exc.reason}") from None
