"""OTLP/HTTP with a plain HTTP client: JSON encoding, gzip, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.otlp_payloads import gauge_request, log, logs_request, span, spans_request
from tests.runtime import InProcessVigil
from tests.vigil_process import Served, VigilProcess

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def _name() -> str:
    return f"raw-{uuid.uuid4().hex[:8]}"


def _logs(vigil: VigilProcess, group: str) -> list[dict[str, Any]]:
    with vigil.client() as http:
        logs: list[dict[str, Any]] = http.get(
            "/api/v1/logs", params={"group": group, "limit": 1000}
        ).json()["logs"]
        return logs


def _post(vigil: Served, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(vigil.otlp_http_url + path, content=body, headers=headers, timeout=30)


def test_json_encoding_with_hex_ids_and_string_int64(vigil: VigilProcess) -> None:
    service = _name()
    now = time.time_ns()
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "js"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(now),
                                "severityNumber": 13,
                                "severityText": "WARN",
                                "body": {"stringValue": "from json"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "42"}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = _post(vigil, "/v1/logs", json.dumps(body).encode(), JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    (stored,) = _logs(vigil, service)
    assert stored["time_unix_nano"] == str(now)
    assert stored["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert stored["span_id"] == "eee19b7ec3c1b174"
    assert stored["attributes"] == {"n": 42, "ratio": 0.5}
    assert stored["severity_text"] == "WARN"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_gzip_bodies(vigil: VigilProcess, encoding: str) -> None:
    service = _name()
    request = logs_request(service, [log("zipped")])
    if encoding == "protobuf":
        raw, headers = request.SerializeToString(), dict(PB)
    else:
        from google.protobuf import json_format

        raw, headers = json_format.MessageToJson(request).encode(), dict(JSON)
    response = _post(vigil, "/v1/logs", gzip.compress(raw), {**headers, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert [entry["body"] for entry in _logs(vigil, service)] == ["zipped"]


def test_mixed_batch_stores_valid_items_and_counts_rejected(vigil: VigilProcess) -> None:
    service = _name()
    good = [
        span(uuid.uuid4().bytes, uuid.uuid4().bytes[:8], "good-1"),
        span(uuid.uuid4().bytes, uuid.uuid4().bytes[:8], "good-2"),
    ]
    short_trace = span(b"\x01" * 8, b"\x02" * 8, "bad-trace-id")
    zero_start = span(uuid.uuid4().bytes, b"\x03" * 8, "zero-start")
    zero_start.start_time_unix_nano = 0
    future = span(
        uuid.uuid4().bytes, b"\x04" * 8, "future", start=time.time_ns() + 10 * 86400 * 10**9
    )
    backwards = span(uuid.uuid4().bytes, b"\x05" * 8, "backwards")
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1
    req = spans_request(service, [good[0], short_trace, zero_start, future, backwards, good[1]])
    response = _post(vigil, "/v1/traces", req.SerializeToString(), PB)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 4
    message = answer.partial_success.error_message
    assert "trace_id must be 16 bytes, got 8" in message
    assert "start_time_unix_nano is 0" in message
    assert "in the future" in message
    assert "before its start" in message
    with vigil.client() as http:
        found = http.get("/api/v1/traces", params={"service": service}).json()["traces"]
    assert sorted(t["root_name"] for t in found) == ["good-1", "good-2"]


def test_log_items_over_the_limits_are_refused_whole(vigil: VigilProcess) -> None:
    service = _name()
    huge_value = log("huge attribute", big="x" * (10 * 1024 * 1024))
    many = log("many attributes", **{f"k{i}": i for i in range(100_000)})
    bad_trace = log("bad trace id")
    bad_trace.trace_id = b"\x01\x02\x03"
    zero_time = log("zero time", ts=None)
    zero_time.time_unix_nano = 0
    zero_time.observed_time_unix_nano = 0
    future = log("future", ts=time.time_ns() + 3 * 3600 * 10**9)
    keep = log("kept")
    req = logs_request(service, [huge_value, many, bad_trace, zero_time, future, keep])
    response = _post(vigil, "/v1/logs", req.SerializeToString(), PB)
    assert response.status_code == 200
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 4
    assert "over the limit of 262144" in answer.partial_success.error_message
    assert "100000 attributes, over the limit of 1024" in answer.partial_success.error_message
    stored = _logs(vigil, service)
    # A record without any timestamp takes the time it arrived; it is not refused.
    assert sorted(entry["body"] for entry in stored) == ["kept", "zero time"]
    arrived = next(e for e in stored if e["body"] == "zero time")
    assert abs(int(arrived["time_unix_nano"]) - time.time_ns()) < 60 * 10**9


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b"\x0a\x05\x12\x03", PB, 400, "cannot decode"),  # truncated protobuf
        (b"\x0a\x08\x12\x06\x1a\x04\xff\xfe\xfd\xfc", PB, 400, "cannot decode"),  # invalid UTF-8
        (b'{"resourceLogs": [', JSON, 400, "invalid JSON"),
        (b'{"resourceLogs": [{"scopeLogs": "no"}]}', JSON, 400, "invalid OTLP/JSON"),
        (b'["not an object"]', JSON, 400, "JSON object"),
        (b"hello", {"Content-Type": "text/plain"}, 415, "unsupported content type"),
        (b"\x1f\x8b\x08\x00garbage", {**PB, "Content-Encoding": "gzip"}, 400, "invalid gzip"),
        (b"x", {**PB, "Content-Encoding": "br"}, 415, "unsupported content encoding"),
    ],
)
def test_undecodable_requests(
    vigil: VigilProcess, body: bytes, headers: dict[str, str], status: int, fragment: str
) -> None:
    before = _count(vigil)
    response = _post(vigil, "/v1/logs", body, headers)
    assert response.status_code == status
    if response.headers["content-type"] == "application/json":
        message = response.json()["message"]
    else:
        message = status_pb2.Status.FromString(response.content).message
    assert fragment in message
    assert _count(vigil) == before


def test_empty_request_is_accepted_and_stores_nothing(vigil: VigilProcess) -> None:
    before = _count(vigil)
    for headers in (PB, JSON):
        response = _post(vigil, "/v1/logs", b"", headers)
        assert response.status_code == 200
    assert _count(vigil) == before


def test_body_over_the_limit(tmp_path: Any) -> None:
    server = InProcessVigil(tmp_path / "data", "--max-body-bytes", "100000").start()
    try:
        big = logs_request("big", [log("x" * 60_000), log("y" * 60_000)]).SerializeToString()
        assert _post(server, "/v1/logs", big, PB).status_code == 413
        # The limit holds after decompression too (a gzip bomb is refused, not inflated).
        bomb = gzip.compress(b"\x00" * 10_000_000)
        assert (
            _post(server, "/v1/logs", bomb, {**PB, "Content-Encoding": "gzip"}).status_code == 413
        )
        small = logs_request("big", [log("fits")]).SerializeToString()
        assert _post(server, "/v1/logs", small, PB).status_code == 200
    finally:
        assert server.stop() == 0


def test_metrics_bad_points(vigil: VigilProcess) -> None:
    service = _name()
    now = time.time_ns()
    req = gauge_request(
        service,
        "temp",
        [
            (now, 1.0),
            (0, 2.0),
            (now + 1, float("nan")),
            (now + 2, float("inf")),
            (now + 86400 * 10**9, 3.0),
        ],
    )
    response = _post(vigil, "/v1/metrics", req.SerializeToString(), PB)
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceResponse,
    )

    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 4
    with vigil.client() as http:
        points = http.get(
            "/api/v1/metrics/datapoints",
            params={
                "namespace": service,
                "name": "temp",
                "statistic": "SampleCount",
                "period": 86400,
                "start": "now-1d",
                "end": str(time.time() + 3 * 86400),
            },
        ).json()["datapoints"]
    assert [p["value"] for p in points] == [1.0]


def _count(vigil: VigilProcess) -> float:
    with vigil.client() as http:
        text = http.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vigil_writer_committed_rows_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_ids_ending_in_zero_bytes_are_found(vigil: VigilProcess) -> None:
    # FixedString comparisons against String sets drop trailing NULs in ClickHouse; ids
    # ending in 0x00 (1 trace in 256) must still be found.
    service = _name()
    trace = uuid.uuid4().bytes[:14] + b"\x00\x00"
    req = spans_request(service, [span(trace, b"\x07" * 7 + b"\x00", "zero-tail")])
    assert _post(vigil, "/v1/traces", req.SerializeToString(), PB).status_code == 200
    correlated = log("inside the zero-tail trace")
    correlated.trace_id = trace
    logs = logs_request(service, [correlated]).SerializeToString()
    assert _post(vigil, "/v1/logs", logs, PB).status_code == 200
    with vigil.client() as http:
        tree = http.get(f"/api/v1/traces/{trace.hex()}").json()
        found = http.get("/api/v1/traces", params={"service": service}).json()["traces"]
    assert tree["spans"][0]["span_id"] == "0707070707070700"
    assert tree["log_count"] == 1
    assert [t["trace_id"] for t in found] == [trace.hex()]
    assert found[0]["log_count"] == 1
