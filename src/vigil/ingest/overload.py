"""One answer to "the write could not be taken", for every protocol.

The writer refuses a batch in two ways (``store.interface``): ``Overloaded`` (the queue is
full: retry after a moment) and ``StoreUnavailable`` (the commit failed: nothing of the
batch was acknowledged, retry). ``submit`` hands a decoded batch to the pipeline and turns
either refusal into a protocol-neutral ``Refusal``, counted once on ``/metrics``:

* ``vigil_ingest_refused_total{protocol, signal, reason}`` (reason ``overloaded`` or
  ``unavailable``), and the batch's items as ``rejected`` in ``vigil_ingest_items_total``.

Each protocol renders the ``Refusal`` in its own shape: OTLP/HTTP ``status`` (429/503) with
``Retry-After``; OTLP/gRPC ``grpc_code`` (RESOURCE_EXHAUSTED/UNAVAILABLE) with a RetryInfo;
an AWS service its own error codes (``api.aws.interface.AwsService.refused``); the X-Ray
daemon, which cannot answer UDP, a datagram outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vigil.ingest.interface import Decoded
from vigil.store.interface import Overloaded, StoreUnavailable
from vigil.telemetry import SelfMetrics

OVERLOADED = "overloaded"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # OVERLOADED or UNAVAILABLE
    message: str
    retry_after: float  # seconds

    @property
    def overloaded(self) -> bool:
        return self.reason == OVERLOADED

    @property
    def status(self) -> int:
        """The HTTP status: 429 (retry later) or 503 (the store failed)."""
        return 429 if self.overloaded else 503

    @property
    def grpc_code(self) -> str:
        """The gRPC status name: both are codes OTLP exporters retry."""
        return "RESOURCE_EXHAUSTED" if self.overloaded else "UNAVAILABLE"

    @property
    def retry_after_header(self) -> str:
        return str(max(1, round(self.retry_after)))


def refusal_of(exc: Overloaded | StoreUnavailable) -> Refusal:
    if isinstance(exc, Overloaded):
        return Refusal(OVERLOADED, "vigil's write queue is full; retry later", exc.retry_after)
    return Refusal(UNAVAILABLE, f"could not store the batch: {exc}", 1.0)


async def submit(
    accept: Callable[[Decoded], Awaitable[None]],
    decoded: Decoded,
    metrics: SelfMetrics,
    protocol: str,
    signal: str,
) -> Refusal | None:
    """``accept(decoded)``; None once committed, else the refusal (counted)."""
    try:
        await accept(decoded)
    except (Overloaded, StoreUnavailable) as exc:
        refusal = refusal_of(exc)
        metrics.ingest_refused.labels(protocol, signal, refusal.reason).inc()
        metrics.count_items(protocol, signal, 0, decoded.accepted + decoded.rejected.count)
        return refusal
    return None
