"""Real OpenTelemetry SDK pipelines pointed at a vigil process (HTTP protobuf or gRPC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.vigil_process import Served

Transport = Literal["http", "grpc"]


@dataclass
class OtelPipelines:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    reader: PeriodicExportingMetricReader

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def pipelines(
    server: Served,
    transport: Transport,
    resource: dict[str, str],
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> OtelPipelines:
    """``timeout``: each exporter's deadline for one export, its retries included."""
    res = Resource.create(resource)
    spans: SpanExporter
    logs: LogRecordExporter
    metrics: MetricExporter
    if transport == "http":
        base = server.otlp_http_url
        spans = HttpSpans(endpoint=f"{base}/v1/traces", headers=headers, timeout=timeout)
        logs = HttpLogs(endpoint=f"{base}/v1/logs", headers=headers, timeout=timeout)
        metrics = HttpMetrics(endpoint=f"{base}/v1/metrics", headers=headers, timeout=timeout)
    else:
        target = server.grpc_target
        grpc_headers = tuple((k.lower(), v) for k, v in (headers or {}).items()) or None
        spans = GrpcSpans(endpoint=target, insecure=True, headers=grpc_headers, timeout=timeout)
        logs = GrpcLogs(endpoint=target, insecure=True, headers=grpc_headers, timeout=timeout)
        metrics = GrpcMetrics(endpoint=target, insecure=True, headers=grpc_headers, timeout=timeout)
    tp = TracerProvider(resource=res)
    tp.add_span_processor(SimpleSpanProcessor(spans))
    lp = LoggerProvider(resource=res)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
    mp = MeterProvider(resource=res, metric_readers=[reader])
    return OtelPipelines(tp, lp, mp, reader)
