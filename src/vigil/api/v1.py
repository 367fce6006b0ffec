"""The ``/api/v1`` read API: logs, metrics and traces as JSON (see docs/api.md).

Handlers only parse parameters, call query/ and shape the answer; every list is bounded
(``limit``) and paginated with an opaque ``cursor`` (``next_cursor`` in the answer).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.auth import TenantError, tenant_of
from vigil.api.params import ParamError, Params, make_cursor, rfc3339
from vigil.api.responses import JSONResponse, error
from vigil.api.v1_traces import trace_id_param, trace_logs
from vigil.query import logs as logq
from vigil.query import metrics as metq
from vigil.query import traces as trq
from vigil.query import xray as xq
from vigil.query.xrayfilter import FilterError, compile_filter, parse
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import QueryTimeout, Store, StoreError
from vigil.telemetry import SelfMetrics

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
Handler = Callable[[Request], Awaitable[Response]]


class ReadApi:
    def __init__(
        self,
        store: Store,
        registry: LogGroupRegistry,
        metrics: SelfMetrics,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/logs", self._wrap("logs", self.search_logs)),
            Route("/api/v1/logs/groups", self._wrap("log_groups", self.log_groups)),
            Route(
                "/api/v1/logs/groups/{group:path}/retention",
                self._wrap("log_group_retention", self.set_retention),
                methods=["PUT"],
            ),
            Route("/api/v1/metrics/series", self._wrap("metric_series", self.metric_series)),
            Route("/api/v1/metrics/datapoints", self._wrap("datapoints", self.datapoints)),
            Route("/api/v1/traces", self._wrap("traces", self.search_traces)),
            Route("/api/v1/traces/{trace_id}", self._wrap("trace", self.trace)),
        ]

    def _wrap(
        self, name: str, handler: Callable[[Request, str, Params], Awaitable[Response]]
    ) -> Handler:
        histogram = self._metrics.query_seconds.labels(name)

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                return await handler(
                    request, tenant_of(request.headers), Params(request.query_params)
                )
            except ParamError as exc:
                return error(400, "invalid_parameter", exc.message, exc.field)
            except TenantError as exc:
                return error(400, "invalid_parameter", str(exc), "X-Vigil-Tenant")
            except QueryTimeout as exc:
                return error(504, "timeout", str(exc))
            except StoreError as exc:
                return error(500, "store_error", str(exc).splitlines()[0][:500])
            finally:
                histogram.observe(time.perf_counter() - started)

        return endpoint

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
        now = self._clock()
        f = self._series_filter(tenant, p)
        if f.namespace is None:
            raise ParamError("namespace", "is required")
        if f.name is None:
            raise ParamError("name", "is required")
        statistic = p.text("statistic", "Average") or "Average"
        if not metq.valid_statistic(statistic):
            raise ParamError(
                "statistic", f"{statistic!r} is not one of {', '.join(metq.STATISTICS)} or pNN(.NN)"
            )
        period = p.integer("period", 60, lo=1, hi=86400 * 366)
        end = p.time("end", now) or now
        start = p.time("start", now)
        start = end - 3 * 3600 * 10**9 if start is None else start
        if start >= end:
            raise ParamError("start", "must be before end")
        if (end - start) // (period * 10**9) > metq.MAX_DATAPOINTS:
            limit = metq.MAX_DATAPOINTS
            raise ParamError("period", f"the range holds more than {limit} periods")
        points = await metq.datapoints(
            self._store, f, statistic, period, start, end, p.text("unit")
        )
        return JSONResponse(
            {
                "namespace": f.namespace,
                "name": f.name,
                "dimensions": f.dimensions,
                "statistic": statistic,
                "period": period,
                "datapoints": points,
            }
        )

    async def search_traces(self, request: Request, tenant: str, p: Params) -> Response:
        now = self._clock()
        if p.text("filter") is not None:
            return await self._filter_traces(tenant, p, now)
        min_ms, max_ms = p.number("min_duration_ms"), p.number("max_duration_ms")
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


def _is_int_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ParamError("regex", f"invalid regular expression: {exc}") from None
