"""The Starlette applications: the main port (everything) and the OTLP/HTTP port.

Routes on the main port: ``/healthz`` (open), ``/metrics`` (vigil's own counters),
``/v1/{logs,metrics,traces}`` (OTLP/HTTP) and ``/api/v1/…`` (the read API). The OTLP port
serves only the OTLP paths and ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Scope

from vigil.api.middleware import AuthMiddleware
from vigil.api.responses import JSONResponse, error
from vigil.api.router import ExactRouter
from vigil.auth import Authenticator
from vigil.ingest.otlp.http_handler import OtlpHttpHandler
from vigil.telemetry import SelfMetrics

OPEN_PATHS = frozenset({"/healthz"})


def otlp_routes(handler: OtlpHttpHandler) -> list[BaseRoute]:
    return [
        Route(f"/v1/{signal}", handler.endpoint(signal), methods=["POST"])
        for signal in ("logs", "metrics", "traces")
    ]


def build_app(
    routes: Sequence[BaseRoute],
    auth: Authenticator,
    ready: Callable[[], bool],
    metrics: SelfMetrics | None = None,
    exempt: Callable[[Scope], bool] | None = None,
) -> ASGIApp:
    async def healthz(_: Request) -> Response:
        if ready():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def self_metrics(_: Request) -> Response:
        assert metrics is not None
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, _exc: Exception) -> Response:
        return error(404, "not_found", f"no route for {request.method} {request.url.path}")

    async def not_allowed(request: Request, _exc: Exception) -> Response:
        return error(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )

    all_routes: list[BaseRoute] = [Route("/healthz", healthz)]
    if metrics is not None:
        all_routes.append(Route("/metrics", self_metrics))
    all_routes.extend(routes)
    app = Starlette(routes=all_routes, exception_handlers={404: not_found, 405: not_allowed})
    app.router = ExactRouter(all_routes)  # the same answers, without scanning for ingest paths

    def is_open(scope: Scope) -> bool:
        return scope["path"] in OPEN_PATHS or (exempt is not None and exempt(scope))

    return AuthMiddleware(app, auth, is_open)
