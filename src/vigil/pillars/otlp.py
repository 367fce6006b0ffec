"""OTLP ingest for logs, metrics and traces: ``/v1/{logs,metrics,traces}`` on the main port
and on a port of its own (OTLP/HTTP), and the gRPC services on the OTLP gRPC port.

Last in the order: what it receives goes through every other pillar's ingest parts (the
logs pillar's metric filters), which are ready before its own port opens.
"""

from __future__ import annotations

from vigil.api.app import build_app, otlp_routes
from vigil.ingest.otlp.grpc_handler import OtlpGrpcService
from vigil.ingest.otlp.http_handler import OtlpHttpHandler
from vigil.pillar import Core, Pillar


def build(core: Core) -> Pillar:
    cfg = core.config
    http = OtlpHttpHandler(
        core.pipeline, core.metrics, max_body_bytes=cfg.max_body_bytes, clock=core.clock
    )
    grpc_service = OtlpGrpcService(core.pipeline, core.auth, core.metrics, clock=core.clock)

    async def open_port() -> None:
        app = build_app(otlp_routes(http), core.auth, core.is_ready)
        core.addresses["otlp-http"] = await core.listeners.open(
            "otlp-http", app, cfg.host, cfg.otlp_http_port
        )

    return Pillar(
        name="otlp",
        routes=otlp_routes(http),
        grpc_handlers=grpc_service.handlers(),
        on_start=[open_port],
    )
