"""Log records: one row per record, grouped by tenant, log group and log stream.

Columns (Arrow → ClickHouse ``logs``):
  tenant, log_group, log_stream   where the record lives (see README "Model and mapping")
  timestamp                       event time, ns since the epoch (UTC)
  observed_timestamp              when the first collector saw it, ns (0 when unknown)
  severity_number, severity_text  OTLP severity (0 = unspecified)
  body                            the message; structured bodies are stored as JSON text
  attributes/_typed               record attributes (see model.common for the encoding)
  resource/_typed                 resource attributes
  scope_name, scope_version       instrumentation scope
  trace_id, span_id, flags        correlation (all-zero ids mean "none")
  service                         resource ``service.name`` ("" when absent)
The store adds ``ingestion_time`` (commit time, ms) and ``fields`` (the JSON message
of a JSON message, as a JSON column; see store/migrations/m0102) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from vigil.model.common import ATTR_MAP, SPAN_ID, TIMESTAMP, TRACE_ID, TYPED_KEYS

LOGS_TABLE = "logs"

LOG_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("log_group", pa.string()),
        ("log_stream", pa.string()),
        ("timestamp", TIMESTAMP),
        ("observed_timestamp", TIMESTAMP),
        ("severity_number", pa.uint8()),
        ("severity_text", pa.string()),
        ("body", pa.string()),
        ("attributes", ATTR_MAP),
        ("attributes_typed", TYPED_KEYS),
        ("resource", ATTR_MAP),
        ("resource_typed", TYPED_KEYS),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("trace_id", TRACE_ID),
        ("span_id", SPAN_ID),
        ("flags", pa.uint32()),
        ("service", pa.string()),
    ]
)


@dataclass(slots=True)
class LogColumns:
    """Column lists a decoder appends to; ``to_arrow`` makes the batch.

    ``arrow`` holds rows a native decoder built directly as Arrow (``LOG_SCHEMA``); they
    come before the rows in the lists.
    """

    arrow: pa.Table | None = None

    tenant: list[str] = field(default_factory=list)
    log_group: list[str] = field(default_factory=list)
    log_stream: list[str] = field(default_factory=list)
    timestamp: list[int] = field(default_factory=list)
    observed_timestamp: list[int] = field(default_factory=list)
    severity_number: list[int] = field(default_factory=list)
    severity_text: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    attributes: list[list[tuple[str, str]]] = field(default_factory=list)
    attributes_typed: list[list[str]] = field(default_factory=list)
    resource: list[list[tuple[str, str]]] = field(default_factory=list)
    resource_typed: list[list[str]] = field(default_factory=list)
    scope_name: list[str] = field(default_factory=list)
    scope_version: list[str] = field(default_factory=list)
    trace_id: list[bytes] = field(default_factory=list)
    span_id: list[bytes] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    service: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.timestamp) + (self.arrow.num_rows if self.arrow is not None else 0)

    def to_arrow(self) -> pa.Table:
        if self.arrow is not None and not self.timestamp:
            return self.arrow
        table = pa.Table.from_pydict(
            {name: getattr(self, name) for name in LOG_SCHEMA.names}, schema=LOG_SCHEMA
        )
        return table if self.arrow is None else pa.concat_tables([self.arrow, table])
