"""Acceptance: the real OpenTelemetry exporters (HTTP protobuf and gRPC) → vigil → read API."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tests.otel import Transport, pipelines
from tests.vigil_process import VigilProcess

TRANSPORTS: list[Transport] = ["http", "grpc"]


def _service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logs_round_trip(vigil: VigilProcess, transport: Transport) -> None:
    service = _service()
    otel = pipelines(
        vigil,
        transport,
        {
            "service.name": service,
            "service.instance.id": "inst-7",
            "deployment.environment": "test",
        },
    )
    logger = otel.logger_provider.get_logger("payments.scope", "2.1")
    ts = 1_700_000_000_123_456_789 + int(time.time()) % 1000
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    logger.emit(
        LogRecord(
            timestamp=ts,
            observed_timestamp=ts + 5,
            trace_id=trace_id,
            span_id=span_id,
            trace_flags=TraceFlags(1),
            severity_text="ERROR",
            severity_number=SeverityNumber.ERROR,
            body="payment failed: card declined",
            attributes={
                "user.id": "u-42",
                "amount": 12.5,
                "retries": 3,
                "ok": False,
                "tags": ["a", "b"],
            },
        )
    )
    logger.emit(
        LogRecord(
            timestamp=ts + 1000,
            severity_number=SeverityNumber.INFO,
            body={"event": "retry", "n": 1},
        )
    )
    otel.shutdown()

    with vigil.client() as http:
        body = http.get("/api/v1/logs", params={"group": service}).json()
    logs = body["logs"]
    assert [entry["time_unix_nano"] for entry in logs] == [str(ts + 1000), str(ts)]
    structured, first = logs
    assert first["log_group"] == service
    assert first["log_stream"] == "inst-7"
    assert first["observed_time_unix_nano"] == str(ts + 5)
    assert first["severity_number"] == 17
    assert first["severity_text"] == "ERROR"
    assert first["body"] == "payment failed: card declined"
    assert first["attributes"] == {
        "user.id": "u-42",
        "amount": 12.5,
        "retries": 3,
        "ok": False,
        "tags": ["a", "b"],
    }
    assert first["resource"]["service.name"] == service
    assert first["resource"]["deployment.environment"] == "test"
    assert first["scope"] == {"name": "payments.scope", "version": "2.1"}
    assert first["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert first["span_id"] == "b7ad6b7169203331"
    assert first["flags"] == 1
    assert first["service"] == service
    # Structured bodies are kept as JSON text.
    assert structured["body"] == '{"event":"retry","n":1}'


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_spans_round_trip(vigil: VigilProcess, transport: Transport) -> None:
    service = _service()
    otel = pipelines(vigil, transport, {"service.name": service})
    tracer = otel.tracer_provider.get_tracer("checkout", "1.0")
    t0 = time.time_ns() - 10_000_000_000
    linked = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
    root = tracer.start_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={"http.status_code": 500, "http.route": "/checkout"},
        links=[Link(linked, {"reason": "batch"})],
    )
    from opentelemetry import trace

    ctx = trace.set_span_in_context(root)
    child = tracer.start_span(
        "SELECT orders", kind=SpanKind.CLIENT, context=ctx, start_time=t0 + 1_000_000
    )
    child.add_event("rows", {"count": 7}, timestamp=t0 + 2_000_000)
    child.end(end_time=t0 + 3_500_000)
    root.set_status(Status(StatusCode.ERROR, "boom"))
    root.end(end_time=t0 + 10_000_000)
    otel.shutdown()

    trace_id = format(root.get_span_context().trace_id, "032x")
    with vigil.client() as http:
        tree = http.get(f"/api/v1/traces/{trace_id}").json()
        found = http.get("/api/v1/traces", params={"service": service}).json()
        errors = http.get(
            "/api/v1/traces", params={"service": service, "error": "true", "min_duration_ms": 9}
        ).json()
        none = http.get("/api/v1/traces", params={"service": service, "min_duration_ms": 11}).json()
    assert tree["trace_id"] == trace_id
    assert tree["span_count"] == 2
    assert tree["start_time_unix_nano"] == str(t0)
    assert tree["duration_ms"] == 10.0
    (root_json,) = tree["spans"]
    assert root_json["name"] == "POST /checkout"
    assert root_json["kind"] == "server"
    assert root_json["span_id"] == format(root.get_span_context().span_id, "016x")
    assert root_json["parent_span_id"] == ""
    assert root_json["status"] == {"code": "error", "message": "boom"}
    assert root_json["attributes"] == {"http.status_code": 500, "http.route": "/checkout"}
    assert root_json["scope"] == {"name": "checkout", "version": "1.0"}
    assert root_json["links"] == [
        {
            "trace_id": format(0x1234, "032x"),
            "span_id": format(0x5678, "016x"),
            "trace_state": "",
            "attributes": {"reason": "batch"},
        }
    ]
    (child_json,) = root_json["children"]
    assert child_json["name"] == "SELECT orders"
    assert child_json["kind"] == "client"
    assert child_json["parent_span_id"] == root_json["span_id"]
    assert child_json["start_time_unix_nano"] == str(t0 + 1_000_000)
    assert child_json["end_time_unix_nano"] == str(t0 + 3_500_000)
    assert child_json["duration_ms"] == 2.5
    assert child_json["offset_ms"] == 1.0
    assert child_json["events"] == [
        {"time_unix_nano": str(t0 + 2_000_000), "name": "rows", "attributes": {"count": 7}}
    ]
    assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    summary = found["traces"][0]
    assert (
        summary["root_name"],
        summary["root_service"],
        summary["span_count"],
        summary["error_count"],
    ) == ("POST /checkout", service, 2, 1)
    assert [t["trace_id"] for t in errors["traces"]] == [trace_id]
    assert none["traces"] == []


def _points(vigil: VigilProcess, **params: Any) -> list[tuple[int, float]]:
    with vigil.client() as http:
        response = http.get("/api/v1/metrics/datapoints", params=params)
    assert response.status_code == 200, response.text
    return [(p["time"], p["value"]) for p in response.json()["datapoints"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metrics_round_trip(vigil: VigilProcess, transport: Transport) -> None:
    service = _service()
    otel = pipelines(vigil, transport, {"service.name": service})
    meter = otel.meter_provider.get_meter("shop")
    queue_depth = {"value": 4.0}
    meter.create_observable_gauge(
        "queue.depth",
        callbacks=[lambda _o: [_observation(queue_depth["value"], {"q": "orders"})]],
        unit="{item}",
    )
    counter = meter.create_counter("orders.placed", unit="1")
    latency = meter.create_histogram("checkout.latency", unit="ms")
    counter.add(5, {"region": "eu"})
    for v in (10, 20, 30, 40):
        latency.record(v, {"region": "eu"})
    otel.reader.force_flush()
    counter.add(3, {"region": "eu"})
    queue_depth["value"] = 9.0
    latency.record(1000, {"region": "eu"})
    otel.reader.force_flush()
    otel.shutdown()

    window = {"start": "now-1h", "end": str(time.time() + 60), "period": 3600}
    sums = _points(
        vigil,
        namespace=service,
        name="orders.placed",
        dimension="region=eu",
        statistic="Sum",
        **window,
    )
    assert sum(v for _, v in sums) == 8.0  # 5 then 3: cumulative → deltas
    counts = _points(
        vigil,
        namespace=service,
        name="orders.placed",
        dimension="region=eu",
        statistic="SampleCount",
        **window,
    )
    # Three exports (two flushes and the one at shutdown): deltas 5, 3 and 0.
    assert sum(v for _, v in counts) == 3.0
    gauge_max = _points(
        vigil,
        namespace=service,
        name="queue.depth",
        dimension="q=orders",
        statistic="Maximum",
        **window,
    )
    gauge_min = _points(
        vigil,
        namespace=service,
        name="queue.depth",
        dimension="q=orders",
        statistic="Minimum",
        **window,
    )
    assert [v for _, v in gauge_max] == [9.0] or max(v for _, v in gauge_max) == 9.0
    assert min(v for _, v in gauge_min) == 4.0
    hist_count = _points(
        vigil,
        namespace=service,
        name="checkout.latency",
        dimension="region=eu",
        statistic="SampleCount",
        **window,
    )
    assert sum(v for _, v in hist_count) == 5.0
    hist_sum = _points(
        vigil,
        namespace=service,
        name="checkout.latency",
        dimension="region=eu",
        statistic="Sum",
        **window,
    )
    assert sum(v for _, v in hist_sum) == 1100.0
    p50 = _points(
        vigil,
        namespace=service,
        name="checkout.latency",
        dimension="region=eu",
        statistic="p50",
        **window,
    )
    # Default buckets (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, …): the median of
    # {10, 20, 30, 40, 1000} lies in (25, 50].
    assert p50
    assert all(25 <= v <= 50 for _, v in p50)
    with vigil.client() as http:
        series = http.get("/api/v1/metrics/series", params={"namespace": service}).json()["series"]
    by_name = {s["name"]: s for s in series}
    assert set(by_name) == {"queue.depth", "orders.placed", "checkout.latency"}
    assert by_name["checkout.latency"]["units"] == ["Milliseconds"]
    assert by_name["queue.depth"]["units"] == ["Count"]
    assert by_name["orders.placed"]["units"] == ["None"]
    assert by_name["orders.placed"]["dimensions"] == {"region": "eu"}


def test_histogram_view_buckets(vigil: VigilProcess) -> None:
    service = _service()
    otel = pipelines(vigil, "http", {"service.name": service})
    otel.meter_provider.shutdown()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=f"{vigil.otlp_http_url}/v1/metrics",
            preferred_temporality={Histogram: AggregationTemporality.DELTA},
        ),
        export_interval_millis=3_600_000,
    )
    mp = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="size",
                aggregation=ExplicitBucketHistogramAggregation(boundaries=[1, 2, 4, 8, 16]),
            )
        ],
    )
    size = mp.get_meter("m").create_histogram("size", unit="By")
    for v in (1, 3, 3, 3, 7, 15):
        size.record(v)
    mp.shutdown()
    otel.shutdown()
    window = {"start": "now-1h", "end": str(time.time() + 60), "period": 3600}
    (p50,) = _points(vigil, namespace=service, name="size", statistic="p50", **window)
    assert 2 < p50[1] <= 4
    (mx,) = _points(vigil, namespace=service, name="size", statistic="Maximum", **window)
    assert mx[1] == 15.0


def _observation(value: float, attrs: dict[str, str]) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(value, attrs)
