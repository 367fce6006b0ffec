"""What decoders return and what handlers hand to the pipeline.

A decoder raises ``RequestError`` when the request as a whole cannot be read (the handler
answers 400 / INVALID_ARGUMENT and nothing is stored). Otherwise it returns ``Decoded``:
the valid items as column batches, plus the number of items refused and why (the handler
answers with an OTLP partial success). Items are refused one by one, never truncated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from vigil.model.logs import LogColumns
from vigil.model.metrics import MetricColumns
from vigil.model.spans import SpanColumns

if TYPE_CHECKING:
    from vigil.ingest.otlp.exponential import Exponential

Signal = Literal["logs", "traces", "metrics"]

MAX_MESSAGES = 5


class RequestError(Exception):
    """The request cannot be decoded at all."""


class ItemRejected(Exception):
    """One item is invalid; the decoder counts it and moves on."""


@dataclass(slots=True)
class Rejections:
    count: int = 0
    messages: list[str] = field(default_factory=list)

    def add(self, message: str, count: int = 1) -> None:
        self.count += count
        if len(self.messages) < MAX_MESSAGES and message not in self.messages:
            self.messages.append(message)

    def text(self) -> str:
        if not self.count:
            return ""
        more = "" if self.count <= len(self.messages) else f" (and {self.count} items in all)"
        return "; ".join(self.messages) + more


@dataclass(slots=True)
class CumulativePoint:
    """A cumulative monotonic point waiting to be turned into a delta by the pipeline."""

    stream_id: int
    tenant: str
    namespace: str
    name: str
    dimensions: list[tuple[str, str]]
    unit: str
    start_time: int
    timestamp: int
    value: float  # the sum for sums; the sum of observations for histograms
    count: float = 0.0  # histograms only
    bounds: list[float] | None = None  # histograms only; None for sums
    buckets: list[int] | None = None
    # An exponential histogram's own buckets (``bounds``/``buckets`` are their explicit
    # form): the converter needs them to difference points whose scale changed.
    exponential: Exponential | None = None


@dataclass(slots=True)
class Decoded:
    signal: Signal
    logs: LogColumns | None = None
    spans: SpanColumns | None = None
    metrics: MetricColumns | None = None
    cumulative: list[CumulativePoint] = field(default_factory=list)
    # (tenant, log group, log stream) triples present in ``logs``.
    log_streams: set[tuple[str, str, str]] = field(default_factory=set)
    rejected: Rejections = field(default_factory=Rejections)
    # More tables committed with the batch (e.g. in-progress X-Ray segments).
    extra: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        n = len(self.cumulative)
        for cols in (self.logs, self.spans, self.metrics):
            if cols is not None:
                n += len(cols)
        return n
