"""CloudWatch over Smithy RPC v2 CBOR on the wire, byte for byte: what the boto3 suite
(tests/test_cloudwatch_api.py, forced to CBOR) cannot see — tag-1 timestamps in and out,
CBOR errors, malformed bodies. Requests are built with cbor2, answers read with both cbor2
and botocore's own CBOR parser."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import httpx
from botocore.parsers import create_parser

from tests.vigil_process import VigilProcess
from vigil.api.aws.protocols import load_model

PATH = "/service/GraniteServiceVersion20100801/operation/"
HEADERS = {
    "smithy-protocol": "rpc-v2-cbor",
    "Content-Type": "application/cbor",
    "Accept": "application/cbor",
}


def _call(vigil: VigilProcess, operation: str, body: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else cbor2.dumps(body)
    return httpx.post(vigil.url + PATH + operation, content=raw, headers=HEADERS)


def _error(response: httpx.Response) -> tuple[str, str]:
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {
            "status_code": response.status_code,
            "headers": dict(response.headers),
            "body": response.content,
        },
        None,
    )
    return parsed["Error"]["Code"], parsed["Error"]["Message"]


def test_tag_1_timestamps_in_and_out(vigil: VigilProcess) -> None:
    ns = f"Cbor/{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    put = _call(
        vigil,
        "PutMetricData",
        {
            "Namespace": ns,
            "MetricData": [
                {
                    "MetricName": "m",
                    "Timestamp": cbor2.CBORTag(1, int(t0.timestamp())),
                    "Value": 2.5,
                }
            ],
        },
    )
    assert put.status_code == 200, put.content
    assert put.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert put.headers["content-type"] == "application/cbor"
    got = _call(
        vigil,
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {"Namespace": ns, "MetricName": "m"},
                        "Period": 60,
                        "Stat": "Sum",
                    },
                }
            ],
            # A float epoch as tag 1, as botocore sends sub-second times.
            "StartTime": cbor2.CBORTag(1, t0.timestamp() - 60.5),
            "EndTime": cbor2.CBORTag(1, int(t0.timestamp()) + 60),
        },
    )
    assert got.status_code == 200, got.content
    # Tag 1 (0xc1) over a 4-byte unsigned epoch (0x1a), as Smithy writes timestamps.
    assert b"\xc1\x1a" + int(t0.timestamp()).to_bytes(4, "big") in got.content
    (result,) = cbor2.loads(got.content)["MetricDataResults"]
    assert result["Timestamps"] == [t0]
    assert result["Values"] == [2.5]
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 200, "headers": dict(got.headers), "body": got.content},
        load_model("cloudwatch").operation_model("GetMetricData").output_shape,
    )
    assert parsed["MetricDataResults"][0]["Timestamps"] == [t0]


def test_errors_are_cbor_maps_with_the_query_code(vigil: VigilProcess) -> None:
    response = _call(vigil, "ListMetrics", {"Namespace": ""})
    assert response.status_code == 400
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    body = cbor2.loads(response.content)
    # The model's error shape for CloudWatch's ValidationError, and the query code.
    assert body["__type"] == "ValidationException"
    assert response.headers["x-amzn-query-error"] == "ValidationError;Sender"
    code, message = _error(response)
    assert code == "ValidationError"
    assert message == (
        "2 validation errors detected: Value '' at 'namespace' failed to satisfy constraint:"
        " Member must have length greater than or equal to 1; Value '' at 'namespace' failed"
        " to satisfy constraint: Member must satisfy regular expression pattern: [^:].*"
    )


def test_malformed_bodies_and_unknown_operations(vigil: VigilProcess) -> None:
    for body in (b"\xff\xff", b"\x9f", b"\x83\x01\x02\x03", cbor2.dumps("text")):
        response = _call(vigil, "ListMetrics", body)
        assert response.status_code == 400
        assert _error(response)[0] == "SerializationException"
    # No body at all: an operation without required input runs.
    assert _call(vigil, "ListMetrics", b"").status_code == 200
    unknown = _call(vigil, "DeleteEverything", {})
    assert unknown.status_code == 400
    assert _error(unknown)[0] == "UnknownOperationException"
    bad_time = _call(
        vigil,
        "GetMetricStatistics",
        {
            "Namespace": "n",
            "MetricName": "m",
            "StartTime": cbor2.CBORTag(1, -5),
            "EndTime": cbor2.CBORTag(1, 60),
            "Period": 60,
            "Statistics": ["Sum"],
        },
    )
    assert bad_time.status_code == 400
    assert _error(bad_time)[0] == "InvalidParameterValue"


def test_put_metric_data_members_of_the_wrong_kind(vigil: VigilProcess) -> None:
    """PutMetricData's input is its decoder's to check on every protocol; a map where a
    name or a unit belongs was an unhashable key there (the CBOR fuzz run's 5xx)."""
    for datum in (
        {"MetricName": {"a": 1}, "Value": 1.0},
        {"MetricName": "m", "Value": 1.0, "Unit": {"a": 1}},
        {"MetricName": ["m"], "Value": 1.0},
    ):
        response = _call(vigil, "PutMetricData", {"Namespace": "Cbor/kind", "MetricData": [datum]})
        assert response.status_code == 400, response.content
        assert _error(response)[0] == "InvalidParameterValue"
