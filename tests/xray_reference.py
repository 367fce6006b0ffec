"""The first X-Ray decoder, kept as the oracle of ``vigil.ingest.xray`` (which builds the
same columns faster): one dict per row, then copied into the columns. Pure: no I/O.

One document is a segment (with nested subsegments) or an independent subsegment
(``"type": "subsegment"`` with ``trace_id`` and ``parent_id``). Each segment and subsegment
becomes one span row; the row keeps the node's document without its nested subsegments, so
that BatchGetTraces can give documents back as they were sent. A node sent with
``"in_progress": true`` goes to the in-progress table instead, until its completed
document arrives.

A document is taken or refused whole. Refused: invalid JSON, a missing or malformed
``name``/``id``/``trace_id``/``start_time``, an ``end_time`` before ``start_time`` or
missing on a completed node, a start more than 2 h ahead, annotation keys other than
letters, digits and underscores (X-Ray's rule) or non-scalar annotation values,
non-boolean ``error``/``fault``/``throttle``, nesting deeper than 64, a document over 64 KiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.ingest.interface import Decoded, ItemRejected
from vigil.model.common import MAX_FUTURE_NS, ZERO_SPAN_ID
from vigil.model.xray import (
    IN_PROGRESS_TABLE,
    InProgressColumns,
    XRaySpanColumns,
    parse_span_id,
    parse_trace_id,
)

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_DEPTH = 64
MAX_NAME = 200
MAX_ANNOTATION_VALUE = 1000
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_]{1,500}$")
_HTTP_ATTRS = (
    ("method", "http.request.method"),
    ("url", "url.full"),
    ("user_agent", "user_agent.original"),
    ("client_ip", "client.address"),
)


@dataclass(slots=True)
class Failure:
    """A refused document: its id when it had one, and why (PutTraceSegments' answer)."""

    index: int
    id: str
    message: str


@dataclass(slots=True)
class ServiceNames:
    """Which service a segment or subsegment id belongs to, for independent subsegments
    (their documents do not name their service). Bounded: cleared when full."""

    limit: int = 200_000
    names: dict[tuple[str, bytes], str] = field(default_factory=dict)

    def remember(self, tenant: str, span_id: bytes, service: str) -> None:
        if len(self.names) >= self.limit:
            self.names.clear()
        self.names[(tenant, span_id)] = service

    def lookup(self, tenant: str, span_id: bytes) -> str:
        return self.names.get((tenant, span_id), "")


@dataclass(slots=True)
class XRayDecoded:
    decoded: Decoded
    failures: list[Failure]


def decode_documents(
    documents: Iterable[bytes | str],
    tenant: str,
    now_ns: int,
    names: ServiceNames | None = None,
) -> XRayDecoded:
    """Decode segment documents (JSON text); see the module docstring for what is refused."""
    cols = XRaySpanColumns()
    pending = InProgressColumns()
    out = Decoded(signal="traces", spans=cols)
    failures: list[Failure] = []
    known = names if names is not None else ServiceNames()
    for index, raw in enumerate(documents):
        doc_id = ""
        try:
            if len(raw) > MAX_DOCUMENT_BYTES:
                raise ItemRejected(
                    f"segment document of {len(raw)} bytes is over {MAX_DOCUMENT_BYTES}"
                )
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ItemRejected(f"segment document is not valid JSON: {exc}") from None
            if not isinstance(doc, dict):
                raise ItemRejected("segment document must be a JSON object")
            doc_id = doc["id"] if isinstance(doc.get("id"), str) else ""
            rows = _Rows(tenant, now_ns, known)
            rows.top(doc)
        except ItemRejected as exc:
            out.rejected.add(str(exc))
            failures.append(Failure(index, doc_id, str(exc)))
            continue
        rows.flush(cols, pending)
    if len(pending):
        out.extra[IN_PROGRESS_TABLE] = pending.to_arrow()
    return XRayDecoded(out, failures)


def _seconds_ns(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ItemRejected(f"{field_name} must be a number of seconds since the epoch")
    if value <= 0:
        raise ItemRejected(f"{field_name} must be positive")
    return round(value * 1e9)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _flag(node: dict[str, Any], key: str) -> int:
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise ItemRejected(f"{key} must be true or false")
    return int(value)


class _Rows:
    """Rows of one document, kept aside until the whole document is known to be valid."""

    __slots__ = ("known", "now_ns", "pending", "rows", "tenant")

    def __init__(self, tenant: str, now_ns: int, known: ServiceNames) -> None:
        self.tenant = tenant
        self.now_ns = now_ns
        self.known = known
        self.rows: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    def top(self, doc: dict[str, Any]) -> None:
        trace_text = doc.get("trace_id")
        trace_id = parse_trace_id(trace_text) if isinstance(trace_text, str) else None
        if trace_id is None:
            raise ItemRejected(
                "trace_id must look like 1-5759e988-bd862e3fe1be46a994272793 (or 32 hex digits)"
            )
        parent_text = doc.get("parent_id")
        parent = ZERO_SPAN_ID
        if parent_text is not None:
            parsed = parse_span_id(parent_text)
            if parsed is None:
                raise ItemRejected("parent_id must be 16 hex digits")
            parent = parsed
        kind = doc.get("type")
        if kind not in (None, "segment", "subsegment"):
            raise ItemRejected(f"type must be 'segment' or 'subsegment', not {kind!r}")
        if kind == "subsegment":
            if parent == ZERO_SPAN_ID:
                raise ItemRejected("an independent subsegment needs a parent_id")
            service = self.known.lookup(self.tenant, parent)
            self.node(doc, trace_id, parent, service, is_segment=False, depth=0)
        else:
            self.node(doc, trace_id, parent, "", is_segment=True, depth=0)

    def node(
        self,
        node: dict[str, Any],
        trace_id: bytes,
        parent: bytes,
        service: str,
        is_segment: bool,
        depth: int,
    ) -> None:
        if depth > MAX_DEPTH:
            raise ItemRejected(f"subsegments nested deeper than {MAX_DEPTH}")
        name = node.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise ItemRejected(f"name must be a string of 1 to {MAX_NAME} characters")
        span_id = parse_span_id(node.get("id", ""))
        if span_id is None or span_id == ZERO_SPAN_ID:
            raise ItemRejected(f"{name}: id must be 16 hex digits, not all zero")
        start = _seconds_ns(node.get("start_time"), "start_time")
        if start > self.now_ns + MAX_FUTURE_NS:
            raise ItemRejected(f"{name}: start_time is more than 2 hours in the future")
        in_progress = node.get("in_progress", False) is True
        end_value = node.get("end_time")
        if end_value is None:
            if not in_progress:
                raise ItemRejected(f"{name}: end_time is required unless in_progress is true")
            end = start
        else:
            end = _seconds_ns(end_value, "end_time")
            if end < start:
                raise ItemRejected(f"{name}: end_time is before start_time")
        if is_segment:
            service = name
        children = node.get("subsegments")
        if children is None:
            children = []
        elif not isinstance(children, list):
            raise ItemRejected(f"{name}: subsegments must be a list")
        row = self._row(node, trace_id, span_id, parent, service, name, is_segment, start, end)
        if in_progress:
            self.pending.append(row)
        else:
            self.rows.append(row)
        self.known.remember(self.tenant, span_id, service)
        for child in children:
            if not isinstance(child, dict):
                raise ItemRejected(f"{name}: each subsegment must be an object")
            self.node(child, trace_id, span_id, service, False, depth + 1)

    def _row(
        self,
        node: dict[str, Any],
        trace_id: bytes,
        span_id: bytes,
        parent: bytes,
        service: str,
        name: str,
        is_segment: bool,
        start: int,
        end: int,
    ) -> dict[str, Any]:
        attrs, typed, annotations = _annotations(node.get("annotations"), name)
        error, fault, throttle = _flag(node, "error"), _flag(node, "fault"), _flag(node, "throttle")
        http = node.get("http")
        method = url = agent = client_ip = ""
        status = 0
        if http is not None:
            if not isinstance(http, dict):
                raise ItemRejected(f"{name}: http must be an object")
            request = http.get("request") or {}
            response = http.get("response") or {}
            if not isinstance(request, dict) or not isinstance(response, dict):
                raise ItemRejected(f"{name}: http.request and http.response must be objects")
            values = {key: str(request.get(key) or "") for key, _ in _HTTP_ATTRS}
            method, url = values["method"], values["url"]
            agent, client_ip = values["user_agent"], values["client_ip"]
            for key, attr in _HTTP_ATTRS:
                if values[key]:
                    attrs.append((attr, values[key]))
            raw_status = response.get("status")
            if isinstance(raw_status, int) and not isinstance(raw_status, bool):
                status = raw_status if 0 <= raw_status <= 65535 else 0
                attrs.append(("http.response.status_code", str(status)))
                typed.append("http.response.status_code")
        user = node.get("user") or ""
        if not isinstance(user, str):
            raise ItemRejected(f"{name}: user must be a string")
        if user:
            attrs.append(("enduser.id", user))
        namespace = node.get("namespace") or ""
        if not isinstance(namespace, str) or len(namespace) > MAX_NAME:
            raise ItemRejected(f"{name}: namespace must be a string ('aws', 'remote', 'local')")
        origin = node.get("origin") or ""
        if not isinstance(origin, str):
            raise ItemRejected(f"{name}: origin must be a string")
        remote_service = remote_type = ""
        calls_out = namespace in ("aws", "remote")
        if not is_segment and calls_out:
            remote_service = name
            if namespace == "aws":
                remote_type = f"AWS::{name}"
            elif "sql" in node:
                remote_type = "Database::SQL"
            else:
                remote_type = "remote"
        events, message = _exceptions(node.get("cause"), end, name)
        version = ""
        service_block = node.get("service")
        if isinstance(service_block, dict) and isinstance(service_block.get("version"), str):
            version = service_block["version"]
        resource = [("service.name", service)]
        if version:
            resource.append(("service.version", version))
        document = {k: v for k, v in node.items() if k != "subsegments"}
        return {
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent,
            "name": name,
            "kind": 2 if is_segment else (3 if calls_out else 1),
            "service": service,
            "start_time": start,
            "end_time": end,
            "status_code": 2 if fault else 0,
            "status_message": message if fault else "",
            "attributes": attrs,
            "attributes_typed": typed,
            "resource": resource,
            "events": events,
            "segment": int(is_segment),
            "origin": origin if is_segment else "",
            "namespace": namespace,
            "user": user,
            "annotations": annotations,
            "http_method": method,
            "http_url": url,
            "http_status": status,
            "http_user_agent": agent,
            "http_client_ip": client_ip,
            "error": error,
            "fault": fault,
            "throttle": throttle,
            "remote_service": remote_service,
            "remote_type": remote_type,
            "document": _json(document),
        }

    def flush(self, cols: XRaySpanColumns, pending: InProgressColumns) -> None:
        tenant = self.tenant
        for row in self.rows:
            cols.tenant.append(tenant)
            cols.trace_id.append(row["trace_id"])
            cols.span_id.append(row["span_id"])
            cols.parent_span_id.append(row["parent_span_id"])
            cols.trace_state.append("")
            cols.name.append(row["name"])
            cols.kind.append(row["kind"])
            cols.service.append(row["service"])
            cols.start_time.append(row["start_time"])
            cols.end_time.append(row["end_time"])
            cols.status_code.append(row["status_code"])
            cols.status_message.append(row["status_message"])
            cols.attributes.append(row["attributes"])
            cols.attributes_typed.append(row["attributes_typed"])
            cols.resource.append(row["resource"])
            cols.resource_typed.append([])
            cols.scope_name.append("aws-xray")
            cols.scope_version.append("")
            cols.events.append(row["events"])
            cols.links.append([])
            cols.source.append("xray")
            cols.segment.append(row["segment"])
            cols.origin.append(row["origin"])
            cols.namespace.append(row["namespace"])
            cols.user.append(row["user"])
            cols.annotations.append(row["annotations"])
            cols.http_method.append(row["http_method"])
            cols.http_url.append(row["http_url"])
            cols.http_status.append(row["http_status"])
            cols.http_user_agent.append(row["http_user_agent"])
            cols.http_client_ip.append(row["http_client_ip"])
            cols.error.append(row["error"])
            cols.fault.append(row["fault"])
            cols.throttle.append(row["throttle"])
            cols.remote_service.append(row["remote_service"])
            cols.remote_type.append(row["remote_type"])
            cols.document.append(row["document"])
        for row in self.pending:
            pending.tenant.append(tenant)
            pending.trace_id.append(row["trace_id"])
            pending.span_id.append(row["span_id"])
            pending.parent_span_id.append(row["parent_span_id"])
            pending.service.append(row["service"])
            pending.name.append(row["name"])
            pending.start_time.append(row["start_time"])
            pending.document.append(row["document"])


def _annotations(
    value: Any, name: str
) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """(attribute pairs, typed keys, annotation pairs) from an ``annotations`` object."""
    if value is None:
        return [], [], []
    if not isinstance(value, dict):
        raise ItemRejected(f"{name}: annotations must be an object")
    pairs: list[tuple[str, str]] = []
    typed: list[str] = []
    for key, item in value.items():
        if not _ANNOTATION_KEY.match(key):
            raise ItemRejected(
                f"{name}: annotation key {key[:100]!r} may hold only letters, digits and '_'"
            )
        if isinstance(item, str):
            if len(item) > MAX_ANNOTATION_VALUE:
                raise ItemRejected(
                    f"{name}: annotation {key!r} is over {MAX_ANNOTATION_VALUE} characters"
                )
            pairs.append((key, item))
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise ItemRejected(f"{name}: annotation {key!r} is not a finite number")
        if not isinstance(item, bool | int | float):
            raise ItemRejected(f"{name}: annotation {key!r} must be a string, number or boolean")
        pairs.append((key, _json(item)))
        typed.append(key)
    return list(pairs), typed, pairs


def _exceptions(cause: Any, at_ns: int, name: str) -> tuple[list[dict[str, Any]], str]:
    """OpenTelemetry exception events from an X-Ray ``cause``, and the first message."""
    if cause is None or isinstance(cause, str):
        return [], ""
    if not isinstance(cause, dict):
        raise ItemRejected(f"{name}: cause must be an object or an exception id")
    exceptions = cause.get("exceptions") or []
    if not isinstance(exceptions, list):
        raise ItemRejected(f"{name}: cause.exceptions must be a list")
    events: list[dict[str, Any]] = []
    first = ""
    for exc in exceptions:
        if not isinstance(exc, dict):
            raise ItemRejected(f"{name}: each cause exception must be an object")
        message = str(exc.get("message") or "")
        first = first or message
        attrs = [("exception.type", str(exc.get("type") or "")), ("exception.message", message)]
        stack = exc.get("stack")
        if isinstance(stack, list) and stack:
            lines = [
                f"  at {f.get('label', '')} ({f.get('path', '')}:{f.get('line', '')})"
                for f in stack
                if isinstance(f, dict)
            ]
            attrs.append(("exception.stacktrace", "\n".join(lines)))
        events.append(
            {"time": at_ns, "name": "exception", "attributes": attrs, "attributes_typed": []}
        )
    return events, first
