"""OTLP/HTTP handler: ``POST /v1/logs``, ``/v1/metrics``, ``/v1/traces``.

Answers as the OTLP spec asks: 200 with the Export*ServiceResponse (partial success when
items were refused) in the request's encoding; 400 with a ``google.rpc.Status`` for an
undecodable body; 413 over the size limit (checked on the wire and after decompression);
415 for another content type or encoding; 429 with ``Retry-After`` when the write queue is
full and 503 when the store failed, both of which exporters retry.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

from google.protobuf.message import Message
from google.rpc import status_pb2
from starlette.requests import Request
from starlette.responses import Response

from vigil.auth import TenantError, tenant_of
from vigil.ingest.body import BodyTooLarge, read_body
from vigil.ingest.interface import RequestError
from vigil.ingest.otlp.common import parse_json, to_json
from vigil.ingest.otlp.native import decode_protobuf
from vigil.ingest.otlp.signals import SIGNALS, OtlpSignal
from vigil.ingest.overload import submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.telemetry import SelfMetrics

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14}


class OtlpHttpHandler:
    def __init__(
        self,
        pipeline: IngestPipeline,
        metrics: SelfMetrics,
        *,
        max_body_bytes: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._pipeline = pipeline
        self._metrics = metrics
        self._max = max_body_bytes
        self._clock = clock

    def endpoint(self, signal: str) -> Callable[[Request], object]:
        spec = SIGNALS[signal]

        async def handle(request: Request) -> Response:
            response = await self._handle(spec, request)
            self._metrics.ingest_requests.labels(
                "otlp_http", signal, str(response.status_code)
            ).inc()
            return response

        return handle

    async def _handle(self, spec: OtlpSignal, request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in (PROTOBUF, JSON):
            return _error(
                415,
                f"unsupported content type {ctype or '(none)'!r}: use {PROTOBUF} or {JSON}",
                JSON,
            )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "deflate"):
            return _error(415, f"unsupported content encoding {encoding!r}: use gzip", ctype)
        try:
            tenant = tenant_of(request.headers)
            body = await read_body(request, self._max)
            if encoding != "identity":
                body = self._inflate(body, encoding)
            if ctype == PROTOBUF:
                decoded = decode_protobuf(spec, body, tenant, self._clock())
            else:
                decoded = spec.decode(parse_json(body, spec.request), tenant, self._clock())
        except BodyTooLarge:
            return _error(413, f"request body is over the limit of {self._max} bytes", ctype)
        except (RequestError, TenantError) as exc:
            return _error(400, str(exc), ctype)

        refused = await submit(
            self._pipeline.accept, decoded, self._metrics, "otlp_http", spec.name
        )
        if refused is not None:
            resp = _error(refused.status, refused.message, ctype)
            resp.headers["Retry-After"] = refused.retry_after_header
            return resp
        self._metrics.count_items("otlp_http", spec.name, decoded.accepted, decoded.rejected.count)
        return _encode(spec.response_for(decoded), ctype, 200)

    def _inflate(self, body: bytes, encoding: str) -> bytes:
        # wbits: 31 = gzip container; 15 = zlib (HTTP "deflate"); never more than the limit.
        inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
        try:
            out = inflater.decompress(body, self._max + 1)
        except zlib.error as exc:
            raise RequestError(f"invalid {encoding} body: {exc}") from exc
        if len(out) > self._max or inflater.unconsumed_tail:
            raise BodyTooLarge
        if not inflater.eof:
            raise RequestError(f"invalid {encoding} body: it is truncated")
        return out


def _encode(message: Message, ctype: str, status: int) -> Response:
    if ctype == JSON:
        return Response(to_json(message), status_code=status, media_type=JSON)
    return Response(message.SerializeToString(), status_code=status, media_type=PROTOBUF)


def _error(status: int, message: str, ctype: str) -> Response:
    return _encode(
        status_pb2.Status(code=_GRPC_CODE.get(status, 2), message=message), ctype, status
    )
