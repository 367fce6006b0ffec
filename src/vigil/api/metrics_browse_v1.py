"""``/api/v1/metrics/namespaces`` and ``/api/v1/metrics/names`` — what the metrics
explorer's browser lists (``query.metrics.browse``).

* ``GET /api/v1/metrics/namespaces[?limit=N]`` → ``{"namespaces": [{"namespace",
  "metrics", "series"}], "truncated"}`` (limit 1–10,000, default 1,000);
* ``GET /api/v1/metrics/names?namespace=NS[&limit=N]`` → ``{"namespace", "metrics":
  [{"name", "series", "dimension_keys"}], "truncated"}``; ``namespace`` is required.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.endpoint import json_endpoint
from vigil.api.params import ParamError, Params
from vigil.api.responses import JSONResponse
from vigil.query.metrics import browse
from vigil.store.interface import Store


class MetricsBrowseApi:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/metrics/namespaces", json_endpoint(self.namespaces)),
            Route("/api/v1/metrics/names", json_endpoint(self.names)),
        ]

    async def namespaces(self, request: Request, tenant: str, p: Params) -> Response:
        limit = p.integer("limit", 1000, lo=1, hi=10_000)
        found, more = await browse.namespaces(self._store, tenant, limit)
        return JSONResponse({"namespaces": found, "truncated": more})

    async def names(self, request: Request, tenant: str, p: Params) -> Response:
        namespace = p.text("namespace")
        if not namespace:
            raise ParamError("namespace", "is required")
        limit = p.integer("limit", 1000, lo=1, hi=10_000)
        found, more = await browse.metric_names(self._store, tenant, namespace, limit)
        return JSONResponse({"namespace": namespace, "metrics": found, "truncated": more})
