"""Overload: a full write queue answers 429 / RESOURCE_EXHAUSTED, each AWS service its own
throttling error, all counted on /metrics; and the OpenTelemetry exporters' own retries
still deliver every record."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import grpc
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from tests.otel import Transport, pipelines
from tests.otlp_payloads import log, logs_request
from tests.vigil_process import VigilProcess
from vigil.api.aws.interface import AwsService
from vigil.ingest.interface import Decoded
from vigil.ingest.overload import submit
from vigil.store.interface import Overloaded, StoreUnavailable
from vigil.telemetry import SelfMetrics


@pytest.fixture(scope="module")
def tiny_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    server = VigilProcess(
        tmp_path_factory.mktemp("overload") / "data",
        "--max-queue-rows",
        "2",
        "--commit-interval-ms",
        "300",
        # Accepted rows leave the queue once inserted: flush often so that it drains.
        "--flush-interval-ms",
        "50",
        # vigil's own counters (and the self-scrape) would share the two-row queue
        "--no-self-metrics",
    ).start()
    yield server
    assert server.stop() == 0


def test_full_queue_answers_429_with_retry_after(tiny_queue: VigilProcess) -> None:
    body = logs_request("raw", [log("x"), log("y")]).SerializeToString()

    def send(_: int) -> httpx.Response:
        return httpx.post(
            tiny_queue.otlp_http_url + "/v1/logs",
            content=body,
            timeout=30,
            headers={"Content-Type": "application/x-protobuf"},
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(16)))
    codes = sorted({r.status_code for r in responses})
    assert codes == [200, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1"


def test_full_queue_answers_resource_exhausted_with_retry_info(tiny_queue: VigilProcess) -> None:
    channel = grpc.insecure_channel(tiny_queue.grpc_target)
    stub = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
    request = logs_request("raw-grpc", [log("x"), log("y")])
    errors: list[grpc.RpcError] = []

    def send(_: int) -> None:
        try:
            stub.Export(request, timeout=30)
        except grpc.RpcError as exc:
            errors.append(exc)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(16)))
    channel.close()
    assert errors
    assert {e.code() for e in errors} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    trailing = dict(errors[0].trailing_metadata() or ())
    assert "google.rpc.retryinfo-bin" in trailing


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_exporter_retries_deliver_everything(
    tiny_queue: VigilProcess, transport: Transport
) -> None:
    refused_before = _refused(tiny_queue)
    service = f"overload-{transport}-{uuid.uuid4().hex[:6]}"
    # The exporter retries a refused export until its deadline: on a loaded machine a
    # 2-row queue drains slowly, so the deadline is generous (the test is about retries
    # delivering everything, not about how fast).
    otel = pipelines(tiny_queue, transport, {"service.name": service}, timeout=180)
    tracer = otel.tracer_provider.get_tracer("t")
    names = [f"span-{i}" for i in range(18)]

    def emit(chunk: list[str]) -> None:
        for name in chunk:
            tracer.start_span(name).end()

    threads = [threading.Thread(target=emit, args=(names[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    otel.shutdown()
    with tiny_queue.client() as http:
        found = http.get("/api/v1/traces", params={"service": service, "limit": 100}).json()[
            "traces"
        ]
    assert sorted(t["root_name"] for t in found) == sorted(names)
    assert _refused(tiny_queue) > refused_before, "the queue never filled: nothing was retried"


def _refused(server: VigilProcess) -> float:
    with server.client() as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith("vigil_writer_overloaded_total "):
                return float(line.split()[1])
    return 0.0


def _aws(server: VigilProcess, service: str) -> Any:
    # One attempt: botocore would retry a throttled call, hiding the answer under test.
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _codes(calls: list[Callable[[], object]]) -> set[tuple[str, int]]:
    """(error code, HTTP status) of the calls that failed, run 8 at a time."""

    def run(call: Callable[[], object]) -> tuple[str, int] | None:
        try:
            call()
        except ClientError as exc:
            meta = exc.response["ResponseMetadata"]
            return str(exc.response["Error"]["Code"]), int(meta["HTTPStatusCode"])
        return None

    with ThreadPoolExecutor(8) as pool:
        return {r for r in pool.map(run, calls) if r is not None}


def _metric(server: VigilProcess, prefix: str) -> float:
    with server.client() as http:
        lines = http.get("/metrics").text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(prefix))


def test_aws_writes_answer_each_services_throttling_error_and_count_it(
    tiny_queue: VigilProcess,
) -> None:
    logs, cloudwatch, xray = (_aws(tiny_queue, s) for s in ("logs", "cloudwatch", "xray"))
    group = f"/overload/{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": f"line {i}"} for i in range(3)]
    data = [{"MetricName": "m", "Value": float(i)} for i in range(3)]

    def segments() -> list[str]:
        trace = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        return [
            orjson.dumps(
                {
                    "name": "svc",
                    "id": uuid.uuid4().hex[:16],
                    "trace_id": trace,
                    "start_time": time.time() - 1,
                    "end_time": time.time(),
                }
            ).decode()
            for _ in range(3)
        ]

    refused_before = _metric(tiny_queue, 'vigil_ingest_refused_total{protocol="cloudwatch_logs"')
    assert _codes(
        [
            lambda: logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
            for _ in range(16)
        ]
    ) == {("ThrottlingException", 400)}
    assert _codes(
        [lambda: cloudwatch.put_metric_data(Namespace="Overload", MetricData=data)] * 16
    ) == {("Throttling", 400)}
    assert _codes(
        [lambda: xray.put_trace_segments(TraceSegmentDocuments=segments()) for _ in range(16)]
    ) == {("ThrottledException", 429)}
    # Counted: the refusals by protocol, the answers by service and operation.
    assert (
        _metric(tiny_queue, 'vigil_ingest_refused_total{protocol="cloudwatch_logs"')
        > refused_before
    )
    for protocol in ("cloudwatch", "xray_api"):
        assert _metric(tiny_queue, f'vigil_ingest_refused_total{{protocol="{protocol}"') > 0
    assert (
        _metric(tiny_queue, 'vigil_ingest_requests_total{code="429",protocol="cloudwatch_logs"') > 0
    )
    for service, operation, code in (
        ("logs", "PutLogEvents", "ThrottlingException"),
        ("cloudwatch", "PutMetricData", "Throttling"),
        ("xray", "PutTraceSegments", "ThrottledException"),
    ):
        labels = f'operation="{operation}",outcome="{code}",service="{service}"'
        line = f"vigil_aws_requests_total{{{labels}}}"
        assert _metric(tiny_queue, line) > 0, line


class _Service(AwsService):
    model = "logs"
    validation_error = "InvalidParameterException"


@pytest.mark.parametrize(
    ("raised", "reason", "status", "grpc_code"),
    [
        (Overloaded(retry_after=2.4), "overloaded", 429, "RESOURCE_EXHAUSTED"),
        (StoreUnavailable("disk full"), "unavailable", 503, "UNAVAILABLE"),
    ],
)
def test_one_helper_turns_refusals_into_each_protocols_answer(
    raised: Exception, reason: str, status: int, grpc_code: str
) -> None:
    """``submit`` against a writer that refuses (the store cannot be made to fail on cue in
    a real process: this is the one place the refusal is injected)."""
    metrics = SelfMetrics()

    async def refuse(_: Decoded) -> None:
        raise raised

    decoded = Decoded(signal="logs")
    decoded.rejected.add("bad", 2)
    refusal = asyncio.run(submit(refuse, decoded, metrics, "otlp_http", "logs"))
    assert refusal is not None
    assert (refusal.reason, refusal.status, refusal.grpc_code) == (reason, status, grpc_code)
    assert refusal.retry_after_header == ("2" if reason == "overloaded" else "1")
    text = metrics.render().decode()
    assert (
        f'vigil_ingest_refused_total{{protocol="otlp_http",reason="{reason}",signal="logs"}} 1.0'
        in text
    )
    assert (
        'vigil_ingest_items_total{outcome="rejected",protocol="otlp_http",signal="logs"} 2.0'
        in (text)
    )
    error = _Service().refused(refusal)
    assert (error.code, error.status) == (
        ("ThrottlingException", 400)
        if reason == "overloaded"
        else ("ServiceUnavailableException", 503)
    )

    async def take(_: Decoded) -> None:
        return None

    assert asyncio.run(submit(take, decoded, metrics, "otlp_http", "logs")) is None
