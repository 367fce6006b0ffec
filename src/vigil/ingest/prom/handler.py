"""``POST /prometheus/api/v1/write``: the remote-write receiver (1.0 and 2.0).

Negotiation (both specs): ``Content-Type: application/x-protobuf`` with an optional
``proto`` parameter — none or ``prometheus.WriteRequest`` is 1.0,
``io.prometheus.write.v2.Request`` is 2.0, anything else 415. ``Content-Encoding`` must be
``snappy`` (block format; a request without the header is read as snappy, as Prometheus'
own receiver does), anything else 415. ``X-Prometheus-Remote-Write-Version`` is not
needed to choose (the content type decides).

Answers:
* 204 once everything valid is durable (through the pipeline and the writer's WAL, like
  every write);
* 400 (not retried by senders) for a body that is not snappy, not the protobuf message,
  or with invalid series or samples: the valid part is stored first, the text names the
  first reasons;
* 413 for a body over ``max_body_bytes``, compressed or once decompressed (the snappy
  header's length is checked before anything is decompressed);
* 429 (queue full) / 503 (store failed) with ``Retry-After``: nothing was stored, senders
  retry;
* 2.0 answers carry ``X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written``
  (0 on a refusal), as the 2.0 spec requires.
Samples that are not finite (stale markers, NaN) are skipped, not stored
(``series.SeriesBatch``); they do not make the answer an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cramjam
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from vigil.auth import TenantError, tenant_of
from vigil.ingest.body import BodyTooLarge, read_body
from vigil.ingest.interface import RequestError
from vigil.ingest.overload import Refusal, submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.prom.remote_write import decode_v1, decode_v2
from vigil.ingest.prom.series import Metadata, SeriesBatch
from vigil.model.common import constant_column
from vigil.model.prometheus import METADATA_SCHEMA, METADATA_TABLE
from vigil.telemetry import SelfMetrics

PROTOCOL = "prometheus_remote_write"
V1 = "prometheus.WriteRequest"
V2 = "io.prometheus.write.v2.Request"
HEADER_SAMPLES = "X-Prometheus-Remote-Write-Samples-Written"
HEADER_HISTOGRAMS = "X-Prometheus-Remote-Write-Histograms-Written"
HEADER_EXEMPLARS = "X-Prometheus-Remote-Write-Exemplars-Written"


class MetadataCache:
    """The metadata last stored per (tenant, family), so that an unchanged description
    (Prometheus resends all of it every minute) is not written again. Event loop only."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._known: dict[tuple[str, str], Metadata] = {}
        self._max = max_entries

    def changed(self, tenant: str, metadata: dict[str, Metadata]) -> list[Metadata]:
        return [m for m in metadata.values() if self._known.get((tenant, m.family)) != m]

    def table(self, tenant: str, changed: list[Metadata], now_ns: int) -> pa.Table:
        n = len(changed)
        return pa.Table.from_arrays(
            [
                constant_column(tenant, pa.string(), n),
                pa.array([m.family for m in changed], pa.string()),
                pa.array([m.type for m in changed], pa.string()),
                pa.array([m.help for m in changed], pa.string()),
                pa.array([m.unit for m in changed], pa.string()),
                pa.array([now_ns] * n, pa.timestamp("ns")),
            ],
            schema=METADATA_SCHEMA,
        )

    def remember(self, tenant: str, changed: list[Metadata]) -> None:
        if len(self._known) + len(changed) > self._max:
            self._known.clear()  # rewritten once more, never wrong
        for m in changed:
            self._known[(tenant, m.family)] = m


async def commit(
    pipeline: IngestPipeline,
    cache: MetadataCache,
    batch: SeriesBatch,
    metrics: SelfMetrics,
    protocol: str,
    now_ns: int,
) -> Refusal | None:
    """Store a batch (samples, changed metadata, exemplars) through the pipeline; None
    once durable, else the writer's refusal (counted). Shared with scraping."""
    decoded = batch.decoded(now_ns)
    changed = cache.changed(batch.tenant, batch.metadata)
    if changed:
        decoded.extra[METADATA_TABLE] = cache.table(batch.tenant, changed, now_ns)
    refused = await submit(pipeline.accept, decoded, metrics, protocol, "metrics")
    if refused is not None:
        return refused
    cache.remember(batch.tenant, changed)
    metrics.count_items(protocol, "metrics", batch.samples, batch.rejected.count)
    return None


class RemoteWriteHandler:
    def __init__(
        self,
        pipeline: IngestPipeline,
        metrics: SelfMetrics,
        cache: MetadataCache,
        *,
        max_body_bytes: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._pipeline = pipeline
        self._metrics = metrics
        self._cache = cache
        self._max = max_body_bytes
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        response = await self._handle(request)
        self._metrics.ingest_requests.labels(PROTOCOL, "metrics", str(response.status_code)).inc()
        return response

    async def _handle(self, request: Request) -> Response:
        ctype, _, params = request.headers.get("content-type", "").partition(";")
        ctype = ctype.strip().lower()
        message = _param(params, "proto") or V1
        v2 = message == V2
        if ctype != "application/x-protobuf":
            return _answer(
                415,
                f"unsupported content type {ctype or '(none)'!r}: use application/x-protobuf",
                v2,
            )
        if message not in (V1, V2):
            return _answer(415, f"unsupported proto message {message!r}: use {V1} or {V2}", v2)
        encoding = request.headers.get("content-encoding", "snappy").strip().lower()
        if encoding != "snappy":
            return _answer(415, f"unsupported content encoding {encoding!r}: use snappy", v2)
        try:
            tenant = tenant_of(request.headers)
            body = self._uncompress(await read_body(request, self._max))
            now = self._clock()
            batch = decode_v2(body, tenant, now) if v2 else decode_v1(body, tenant, now)
        except BodyTooLarge:
            return _answer(413, f"request body is over the limit of {self._max} bytes", v2)
        except (RequestError, TenantError) as exc:
            return _answer(400, str(exc), v2)
        refused = await commit(self._pipeline, self._cache, batch, self._metrics, PROTOCOL, now)
        if refused is not None:
            response = _answer(refused.status, refused.message, v2)
            response.headers["Retry-After"] = refused.retry_after_header
            return response
        written = (batch.samples, batch.histograms, batch.exemplars_stored)
        if batch.rejected.count:
            return _answer(400, f"some samples were refused: {batch.rejected.text()}", v2, written)
        return _answer(204, "", v2, written)

    def _uncompress(self, body: bytes) -> bytes:
        length = _varint(body)
        if length is None:
            raise RequestError("the body is not snappy-compressed (block format)")
        if length > self._max:
            raise BodyTooLarge
        try:
            return bytes(cramjam.snappy.decompress_raw(body))
        except cramjam.DecompressionError as exc:
            raise RequestError(f"the body is not valid snappy (block format): {exc}") from exc


def _varint(data: bytes) -> int | None:
    """The uncompressed length a snappy block starts with (a varint of up to 5 bytes)."""
    value = 0
    for i, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    return None


def _param(params: str, name: str) -> str:
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return ""


def _answer(
    status: int, text: str, v2: bool, written: tuple[int, int, int] = (0, 0, 0)
) -> Response:
    response = (
        Response(status_code=204) if status == 204 else PlainTextResponse(text + "\n", status)
    )
    if v2:
        response.headers[HEADER_SAMPLES] = str(written[0])
        response.headers[HEADER_HISTOGRAMS] = str(written[1])
        response.headers[HEADER_EXEMPLARS] = str(written[2])
    return response
