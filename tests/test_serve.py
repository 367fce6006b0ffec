"""The `vigil serve` contract: the listening line, /healthz, /metrics, SIGTERM, API keys."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from tests.otel import pipelines
from tests.otlp_payloads import log, logs_request
from tests.runtime import InProcessVigil
from tests.vigil_process import VigilProcess

LINE = re.compile(
    r"^vigil listening http=127\.0\.0\.1:(\d+) otlp-http=127\.0\.0\.1:(\d+)"
    r" otlp-grpc=127\.0\.0\.1:(\d+)"
)


def test_listening_line_health_metrics_and_clean_shutdown(vigil: VigilProcess) -> None:
    line = "vigil listening " + " ".join(f"{k}={v}" for k, v in vigil.addresses.items())
    assert LINE.match(line), line
    with vigil.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        text = http.get("/metrics").text
    assert "vigil_writer_queue_rows" in text
    assert "vigil_writer_commit_seconds_bucket" in text
    assert httpx.get(vigil.otlp_http_url + "/healthz").status_code == 200
    # The OTLP port serves OTLP only.
    assert httpx.get(vigil.otlp_http_url + "/api/v1/logs").status_code == 404


def test_self_metrics_count_accepted_and_rejected(vigil: VigilProcess) -> None:
    bad = log("bad")
    bad.trace_id = b"\x01"
    body = logs_request("selfmetrics", [log("a"), log("b"), bad]).SerializeToString()
    httpx.post(
        vigil.otlp_http_url + "/v1/logs",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    with vigil.client() as http:
        text = http.get("/metrics").text
    assert re.search(
        r'vigil_ingest_items_total\{outcome="accepted",protocol="otlp_http",signal="logs"\} \d',
        text,
    )
    assert re.search(
        r'vigil_ingest_items_total\{outcome="rejected",protocol="otlp_http",signal="logs"\} \d',
        text,
    )
    assert 'vigil_ingest_requests_total{code="200",protocol="otlp_http",signal="logs"}' in text


def test_sigterm_commits_and_exits_zero(tmp_path: Path) -> None:
    server = VigilProcess(tmp_path / "data").start()
    body = logs_request("shutdown", [log(f"m{i}") for i in range(100)]).SerializeToString()
    assert (
        httpx.post(
            server.otlp_http_url + "/v1/logs",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        ).status_code
        == 200
    )
    assert server.stop() == 0
    again = VigilProcess(tmp_path / "data").start()
    try:
        with again.client() as http:
            assert (
                len(
                    http.get("/api/v1/logs", params={"group": "shutdown", "limit": 500}).json()[
                        "logs"
                    ]
                )
                == 100
            )
    finally:
        assert again.stop() == 0


def _serve_public(
    data_dir: Path, *flags: str, env: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``vigil serve`` on all interfaces, VIGIL_API_KEY set to ``env`` (or unset)."""
    environ = {k: v for k, v in os.environ.items() if k != "VIGIL_API_KEY"}
    if env is not None:
        environ["VIGIL_API_KEY"] = env
    ports = ["--port", "0", "--otlp-http-port", "0", "--otlp-grpc-port", "0"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil",
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "0.0.0.0",
            *ports,
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )


def test_refuses_public_address_without_api_key(tmp_path: Path) -> None:
    proc = _serve_public(tmp_path / "d")
    assert proc.returncode == 2
    assert "without an API key" in proc.stderr


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--api-key", ""], None),
        (["--api-key", "   "], None),
        (["--api-key", "k-1", "--api-key", ""], None),
        # An empty flag must not silently override (and so switch off) a real key.
        (["--api-key", ""], "real-key"),
        ([], " "),
        ([], "k-1,,k-2"),
    ],
)
def test_refuses_blank_api_keys(tmp_path: Path, flags: list[str], env: str | None) -> None:
    """Issue 18 item 1: a blank key is refused at start, before anything binds."""
    proc = _serve_public(tmp_path / "d", *flags, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "must not be empty or whitespace" in proc.stderr
    assert not (tmp_path / "d").exists()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    data = tmp_path_factory.mktemp("keyed") / "data"
    server = InProcessVigil(data, "--api-key", "k-123").start()
    yield server
    assert server.stop() == 0


def test_api_key_guards_http(keyed: InProcessVigil) -> None:
    body = logs_request("keyed", [log("secret")]).SerializeToString()
    pb = {"Content-Type": "application/x-protobuf"}
    for base in (keyed.url, keyed.otlp_http_url):
        assert httpx.get(base + "/healthz").status_code == 200
        assert httpx.post(base + "/v1/logs", content=body, headers=pb).status_code == 401
        wrong = httpx.post(
            base + "/v1/logs", content=body, headers={**pb, "Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "unauthorized"
        ok = httpx.post(
            base + "/v1/logs", content=body, headers={**pb, "Authorization": "Bearer k-123"}
        )
        assert ok.status_code == 200
    assert httpx.get(keyed.url + "/api/v1/logs").status_code == 401
    assert httpx.get(keyed.url + "/metrics").status_code == 401
    response = httpx.get(
        keyed.url + "/api/v1/logs",
        params={"group": "keyed"},
        headers={"Authorization": "Bearer k-123"},
    )
    assert [entry["body"] for entry in response.json()["logs"]] == ["secret", "secret"]


def test_api_key_guards_grpc(keyed: InProcessVigil) -> None:
    channel = grpc.insecure_channel(keyed.grpc_target)
    stub = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
    request = logs_request("keyed-raw-grpc", [log("g")])
    with pytest.raises(grpc.RpcError) as err:
        stub.Export(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        stub.Export(request, timeout=10, metadata=[("authorization", "Bearer wrong")])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stub.Export(request, timeout=10, metadata=[("authorization", "Bearer k-123")])
    channel.close()


def test_otel_exporters_send_the_key_in_headers(keyed: InProcessVigil) -> None:
    for transport in ("http", "grpc"):
        otel = pipelines(
            keyed,
            transport,
            {"service.name": f"keyed-{transport}"},
            headers={"Authorization": "Bearer k-123"},
        )
        otel.logger_provider.get_logger("t").emit(body=f"via {transport}")
        otel.shutdown()
        response = httpx.get(
            keyed.url + "/api/v1/logs",
            params={"group": f"keyed-{transport}"},
            headers={"Authorization": "Bearer k-123"},
        )
        assert [e["body"] for e in response.json()["logs"]] == [f"via {transport}"]
