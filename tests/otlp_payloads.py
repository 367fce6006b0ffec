"""Hand-built OTLP requests (protobuf messages) for tests that send raw bodies."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def logs_request(
    service: str, records: list[LogRecord], stream: str = "s1"
) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", service), kv("service.instance.id", stream)])
    rl.scope_logs.add().log_records.extend(records)
    return req


def log(body: str, ts: int | None = None, **attrs: Any) -> LogRecord:
    record = LogRecord(
        time_unix_nano=ts or time.time_ns(),
        severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
        severity_text="INFO",
        body=AnyValue(string_value=body),
    )
    record.attributes.extend(kv(k, v) for k, v in attrs.items())
    return record


def spans_request(service: str, spans: list[Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    rs.scope_spans.add().spans.extend(spans)
    return req


def span(
    trace_id: bytes,
    span_id: bytes,
    name: str = "op",
    start: int | None = None,
    duration_ns: int = 1_000_000,
) -> Span:
    begin = start or time.time_ns()
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=begin,
        end_time_unix_nano=begin + duration_ns,
    )


def gauge_request(
    service: str, name: str, points: list[tuple[int, float]]
) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    metric = Metric(name=name, unit="1")
    metric.gauge.data_points.extend(
        NumberDataPoint(time_unix_nano=t, as_double=v) for t, v in points
    )
    rm.scope_metrics.add().metrics.append(metric)
    return req
