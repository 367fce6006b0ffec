"""Realistic OTLP payloads for the benchmarks: varied bodies, attributes, services."""

from __future__ import annotations

import random
import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_DELTA,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SERVICES = ["checkout", "payments", "inventory", "search", "auth", "gateway", "email", "ledger"]
ROUTES = ["/api/orders", "/api/orders/{id}", "/api/cart", "/api/login", "/api/search", "/health"]
MESSAGES = [
    "request completed",
    "processing completed for batch {n} in {ms} ms",
    "user {u} logged in from 10.0.{a}.{b}",
    "timeout while calling {svc} after {ms} ms",
    "cache miss for key order:{n}",
    "ERROR failed to charge card: insufficient funds (order {n})",
    "retrying request to {svc} (attempt {a})",
    "batch processing completed: {n} records, success rate {a}%",
    '{{"level":"INFO","message":"json line","duration":{ms},"pipeline":"p{a}"}}',
]
LEVELS = [(9, "INFO")] * 7 + [(13, "WARN")] * 2 + [(17, "ERROR"), (5, "DEBUG")]


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _resource(rng: random.Random, service: str) -> list[KeyValue]:
    return [
        _kv("service.name", service),
        _kv("service.instance.id", f"{service}-{rng.randrange(4)}"),
        _kv("host.name", f"ip-10-0-{rng.randrange(8)}-{rng.randrange(250)}"),
        _kv("deployment.environment", "prod"),
        _kv("telemetry.sdk.language", "python"),
    ]


def logs_payload(rng: random.Random, n: int) -> bytes:
    req = ExportLogsServiceRequest()
    now = time.time_ns()
    per_resource = max(1, n // 4)
    made = 0
    while made < n:
        service = rng.choice(SERVICES)
        rl = req.resource_logs.add()
        rl.resource.attributes.extend(_resource(rng, service))
        sl = rl.scope_logs.add()
        sl.scope.name = f"{service}.app"
        for _ in range(min(per_resource, n - made)):
            sev, text = rng.choice(LEVELS)
            body = rng.choice(MESSAGES).format(
                n=rng.randrange(10**6),
                ms=rng.randrange(2000),
                u=f"user{rng.randrange(5000)}",
                a=rng.randrange(100),
                b=rng.randrange(255),
                svc=rng.choice(SERVICES),
            )
            rec = LogRecord(
                time_unix_nano=now - rng.randrange(10**9),
                observed_time_unix_nano=now,
                severity_number=sev,  # type: ignore[arg-type]
                severity_text=text,
                body=AnyValue(string_value=body),
            )
            rec.attributes.extend(
                [
                    _kv("http.route", rng.choice(ROUTES)),
                    _kv("http.status_code", rng.choice([200, 200, 200, 201, 404, 500])),
                    _kv("user.id", f"u{rng.randrange(10000)}"),
                    _kv("duration_ms", rng.random() * 500),
                ]
            )
            if rng.random() < 0.5:
                rec.trace_id = rng.randbytes(16)
                rec.span_id = rng.randbytes(8)
            sl.log_records.append(rec)
            made += 1
    return req.SerializeToString()


def spans_payload(rng: random.Random, n: int) -> bytes:
    req = ExportTraceServiceRequest()
    now = time.time_ns()
    made = 0
    while made < n:
        service = rng.choice(SERVICES)
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(_resource(rng, service))
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.flask"
        trace_id = rng.randbytes(16)
        parent = b""
        for i in range(min(10, n - made)):
            start = now - rng.randrange(10**9)
            span_id = rng.randbytes(8)
            span = Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=rng.choice(ROUTES)
                if i == 0
                else f"SELECT {rng.choice(['orders', 'users', 'items'])}",
                kind=2 if i == 0 else 3,  # type: ignore[arg-type]
                start_time_unix_nano=start,
                end_time_unix_nano=start + rng.randrange(10**8),
            )
            span.attributes.extend(
                [
                    _kv("http.method", "GET"),
                    _kv("http.route", rng.choice(ROUTES)),
                    _kv("http.status_code", rng.choice([200, 200, 500])),
                    _kv("net.peer.name", rng.choice(SERVICES)),
                ]
            )
            if rng.random() < 0.1:
                ev = span.events.add()
                ev.time_unix_nano = start + 1000
                ev.name = "exception"
                ev.attributes.append(_kv("exception.type", "ValueError"))
            if rng.random() < 0.05:
                span.status.code = 2  # type: ignore[assignment]
            ss.spans.append(span)
            parent = span_id
            made += 1
    return req.SerializeToString()


def metrics_payload(rng: random.Random, n: int) -> bytes:
    """n data points: gauges, delta sums and delta histograms over a few hundred series."""
    req = ExportMetricsServiceRequest()
    now = time.time_ns()
    made = 0
    while made < n:
        service = rng.choice(SERVICES)
        rm = req.resource_metrics.add()
        rm.resource.attributes.extend(_resource(rng, service))
        sm = rm.scope_metrics.add()
        for name, kind in (
            ("http.server.duration", "hist"),
            ("process.cpu.utilization", "gauge"),
            ("http.server.requests", "sum"),
            ("queue.depth", "gauge"),
        ):
            metric = Metric(name=name, unit="ms" if kind == "hist" else "1")
            count = min(50, n - made)
            if count <= 0:
                break
            for _ in range(count):
                attrs = [
                    _kv("http.route", rng.choice(ROUTES)),
                    _kv("region", rng.choice(["eu", "us"])),
                ]
                if kind == "hist":
                    metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
                    counts = [rng.randrange(20) for _ in range(6)]
                    dp = HistogramDataPoint(
                        time_unix_nano=now,
                        start_time_unix_nano=now - 10**10,
                        count=sum(counts),
                        sum=float(sum(counts) * 37),
                        explicit_bounds=[5, 10, 25, 50, 100],
                        bucket_counts=counts,
                        min=1.0,
                        max=180.0,
                    )
                    dp.attributes.extend(attrs)
                    metric.histogram.data_points.append(dp)
                else:
                    np = NumberDataPoint(
                        time_unix_nano=now,
                        start_time_unix_nano=now - 10**10,
                        as_double=rng.random() * 100,
                    )
                    np.attributes.extend(attrs)
                    if kind == "sum":
                        metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
                        metric.sum.is_monotonic = True
                        metric.sum.data_points.append(np)
                    else:
                        metric.gauge.data_points.append(np)
            made += count
            sm.metrics.append(metric)
    return req.SerializeToString()
