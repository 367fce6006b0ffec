"""``/api/v1`` routes of the traces pillar: the service map and the logs of a trace.

* ``GET /api/v1/service-map`` — ``start``, ``end`` (default: the last hour): nodes (services
  with their type, and the remote things they call) and edges caller → callee with request,
  error, fault and throttle counts, latency (average, p50/p90/p99 bucket bounds) and a
  histogram (power-of-two millisecond buckets).
* ``GET /api/v1/traces/{trace_id}/logs`` — log lines carrying the trace id (32 hex digits or
  the X-Ray form), oldest first; ``limit`` (≤ 10,000).
Trace search by X-Ray filter expression is ``GET /api/v1/traces?filter=…`` (api/v1.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.endpoint import Endpoint, Handler, json_endpoint
from vigil.api.params import ParamError, Params
from vigil.api.responses import JSONResponse
from vigil.model.timefmt import rfc3339
from vigil.model.xray import parse_trace_id
from vigil.query import traces as xq
from vigil.query.logs import search as logq
from vigil.query.traces.lookup import trace_window
from vigil.query.traces.servicegraph import ServiceGraphKeeper
from vigil.store.interface import Store
from vigil.telemetry import SelfMetrics

MAX_WINDOW_NS = 31 * 86400 * 10**9


def trace_id_param(text: str) -> str:
    """A trace id from the path: 32 hex digits or ``1-xxxxxxxx-yyyy…``; lower-case hex."""
    raw = parse_trace_id(text)
    if raw is None:
        raise ParamError("trace_id", "must be 32 hex digits or an X-Ray trace id")
    return raw.hex()


async def trace_logs(
    store: Store, tenant: str, trace_id: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(log lines of the trace oldest first, how many there are) within an hour of it."""
    window = await trace_window(store, tenant, [trace_id])
    now = time.time_ns()
    lo, hi = window if window is not None else (now - MAX_WINDOW_NS, now)
    counts = await xq.log_counts(store, tenant, [trace_id], lo, hi)
    search = logq.LogSearch(
        tenant=tenant,
        trace_id=trace_id,
        start_ns=lo - xq.HOUR_NS,
        end_ns=hi + xq.HOUR_NS,
        limit=limit,
    )
    rows, _ = await logq.search_logs(store, search)
    rows.reverse()
    return rows, counts.get(trace_id, 0)


class TracesApi:
    def __init__(
        self,
        store: Store,
        metrics: SelfMetrics,
        clock: Callable[[], int] = time.time_ns,
        graph: ServiceGraphKeeper | None = None,
    ) -> None:
        self._store = store
        self._graph = graph or ServiceGraphKeeper(store)
        self._metrics = metrics
        self._clock = clock

    def _endpoint(self, name: str, handler: Handler) -> Endpoint:
        return json_endpoint(handler, self._metrics.query_seconds.labels(name))

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/service-map", self._endpoint("service_map", self.service_map)),
            Route("/api/v1/traces/{trace_id}/logs", self._endpoint("trace_logs", self.logs)),
        ]

    async def service_map(self, request: Request, tenant: str, p: Params) -> Response:
        now = self._clock()
        end = p.time("end", now) or now
        start = p.time("start", now)
        start = max(0, end - xq.HOUR_NS) if start is None else start
        if start >= end:
            raise ParamError("start", "must be before end")
        if end - start > MAX_WINDOW_NS:
            raise ParamError("start", "the window is longer than 31 days")
        graph = await xq.service_graph(self._store, tenant, start, end, keeper=self._graph)
        keys = sorted(graph.nodes)
        ids = {key: f"{key[0]}|{key[1]}" for key in keys}
        return JSONResponse(
            {
                "start": rfc3339(start),
                "end": rfc3339(end),
                "nodes": [_node(ids[k], graph.nodes[k]) for k in keys],
                "edges": [
                    _edge(ids[src], ids[dst], edge)
                    for (src, dst), edge in sorted(graph.edges.items())
                ],
            }
        )

    async def logs(self, request: Request, tenant: str, p: Params) -> Response:
        trace_id = trace_id_param(request.path_params["trace_id"])
        limit = p.integer("limit", 1000, lo=1, hi=10_000)
        rows, count = await trace_logs(self._store, tenant, trace_id, limit)
        return JSONResponse({"trace_id": trace_id, "log_count": count, "logs": rows})


def _stats(stats: xq.Stats) -> dict[str, Any]:
    return {
        "requests": stats.count,
        "ok": stats.ok,
        "errors": stats.errors,
        "faults": stats.faults,
        "throttles": stats.throttles,
        "avg_ms": round(stats.total_s * 1000 / stats.count, 3) if stats.count else None,
        "p50_ms": _ms(xq.percentile(stats, 0.5)),
        "p90_ms": _ms(xq.percentile(stats, 0.9)),
        "p99_ms": _ms(xq.percentile(stats, 0.99)),
        "histogram": [
            {"le_ms": round(bound * 1000, 3), "count": count}
            for bound, count in sorted(stats.histogram.items())
        ],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _node(node_id: str, node: xq.GraphNode) -> dict[str, Any]:
    return {
        "id": node_id,
        "name": node.name,
        "type": node.type or ("remote" if node.remote else "service"),
        "root": node.root,
        # The client node (callers of root services) is known only by its edges.
        "instrumented": not node.remote and node.type != "client",
        **_stats(node.stats),
    }


def _edge(source: str, target: str, edge: xq.GraphEdge) -> dict[str, Any]:
    return {"source": source, "target": target, **_stats(edge.stats)}
