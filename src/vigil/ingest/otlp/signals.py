"""The three OTLP signals side by side: request/response types, decoder, rejected-count field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from vigil.ingest.interface import Decoded, Signal
from vigil.ingest.otlp.logs import decode_logs
from vigil.ingest.otlp.metrics import decode_metrics
from vigil.ingest.otlp.traces import decode_traces


@dataclass(frozen=True, slots=True)
class OtlpSignal:
    name: Signal
    request: type[Message]
    response: type[Message]
    decode: Callable[..., Decoded]  # (request message, tenant, now_ns) -> Decoded
    rejected_field: str
    grpc_service: str

    def response_for(self, decoded: Decoded) -> Message:
        response = self.response()
        if decoded.rejected.count:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.rejected_field, decoded.rejected.count)
            partial.error_message = decoded.rejected.text()
        return response


SIGNALS: dict[str, OtlpSignal] = {
    "logs": OtlpSignal(
        "logs",
        logs_pb.ExportLogsServiceRequest,
        logs_pb.ExportLogsServiceResponse,
        decode_logs,
        "rejected_log_records",
        "opentelemetry.proto.collector.logs.v1.LogsService",
    ),
    "traces": OtlpSignal(
        "traces",
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
        decode_traces,
        "rejected_spans",
        "opentelemetry.proto.collector.trace.v1.TraceService",
    ),
    "metrics": OtlpSignal(
        "metrics",
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
        decode_metrics,
        "rejected_data_points",
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
    ),
}
