"""Overload: a full write queue answers 429 / RESOURCE_EXHAUSTED, and the OpenTelemetry
exporters' own retries still deliver every record."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from tests.otel import Transport, pipelines
from tests.otlp_payloads import log, logs_request
from tests.runtime import InProcessVigil


@pytest.fixture(scope="module")
def tiny_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    server = InProcessVigil(
        tmp_path_factory.mktemp("overload") / "data",
        "--max-queue-rows",
        "2",
        "--commit-interval-ms",
        "300",
        # Accepted rows leave the queue once inserted: flush often so that it drains.
        "--flush-interval-ms",
        "50",
    ).start()
    yield server
    assert server.stop() == 0


def test_full_queue_answers_429_with_retry_after(tiny_queue: InProcessVigil) -> None:
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


def test_full_queue_answers_resource_exhausted_with_retry_info(tiny_queue: InProcessVigil) -> None:
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
    tiny_queue: InProcessVigil, transport: Transport
) -> None:
    refused_before = _refused(tiny_queue)
    service = f"overload-{transport}-{uuid.uuid4().hex[:6]}"
    otel = pipelines(tiny_queue, transport, {"service.name": service})
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


def _refused(server: InProcessVigil) -> float:
    with server.client() as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith("vigil_writer_overloaded_total "):
                return float(line.split()[1])
    return 0.0
