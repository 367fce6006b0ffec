"""OTLP logs → ``LogColumns``. Pure: no I/O, no clock (``now_ns`` is passed in).

Mapping (README "Model and mapping"): log group = resource ``aws.log.group.names`` (first)
else ``service.name`` else ``default``; log stream = ``aws.log.stream.names`` else
``service.instance.id`` else ``host.name`` else ``default``. A record without a timestamp
takes its observed time, and without either the time it was received. Refused: bad id
lengths, timestamps (or observed times) more than 2 h ahead, severities outside 0..24,
bodies over 1 MiB, attributes over their limits. A trace id that a JSON body names fills
an empty ``trace_id`` (see ingest.logfields).
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from vigil.ingest.interface import Decoded, ItemRejected
from vigil.ingest.otlp.common import (
    ExpansionBudget,
    Pairs,
    any_value_text,
    attributes,
    check_id,
    first_string,
    resource_bytes,
)
from vigil.model.common import MAX_BODY_BYTES, MAX_FUTURE_NS
from vigil.model.logfields import named_trace_id
from vigil.model.logs import LogColumns

DEFAULT = "default"


def log_group_and_stream(resource: dict[str, str], typed: list[str]) -> tuple[str, str]:
    group = (
        first_string(resource, typed, "aws.log.group.names")
        or resource.get("service.name")
        or DEFAULT
    )
    stream = (
        first_string(resource, typed, "aws.log.stream.names")
        or resource.get("service.instance.id")
        or resource.get("host.name")
        or DEFAULT
    )
    return group, stream


def decode_logs(request: ExportLogsServiceRequest, tenant: str, now_ns: int) -> Decoded:
    out = Decoded(signal="logs", logs=LogColumns())
    cols = out.logs
    assert cols is not None
    budget = ExpansionBudget()
    for rl in request.resource_logs:
        try:
            res_pairs, res_typed = attributes(rl.resource.attributes, "resource attribute")
        except ItemRejected as exc:
            out.rejected.add(str(exc), sum(len(sl.log_records) for sl in rl.scope_logs))
            continue
        res = dict(res_pairs)
        res_size = resource_bytes(res_pairs)
        group, stream = log_group_and_stream(res, res_typed)
        service = res.get("service.name", "")
        out.log_streams.add((tenant, group, stream))
        for sl in rl.scope_logs:
            scope_name, scope_version = sl.scope.name, sl.scope.version
            for record in sl.log_records:
                try:
                    row = _record(record, now_ns)
                except ItemRejected as exc:
                    out.rejected.add(str(exc))
                    continue
                ts, observed, body, attrs, typed, trace_id, span_id = row
                budget.spend(res_size)
                if not any(trace_id):
                    trace_id = named_trace_id(body) or trace_id
                cols.tenant.append(tenant)
                cols.log_group.append(group)
                cols.log_stream.append(stream)
                cols.timestamp.append(ts)
                cols.observed_timestamp.append(observed)
                cols.severity_number.append(record.severity_number)
                cols.severity_text.append(record.severity_text)
                cols.body.append(body)
                cols.attributes.append(attrs)
                cols.attributes_typed.append(typed)
                cols.resource.append(res_pairs)
                cols.resource_typed.append(res_typed)
                cols.scope_name.append(scope_name)
                cols.scope_version.append(scope_version)
                cols.trace_id.append(trace_id)
                cols.span_id.append(span_id)
                cols.flags.append(record.flags)
                cols.service.append(service)
    return out


def _record(record: LogRecord, now_ns: int) -> tuple[int, int, str, Pairs, list[str], bytes, bytes]:
    observed = record.observed_time_unix_nano
    ts = record.time_unix_nano or observed or now_ns
    if ts > now_ns + MAX_FUTURE_NS:
        raise ItemRejected(f"log record time_unix_nano {ts} is more than 2 hours in the future")
    if observed > now_ns + MAX_FUTURE_NS:
        raise ItemRejected(
            f"log record observed_time_unix_nano {observed} is more than 2 hours in the future"
        )
    if not 0 <= record.severity_number <= 24:
        raise ItemRejected(f"severity_number {record.severity_number} is not in 0..24")
    trace_id = check_id(record.trace_id, 16, "trace_id", required=False)
    span_id = check_id(record.span_id, 8, "span_id", required=False)
    body, _ = any_value_text(record.body) if record.HasField("body") else ("", False)
    if len(body) > MAX_BODY_BYTES:
        raise ItemRejected(
            f"log body of {len(body)} characters is over the limit of {MAX_BODY_BYTES}"
        )
    attrs, typed = attributes(record.attributes)
    return ts, observed, body, attrs, typed, trace_id, span_id
