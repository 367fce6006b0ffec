"""``/api/v1/logs/…`` routes of the Logs pillar (what ``vigil logs`` talks to).

* ``POST /api/v1/logs/insights`` ``{"query", "groups": [...], "start", "end", "limit"}`` →
  ``{"query_id"}``; times as in the read API (RFC 3339, Unix seconds, ``now-1h``).
* ``GET /api/v1/logs/insights/{id}[?wait=MS]`` → ``{"status", "results": [{field: value}],
  "fields": [...], "statistics"}``; results may come while the status is still Running
  (the final rows, before the counts of the statistics). ``wait`` (≤ 5000) holds the
  answer until it moves on (rows, if none yet, else the end) or MS pass: a long poll.
  ``DELETE`` stops it.
* ``GET /api/v1/logs/tail?group=G[&filter=PATTERN][&severity=S|&min_severity=S]
  [&cursor=C][&limit=N]`` → matching events in the order they were ingested
  (``next_cursor`` resumes after the last one; without a cursor, the newest ``limit``
  matching events). Severity as ``/api/v1/logs`` reads it (query/logs/severity.py). Only
  events stamped within the last day are followed.
* ``POST /api/v1/logs/scheduled-queries/{name}/run`` runs a scheduled query now.
Errors: the read API's shape (400 naming the field, 404, 504); a query that does not parse
or cannot run is ``malformed_query`` with the character offsets it concerns (``start``,
``end``, end exclusive) so that an editor can underline them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.endpoint import json_endpoint
from vigil.api.params import ParamError, Params, make_cursor, parse_time
from vigil.api.responses import JSONResponse, error
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import QueryRegistry, QueryRequest, TooManyQueries
from vigil.query.logs import events as logevents
from vigil.query.logs import severity
from vigil.rules.scheduled_queries import ScheduledQueryManager, UnknownScheduledQuery
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import Store
from vigil.syntax.filterpattern import PatternError
from vigil.syntax.filterpattern import parse as parse_pattern

TAIL_WINDOW_NS = 86_400 * 10**9


class LogsApi:
    def __init__(
        self,
        store: Store,
        registry: LogGroupRegistry,
        queries: QueryRegistry,
        scheduled: ScheduledQueryManager,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._registry = registry
        self._queries = queries
        self._scheduled = scheduled
        self._clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/logs/insights", json_endpoint(self.start), methods=["POST"]),
            Route(
                "/api/v1/logs/insights/{query_id}",
                json_endpoint(self.result),
                methods=["GET", "DELETE"],
            ),
            Route("/api/v1/logs/tail", json_endpoint(self.tail)),
            Route(
                "/api/v1/logs/scheduled-queries/{name}/run",
                json_endpoint(self.run_scheduled),
                methods=["POST"],
            ),
        ]

    async def start(self, request: Request, tenant: str, _: Params) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ParamError("body", "is not JSON") from None
        if not isinstance(body, dict):
            raise ParamError("body", "must be a JSON object")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ParamError("query", "is required")
        groups = body.get("groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ParamError("groups", "must be a list of log group names")
        now = self._clock()
        start = parse_time("start", str(body.get("start", "now-1h")), now)
        end = parse_time("end", str(body.get("end", "now")), now)
        if end < start:
            raise ParamError("start", "must be before end")
        limit = body.get("limit")
        if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 10_000):
            raise ParamError("limit", "must be between 1 and 10000")
        try:
            query = parse_query(text)
        except QuerySyntaxError as exc:
            return _malformed(exc)
        known = {g.name for g in await asyncio.to_thread(self._registry.groups, tenant)}
        if query.source is not None:
            groups = sorted(n for n in known if n.startswith(query.source.prefixes))
        if not groups:
            raise ParamError("groups", "name at least one log group (or use SOURCE)")
        for group in groups:
            if group not in known:
                return error(404, "not_found", f"log group {group} does not exist", "groups")
        req = QueryRequest(tenant, text, query, groups, start // 10**6, end // 10**6, limit)
        try:
            query_id = await self._queries.submit(req)
        except QueryError as exc:
            return _malformed(exc)
        except TooManyQueries as exc:
            return error(429, "too_many_queries", str(exc))
        return JSONResponse({"query_id": query_id}, status_code=202)

    async def result(self, request: Request, tenant: str, p: Params) -> Response:
        query_id = request.path_params["query_id"]
        if request.method == "DELETE":
            stopped = self._queries.stop(tenant, query_id)
            if stopped is None:
                return error(404, "not_found", f"query {query_id} not found")
            return JSONResponse({"stopped": stopped})
        wait = p.integer("wait", 0, lo=0, hi=5000)
        info = self._queries.get(tenant, query_id)
        if info is None:
            return error(404, "not_found", f"query {query_id} not found")
        if wait:
            await self._queries.wait_for(info, wait / 1000)
        answer: dict[str, Any] = {"query_id": query_id, "status": info.status}
        if info.error:
            answer["error"] = info.error
        if info.result is not None:
            fields: list[str] = []
            for row in info.result.rows:
                fields.extend(f for f, _ in row if f not in fields)
            answer["fields"] = fields
            answer["results"] = [dict(row) for row in info.result.rows]
            answer["statistics"] = info.result.statistics
        return JSONResponse(answer)

    async def tail(self, request: Request, tenant: str, _: Params) -> Response:
        p = Params(request.query_params)
        group = p.required("group")
        try:
            pattern = parse_pattern(p.text("filter") or "")
        except PatternError as exc:
            raise ParamError("filter", str(exc)) from None
        limit = p.integer("limit", 100, lo=1, hi=10_000)
        levels: dict[str, str | None] = {}
        for name in ("severity", "min_severity"):
            value = p.text(name)
            try:
                levels[name] = severity.check(value) if value else None
            except severity.SeverityError as exc:
                raise ParamError(name, str(exc)) from None
        cursor = p.cursor(
            "cursor",
            lambda c: isinstance(c, list) and len(c) == 3 and all(isinstance(x, int) for x in c),
        )
        if self._registry.get(tenant, group) is None:
            return error(404, "not_found", f"log group {group} does not exist", "group")
        events, next_cursor = await logevents.tail_events(
            self._store,
            tenant,
            group,
            pattern,
            since_ns=self._clock() - TAIL_WINDOW_NS,
            after=tuple(cursor) if cursor else None,
            limit=limit,
            now_ms=self._clock() // 10**6,
            condition=severity.condition(levels["severity"], levels["min_severity"]),
        )
        return JSONResponse(
            {
                "events": [
                    {
                        "timestamp": e.timestamp_ms,
                        "ingestion_time": e.ingestion_ms,
                        "log_stream": e.stream,
                        "message": e.message,
                    }
                    for e in events
                ],
                "next_cursor": make_cursor(list(next_cursor)),
            }
        )

    async def run_scheduled(self, request: Request, tenant: str, _: Params) -> Response:
        try:
            query_id = await self._scheduled.run_now(tenant, request.path_params["name"])
        except UnknownScheduledQuery:
            return error(404, "not_found", "The specified scheduled query does not exist.")
        return JSONResponse({"query_id": query_id})


def _malformed(exc: QueryError) -> Response:
    body = {
        "code": "malformed_query",
        "message": exc.message,
        "field": "query",
        "start": exc.start,
        "end": max(exc.end, exc.start),
    }
    return JSONResponse({"error": body}, status_code=400)
