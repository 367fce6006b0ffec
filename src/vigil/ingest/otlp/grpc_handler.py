"""OTLP/gRPC: the three Export services on a ``grpc.aio`` server.

Requests arrive as raw bytes (no deserializer) so that an undecodable message gets
INVALID_ARGUMENT with our message rather than grpc's generic error. Overload answers
RESOURCE_EXHAUSTED with a ``google.rpc.RetryInfo`` (OTel exporters honour it and retry);
a store failure answers UNAVAILABLE; a bad key UNAUTHENTICATED.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

from vigil.auth import Authenticator, AuthError, TenantError, tenant_of
from vigil.ingest.interface import RequestError
from vigil.ingest.otlp.native import decode_protobuf
from vigil.ingest.otlp.signals import SIGNALS, OtlpSignal
from vigil.ingest.overload import Refusal, submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.telemetry import SelfMetrics


class OtlpGrpcService:
    def __init__(
        self,
        pipeline: IngestPipeline,
        auth: Authenticator,
        metrics: SelfMetrics,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._pipeline = pipeline
        self._auth = auth
        self._metrics = metrics
        self._clock = clock

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                spec.grpc_service,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        self._export(spec),
                        request_deserializer=None,
                        response_serializer=lambda m: m.SerializeToString(),
                    )
                },
            )
            for spec in SIGNALS.values()
        ]

    def _export(
        self, spec: OtlpSignal
    ) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[object]]:
        async def export(body: bytes, context: grpc.aio.ServicerContext) -> object:
            code = "OK"
            try:
                return await self._handle(spec, body, context)
            except grpc.aio.AbortError:
                code = context.code().name if context.code() else "ABORTED"
                raise
            finally:
                self._metrics.ingest_requests.labels("otlp_grpc", spec.name, code).inc()

        return export

    async def _handle(
        self, spec: OtlpSignal, body: bytes, context: grpc.aio.ServicerContext
    ) -> object:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        try:
            self._auth.check_bearer(metadata.get("authorization"))
        except AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            tenant = tenant_of(metadata)
            decoded = decode_protobuf(spec, body, tenant, self._clock())
        except (RequestError, TenantError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        refused = await submit(
            self._pipeline.accept, decoded, self._metrics, "otlp_grpc", spec.name
        )
        if refused is not None:
            await _abort_retryable(context, refused)
        self._metrics.count_items("otlp_grpc", spec.name, decoded.accepted, decoded.rejected.count)
        return spec.response_for(decoded)


async def _abort_retryable(context: grpc.aio.ServicerContext, refused: Refusal) -> None:
    """RESOURCE_EXHAUSTED or UNAVAILABLE, with the delay as a ``google.rpc.RetryInfo``."""
    code = grpc.StatusCode[refused.grpc_code]
    message, delay = refused.message, refused.retry_after
    seconds = int(delay)
    retry = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=seconds, nanos=int((delay - seconds) * 1e9))
    )
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(retry)
    await context.abort(
        code,
        message,
        trailing_metadata=(
            ("google.rpc.retryinfo-bin", retry.SerializeToString()),
            ("grpc-status-details-bin", status.SerializeToString()),
        ),
    )


async def start_grpc_server(
    handlers: Sequence[grpc.GenericRpcHandler], host: str, port: int, max_message_bytes: int
) -> tuple[grpc.aio.Server, int]:
    """One gRPC server for the handlers of every pillar (today: OTLP's three services)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers(tuple(handlers))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    await server.start()
    return server, bound
