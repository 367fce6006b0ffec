"""OTLP traces → ``SpanColumns``. Pure: no I/O, no clock (``now_ns`` is passed in).

Refused: trace ids that are not 16 non-zero bytes, span ids that are not 8 non-zero bytes,
parent ids of another length than 0 or 8, a zero start time, an end before the start, a
start, end or event time more than 2 h ahead, a kind outside 0..5 or a status code outside
0..2, attributes over their limits.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil.ingest.interface import Decoded, ItemRejected
from vigil.ingest.otlp.common import ExpansionBudget, attributes, check_id, resource_bytes
from vigil.model.common import MAX_FUTURE_NS
from vigil.model.spans import SpanColumns


def decode_traces(request: ExportTraceServiceRequest, tenant: str, now_ns: int) -> Decoded:
    out = Decoded(signal="traces", spans=SpanColumns())
    cols = out.spans
    assert cols is not None
    budget = ExpansionBudget()
    for rs in request.resource_spans:
        try:
            res_pairs, res_typed = attributes(rs.resource.attributes, "resource attribute")
        except ItemRejected as exc:
            out.rejected.add(str(exc), sum(len(ss.spans) for ss in rs.scope_spans))
            continue
        service = dict(res_pairs).get("service.name", "")
        res_size = resource_bytes(res_pairs)
        for ss in rs.scope_spans:
            scope_name, scope_version = ss.scope.name, ss.scope.version
            for span in ss.spans:
                try:
                    ids, attrs, typed, events, links = _span(span, now_ns)
                except ItemRejected as exc:
                    out.rejected.add(str(exc))
                    continue
                budget.spend(res_size)
                cols.tenant.append(tenant)
                cols.trace_id.append(ids[0])
                cols.span_id.append(ids[1])
                cols.parent_span_id.append(ids[2])
                cols.trace_state.append(span.trace_state)
                cols.name.append(span.name)
                cols.kind.append(span.kind)
                cols.service.append(service)
                cols.start_time.append(span.start_time_unix_nano)
                cols.end_time.append(span.end_time_unix_nano)
                cols.status_code.append(span.status.code)
                cols.status_message.append(span.status.message)
                cols.attributes.append(attrs)
                cols.attributes_typed.append(typed)
                cols.resource.append(res_pairs)
                cols.resource_typed.append(res_typed)
                cols.scope_name.append(scope_name)
                cols.scope_version.append(scope_version)
                cols.events.append(events)
                cols.links.append(links)
    return out


def _span(
    span: Span, now_ns: int
) -> tuple[
    tuple[bytes, bytes, bytes],
    list[tuple[str, str]],
    list[str],
    list[dict[str, Any]],
    list[dict[str, Any]],
]:
    trace_id = check_id(span.trace_id, 16, "trace_id", required=True)
    span_id = check_id(span.span_id, 8, "span_id", required=True)
    parent = check_id(span.parent_span_id, 8, "parent_span_id", required=False)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start == 0:
        raise ItemRejected("span start_time_unix_nano is 0")
    if start > now_ns + MAX_FUTURE_NS:
        raise ItemRejected(f"span start_time_unix_nano {start} is more than 2 hours in the future")
    if end < start:
        raise ItemRejected(f"span end_time_unix_nano {end} is before its start {start}")
    if end > now_ns + MAX_FUTURE_NS:
        raise ItemRejected(f"span end_time_unix_nano {end} is more than 2 hours in the future")
    if not 0 <= span.kind <= 5:
        raise ItemRejected(f"span kind {span.kind} is not in 0..5")
    if not 0 <= span.status.code <= 2:
        raise ItemRejected(f"span status code {span.status.code} is not in 0..2")
    attrs, typed = attributes(span.attributes)
    events = []
    for ev in span.events:
        if ev.time_unix_nano > now_ns + MAX_FUTURE_NS:
            raise ItemRejected(
                f"span event time_unix_nano {ev.time_unix_nano} is more than 2 hours in the future"
            )
        ev_attrs, ev_typed = attributes(ev.attributes, "event attribute")
        events.append(
            {
                "time": ev.time_unix_nano,
                "name": ev.name,
                "attributes": ev_attrs,
                "attributes_typed": ev_typed,
            }
        )
    links = []
    for link in span.links:
        l_attrs, l_typed = attributes(link.attributes, "link attribute")
        links.append(
            {
                "trace_id": check_id(link.trace_id, 16, "link trace_id", required=True),
                "span_id": check_id(link.span_id, 8, "link span_id", required=True),
                "trace_state": link.trace_state,
                "attributes": l_attrs,
                "attributes_typed": l_typed,
            }
        )
    return (trace_id, span_id, parent), attrs, typed, events, links
