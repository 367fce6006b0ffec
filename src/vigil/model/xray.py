"""X-Ray's view of spans: segment fields beside the OTLP columns, and trace id forms.

Every span row has these columns (added by store migration 0300). X-Ray segments fill them
from their documents; OTLP spans get them from ClickHouse DEFAULT expressions over their
attributes, by the rule documented in README ("X-Ray and OpenTelemetry"):

  source           'xray' or 'otlp'
  segment          1 for a segment (X-Ray segment; OTLP server/consumer span or root), 0 for
                   a subsegment
  origin           AWS resource type of the service (``AWS::EC2::Instance`` …) or ''
  namespace        'aws', 'remote' or '' (subsegments calling something)
  user             the user the request was made for
  annotations      indexed key → value (strings as they are, numbers and booleans as JSON)
  http_method, http_url, http_status, http_user_agent, http_client_ip
  error, fault, throttle   4xx, 5xx and 429 flags
  remote_service, remote_type   the called node for subsegments/client spans to a remote
  document         the X-Ray document as received, without its nested subsegments ('' for
                   OTLP spans: BatchGetTraces builds their documents from the columns)

In-progress segments are not spans yet: they live in ``xray_in_progress`` until the
completed document arrives (BatchGetTraces shows them; the ``partial`` filter finds them).

Trace ids: X-Ray writes ``1-{8 hex epoch seconds}-{24 hex}``, OpenTelemetry 32 hex digits;
both are the same 16 bytes, so a trace started by one and continued by the other is one trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from vigil.model.common import ATTR_MAP, SPAN_ID, TIMESTAMP, TRACE_ID
from vigil.model.spans import SPAN_SCHEMA, SpanColumns

IN_PROGRESS_TABLE = "xray_in_progress"

_XRAY_ID = re.compile(r"^1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def parse_trace_id(text: str) -> bytes | None:
    """16 bytes from ``1-5759e988-bd862e3fe1be46a994272793`` or 32 hex digits; else None."""
    match = _XRAY_ID.match(text)
    if match:
        return bytes.fromhex(match.group(1) + match.group(2))
    if _HEX32.match(text):
        return bytes.fromhex(text)
    return None


def xray_trace_id(raw: bytes) -> str:
    """The X-Ray form of a 16-byte trace id (any id has one: the first 4 bytes as 'epoch')."""
    text = raw.hex()
    return f"1-{text[:8]}-{text[8:]}"


def parse_span_id(text: str) -> bytes | None:
    return bytes.fromhex(text) if isinstance(text, str) and _HEX16.match(text) else None


XRAY_FIELDS: list[tuple[str, pa.DataType]] = [
    ("source", pa.string()),
    ("segment", pa.uint8()),
    ("origin", pa.string()),
    ("namespace", pa.string()),
    ("user", pa.string()),
    ("annotations", ATTR_MAP),
    ("http_method", pa.string()),
    ("http_url", pa.string()),
    ("http_status", pa.uint16()),
    ("http_user_agent", pa.string()),
    ("http_client_ip", pa.string()),
    ("error", pa.uint8()),
    ("fault", pa.uint8()),
    ("throttle", pa.uint8()),
    ("remote_service", pa.string()),
    ("remote_type", pa.string()),
    ("document", pa.string()),
]
XRAY_SPAN_SCHEMA = pa.schema([*SPAN_SCHEMA, *(pa.field(n, t) for n, t in XRAY_FIELDS)])

IN_PROGRESS_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("trace_id", TRACE_ID),
        ("span_id", SPAN_ID),
        ("parent_span_id", SPAN_ID),
        ("service", pa.string()),
        ("name", pa.string()),
        ("start_time", TIMESTAMP),
        ("document", pa.string()),
    ]
)


@dataclass(slots=True)
class XRaySpanColumns(SpanColumns):
    """``SpanColumns`` plus the X-Ray columns; ``to_arrow`` gives the full row."""

    source: list[str] = field(default_factory=list)
    segment: list[int] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)
    namespace: list[str] = field(default_factory=list)
    user: list[str] = field(default_factory=list)
    annotations: list[list[tuple[str, str]]] = field(default_factory=list)
    http_method: list[str] = field(default_factory=list)
    http_url: list[str] = field(default_factory=list)
    http_status: list[int] = field(default_factory=list)
    http_user_agent: list[str] = field(default_factory=list)
    http_client_ip: list[str] = field(default_factory=list)
    error: list[int] = field(default_factory=list)
    fault: list[int] = field(default_factory=list)
    throttle: list[int] = field(default_factory=list)
    remote_service: list[str] = field(default_factory=list)
    remote_type: list[str] = field(default_factory=list)
    document: list[str] = field(default_factory=list)

    def to_arrow(self) -> pa.Table:
        """``arrow`` (rows of ``XRAY_SPAN_SCHEMA`` a native decoder built) first, then the
        rows in the lists."""
        if self.arrow is not None and not self.span_id:
            return self.arrow
        table = pa.Table.from_pydict(
            {name: getattr(self, name) for name in XRAY_SPAN_SCHEMA.names},
            schema=XRAY_SPAN_SCHEMA,
        )
        return table if self.arrow is None else pa.concat_tables([self.arrow, table])


@dataclass(slots=True)
class InProgressColumns:
    tenant: list[str] = field(default_factory=list)
    trace_id: list[bytes] = field(default_factory=list)
    span_id: list[bytes] = field(default_factory=list)
    parent_span_id: list[bytes] = field(default_factory=list)
    service: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    start_time: list[int] = field(default_factory=list)
    document: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.span_id)

    def to_arrow(self) -> pa.Table:
        data: dict[str, Any] = {n: getattr(self, n) for n in IN_PROGRESS_SCHEMA.names}
        return pa.Table.from_pydict(data, schema=IN_PROGRESS_SCHEMA)
