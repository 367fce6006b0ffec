"""Spans: one row per span.

Columns (Arrow → ClickHouse ``spans``):
  tenant, trace_id (16 bytes), span_id (8), parent_span_id (8; zero for a root), trace_state
  name, kind (OTLP SpanKind number: 0 unspecified, 1 internal, 2 server, 3 client,
  4 producer, 5 consumer), service (resource ``service.name``)
  start_time, end_time (ns since the epoch)
  status_code (0 unset, 1 ok, 2 error), status_message
  attributes/_typed, resource/_typed (see model.common), scope_name, scope_version
  events: list of {time, name, attributes, attributes_typed}
  links:  list of {trace_id, span_id, trace_state, attributes, attributes_typed}
The store derives ``duration_ns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from vigil.model.common import ATTR_MAP, SPAN_ID, TIMESTAMP, TRACE_ID, TYPED_KEYS

SPANS_TABLE = "spans"

EVENT = pa.struct(
    [
        ("time", TIMESTAMP),
        ("name", pa.string()),
        ("attributes", ATTR_MAP),
        ("attributes_typed", TYPED_KEYS),
    ]
)
LINK = pa.struct(
    [
        ("trace_id", TRACE_ID),
        ("span_id", SPAN_ID),
        ("trace_state", pa.string()),
        ("attributes", ATTR_MAP),
        ("attributes_typed", TYPED_KEYS),
    ]
)

SPAN_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("trace_id", TRACE_ID),
        ("span_id", SPAN_ID),
        ("parent_span_id", SPAN_ID),
        ("trace_state", pa.string()),
        ("name", pa.string()),
        ("kind", pa.uint8()),
        ("service", pa.string()),
        ("start_time", TIMESTAMP),
        ("end_time", TIMESTAMP),
        ("status_code", pa.uint8()),
        ("status_message", pa.string()),
        ("attributes", ATTR_MAP),
        ("attributes_typed", TYPED_KEYS),
        ("resource", ATTR_MAP),
        ("resource_typed", TYPED_KEYS),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("events", pa.list_(EVENT)),
        ("links", pa.list_(LINK)),
    ]
)

KIND_NAMES = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
STATUS_NAMES = {0: "unset", 1: "ok", 2: "error"}


@dataclass(slots=True)
class SpanColumns:
    """Column lists a decoder appends to; ``to_arrow`` makes the batch.

    ``arrow`` holds rows a native decoder built directly as Arrow (``SPAN_SCHEMA``); they
    come before the rows in the lists.
    """

    arrow: pa.Table | None = None

    tenant: list[str] = field(default_factory=list)
    trace_id: list[bytes] = field(default_factory=list)
    span_id: list[bytes] = field(default_factory=list)
    parent_span_id: list[bytes] = field(default_factory=list)
    trace_state: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    service: list[str] = field(default_factory=list)
    start_time: list[int] = field(default_factory=list)
    end_time: list[int] = field(default_factory=list)
    status_code: list[int] = field(default_factory=list)
    status_message: list[str] = field(default_factory=list)
    attributes: list[list[tuple[str, str]]] = field(default_factory=list)
    attributes_typed: list[list[str]] = field(default_factory=list)
    resource: list[list[tuple[str, str]]] = field(default_factory=list)
    resource_typed: list[list[str]] = field(default_factory=list)
    scope_name: list[str] = field(default_factory=list)
    scope_version: list[str] = field(default_factory=list)
    events: list[list[dict[str, Any]]] = field(default_factory=list)
    links: list[list[dict[str, Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.span_id) + (self.arrow.num_rows if self.arrow is not None else 0)

    def to_arrow(self) -> pa.Table:
        if self.arrow is not None and not self.span_id:
            return self.arrow
        table = pa.Table.from_pydict(
            {name: getattr(self, name) for name in SPAN_SCHEMA.names}, schema=SPAN_SCHEMA
        )
        return table if self.arrow is None else pa.concat_tables([self.arrow, table])
