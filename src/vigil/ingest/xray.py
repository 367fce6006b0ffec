"""X-Ray segment documents → span rows (``XRaySpanColumns``). Pure: no I/O, no clock.

One document is a segment (with nested subsegments) or an independent subsegment
(``"type": "subsegment"`` with ``trace_id`` and ``parent_id``). Each segment and subsegment
becomes one span row; the row keeps the node's document without its nested subsegments, so
that BatchGetTraces can give documents back as they were sent. A node sent with
``"in_progress": true`` goes to the in-progress table instead, until its completed
document arrives.

A document is taken or refused whole. Refused: invalid JSON, a missing or malformed
``name``/``id``/``trace_id``/``start_time``, an ``end_time`` before ``start_time`` or
missing on a completed node, a start or end more than 2 h ahead, annotation keys other than
letters, digits and underscores (X-Ray's rule) or non-scalar annotation values,
non-boolean ``error``/``fault``/``throttle``, nesting deeper than 64, a document over 64 KiB.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
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
    with cyclic_gc_paused():
        return _decode(documents, tenant, now_ns, names)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Decoding a batch allocates ~20 containers per span that all stay alive until the
    batch is written, so the cyclic collector runs over and over for nothing (it doubled
    the decoder's time). The decoder creates no reference cycles: reference counting frees
    all it makes, so pausing the collector meanwhile loses nothing."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _decode(
    documents: Iterable[bytes | str], tenant: str, now_ns: int, names: ServiceNames | None
) -> XRayDecoded:
    batch = Batch(tenant, now_ns, names)
    for index, raw in enumerate(documents):
        batch.add(index, raw)
    return batch.result()


class Batch:
    """Documents decoded one by one into one result (the native path hands this the
    documents it declines, in order, between its own)."""

    __slots__ = ("decoded", "failures", "out")

    def __init__(self, tenant: str, now_ns: int, names: ServiceNames | None) -> None:
        self.out = _Decoder(tenant, now_ns, names if names is not None else ServiceNames())
        self.decoded = Decoded(signal="traces", spans=self.out.cols)
        self.failures: list[Failure] = []

    def add(self, index: int, raw: bytes | str) -> None:
        out = self.out
        doc_id = ""
        # A refused document leaves no rows: cut every column back to where it started.
        mark = (len(out.cols.span_id), len(out.pending.span_id))
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
            out.top(doc, raw)
        except ItemRejected as exc:
            out.truncate(*mark)
            self.decoded.rejected.add(str(exc))
            self.failures.append(Failure(index, doc_id, str(exc)))

    def result(self) -> XRayDecoded:
        if len(self.out.pending):
            self.decoded.extra[IN_PROGRESS_TABLE] = self.out.pending.to_arrow()
        return XRayDecoded(self.decoded, self.failures)


def _seconds_ns(value: Any, field_name: str) -> int:
    if value.__class__ is not float and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ItemRejected(f"{field_name} must be a number of seconds since the epoch")
    if not math.isfinite(value):
        raise ItemRejected(f"{field_name} must be a number of seconds since the epoch")
    if value <= 0:
        raise ItemRejected(f"{field_name} must be positive")
    return round(value * 1e9)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _span_id(text: Any) -> bytes | None:
    """8 bytes from 16 hex digits (what ``parse_span_id`` accepts), else None."""
    if text.__class__ is not str or len(text) != 16:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex skips spaces between pairs: a 16-character text with them gives fewer bytes.
    return raw if len(raw) == 8 else None


def _flags(node: dict[str, Any]) -> tuple[int, int, int]:
    error = node.get("error", False)
    fault = node.get("fault", False)
    throttle = node.get("throttle", False)
    for key, value in (("error", error), ("fault", fault), ("throttle", throttle)):
        if value is not True and value is not False:
            raise ItemRejected(f"{key} must be true or false")
    return int(error), int(fault), int(throttle)


def _without_subsegments(node: dict[str, Any]) -> str:
    if "subsegments" not in node:
        return _json(node)
    return _json({k: v for k, v in node.items() if k != "subsegments"})


class _Decoder:
    """Appends each node of a document straight to the column lists (the caller cuts them
    back if the document turns out to be refused): no per-row dict in between, because
    this loop is the X-Ray daemon's ceiling."""

    __slots__ = ("cols", "known", "now_ns", "pending", "tenant")

    def __init__(self, tenant: str, now_ns: int, known: ServiceNames) -> None:
        self.tenant = tenant
        self.now_ns = now_ns
        self.known = known
        self.cols = XRaySpanColumns()
        self.pending = InProgressColumns()

    def truncate(self, spans: int, pending: int) -> None:
        for cols, keep in ((self.cols, spans), (self.pending, pending)):
            for f in fields(cols):
                column = getattr(cols, f.name)
                if isinstance(column, list) and len(column) > keep:
                    del column[keep:]

    def top(self, doc: dict[str, Any], raw: bytes | str) -> None:
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
        # A document without nested subsegments is stored as it was sent.
        text = None if "subsegments" in doc else (raw if isinstance(raw, str) else raw.decode())
        if kind == "subsegment":
            if parent == ZERO_SPAN_ID:
                raise ItemRejected("an independent subsegment needs a parent_id")
            service = self.known.lookup(self.tenant, parent)
            self.node(doc, trace_id, parent, service, False, 0, text)
        else:
            self.node(doc, trace_id, parent, "", True, 0, text)

    def node(
        self,
        node: dict[str, Any],
        trace_id: bytes,
        parent: bytes,
        service: str,
        is_segment: bool,
        depth: int,
        text: str | None = None,
    ) -> None:
        if depth > MAX_DEPTH:
            raise ItemRejected(f"subsegments nested deeper than {MAX_DEPTH}")
        name = node.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise ItemRejected(f"name must be a string of 1 to {MAX_NAME} characters")
        span_id = _span_id(node.get("id", ""))
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
            if end > self.now_ns + MAX_FUTURE_NS:
                # Also keeps the row within the store's nanosecond range.
                raise ItemRejected(f"{name}: end_time is more than 2 hours in the future")
        if is_segment:
            service = name
        children = node.get("subsegments")
        if children is None:
            children = ()
        elif not isinstance(children, list):
            raise ItemRejected(f"{name}: subsegments must be a list")
        document = text if text is not None else _without_subsegments(node)
        rows = len(self.cols.span_id)
        self._span(node, trace_id, span_id, parent, service, name, is_segment, start, end)
        if in_progress:
            # Validated like a completed node, but kept aside until it completes.
            self.truncate(rows, len(self.pending.span_id))
            p = self.pending
            p.tenant.append(self.tenant)
            p.trace_id.append(trace_id)
            p.span_id.append(span_id)
            p.parent_span_id.append(parent)
            p.service.append(service)
            p.name.append(name)
            p.start_time.append(start)
            p.document.append(document)
        else:
            self.cols.document.append(document)
        self.known.remember(self.tenant, span_id, service)
        for child in children:
            if not isinstance(child, dict):
                raise ItemRejected(f"{name}: each subsegment must be an object")
            self.node(child, trace_id, span_id, service, False, depth + 1)

    def _span(
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
    ) -> None:
        """Every column but ``document``; validates all it reads before appending any."""
        get = node.get
        attrs, typed, annotations = _annotations(get("annotations"), name)
        error, fault, throttle = _flags(node)
        http = get("http")
        method = url = agent = client_ip = ""
        status = 0
        if http is not None:
            method, url, agent, client_ip, status = _http(http, name, attrs, typed)
        user = get("user") or ""
        if not isinstance(user, str):
            raise ItemRejected(f"{name}: user must be a string")
        if user:
            attrs.append(("enduser.id", user))
        namespace = get("namespace") or ""
        if not isinstance(namespace, str) or len(namespace) > MAX_NAME:
            raise ItemRejected(f"{name}: namespace must be a string ('aws', 'remote', 'local')")
        origin = get("origin") or ""
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
        cause = get("cause")
        events, message = _exceptions(cause, end, name) if cause is not None else ([], "")
        resource = [("service.name", service)]
        service_block = get("service")
        if isinstance(service_block, dict):
            version = service_block.get("version")
            if isinstance(version, str) and version:
                resource.append(("service.version", version))
        c = self.cols
        c.tenant.append(self.tenant)
        c.trace_id.append(trace_id)
        c.span_id.append(span_id)
        c.parent_span_id.append(parent)
        c.trace_state.append("")
        c.name.append(name)
        c.kind.append(2 if is_segment else (3 if calls_out else 1))
        c.service.append(service)
        c.start_time.append(start)
        c.end_time.append(end)
        c.status_code.append(2 if fault else 0)
        c.status_message.append(message if fault else "")
        c.attributes.append(attrs)
        c.attributes_typed.append(typed)
        c.resource.append(resource)
        c.resource_typed.append([])
        c.scope_name.append("aws-xray")
        c.scope_version.append("")
        c.events.append(events)
        c.links.append([])
        c.source.append("xray")
        c.segment.append(int(is_segment))
        c.origin.append(origin if is_segment else "")
        c.namespace.append(namespace)
        c.user.append(user)
        c.annotations.append(annotations)
        c.http_method.append(method)
        c.http_url.append(url)
        c.http_status.append(status)
        c.http_user_agent.append(agent)
        c.http_client_ip.append(client_ip)
        c.error.append(error)
        c.fault.append(fault)
        c.throttle.append(throttle)
        c.remote_service.append(remote_service)
        c.remote_type.append(remote_type)


def _http(
    http: Any, name: str, attrs: list[tuple[str, str]], typed: list[str]
) -> tuple[str, str, str, str, int]:
    """(method, url, user agent, client ip, status) of an ``http`` block; the OpenTelemetry
    attributes they map to are added to ``attrs``."""
    if not isinstance(http, dict):
        raise ItemRejected(f"{name}: http must be an object")
    request = http.get("request") or {}
    response = http.get("response") or {}
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise ItemRejected(f"{name}: http.request and http.response must be objects")
    values = []
    for key, attr in _HTTP_ATTRS:
        value = str(request.get(key) or "")
        values.append(value)
        if value:
            attrs.append((attr, value))
    status = 0
    raw_status = response.get("status")
    if isinstance(raw_status, int) and not isinstance(raw_status, bool):
        status = raw_status if 0 <= raw_status <= 65535 else 0
        attrs.append(("http.response.status_code", str(status)))
        typed.append("http.response.status_code")
    return values[0], values[1], values[2], values[3], status


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
