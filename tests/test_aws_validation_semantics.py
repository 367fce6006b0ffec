"""The semantic differences a public suite of AWS-behaviour tests found (issue 17 part 3),
one test each, with AWS's code and message, through boto3 against a vigil process. The
CloudWatch ones run over each protocol boto3 can speak to CloudWatch (JSON 1.0, query,
Smithy RPC v2 CBOR)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import aws_protocols
from tests.logs_client import logs_client
from tests.vigil_process import VigilProcess
from tests.xray_helpers import xray_client

UNCHECKED = Config(retries={"max_attempts": 1}, parameter_validation=False)


@pytest.fixture(params=["json", "query", "cbor"])
def cw(vigil: VigilProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    client = aws_protocols.client("cloudwatch", request.param, vigil.url, config=UNCHECKED)
    yield client
    client.close()


def _refusal(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**params)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _minute(offset: int = 0) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=offset)


METRIC = {"Namespace": "App", "MetricName": "Latency"}


def test_get_metric_data_start_not_before_end(cw: Any) -> None:
    query = {"Id": "m1", "MetricStat": {"Metric": METRIC, "Period": 60, "Stat": "Sum"}}
    for start, end in ((_minute(), _minute()), (_minute(), _minute(-5))):
        assert _refusal(
            cw.get_metric_data, MetricDataQueries=[query], StartTime=start, EndTime=end
        ) == ("ValidationError", "The parameter EndTime must be greater than StartTime.")


def test_get_metric_statistics_start_not_before_end(cw: Any) -> None:
    assert _refusal(
        cw.get_metric_statistics,
        **METRIC,
        StartTime=_minute(),
        EndTime=_minute(-1),
        Period=60,
        Statistics=["Sum"],
    ) == (
        "InvalidParameterValue",
        "The parameter StartTime must be less than the parameter EndTime.",
    )


def test_get_metric_data_query_without_metric_stat_or_expression(cw: Any) -> None:
    query = {"Id": "m1", "MetricStat": {"Metric": METRIC, "Period": 60, "Stat": "Sum"}}
    assert _refusal(
        cw.get_metric_data,
        MetricDataQueries=[query, {"Id": "m2", "Label": "neither"}],
        StartTime=_minute(-5),
        EndTime=_minute(),
    ) == ("ValidationError", "The parameter MetricDataQueries.member.2.MetricStat is required.")


def test_get_metric_statistics_without_any_statistic(cw: Any) -> None:
    code, message = _refusal(
        cw.get_metric_statistics,
        **METRIC,
        StartTime=_minute(-5),
        EndTime=_minute(),
        Period=60,
    )
    assert code == "InvalidParameterCombination"
    assert "Statistics or ExtendedStatistics" in message


def test_put_metric_data_value_with_values_and_uneven_counts(cw: Any) -> None:
    ns = f"Sem/{uuid.uuid4().hex[:8]}"
    assert _refusal(
        cw.put_metric_data,
        Namespace=ns,
        MetricData=[{"MetricName": "m", "Value": 1.0, "Values": [1.0, 2.0]}],
    ) == (
        "InvalidParameterValue",
        "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually"
        " exclusive and you have specified both.",
    )
    assert _refusal(
        cw.put_metric_data,
        Namespace=ns,
        MetricData=[{"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}],
    ) == (
        "InvalidParameterValue",
        "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the"
        " same size.",
    )
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []


def test_put_metric_data_nan(cw: Any) -> None:
    assert _refusal(
        cw.put_metric_data,
        Namespace="Sem/nan",
        MetricData=[{"MetricName": "m", "Value": float("nan")}],
    ) == (
        "InvalidParameterValue",
        "The value NaN for parameter MetricData.member.1.Value is invalid.",
    )


def test_list_metrics_foreign_next_token(cw: Any) -> None:
    token = "eyJ0eXBlIjoibGlzdCJ9"  # another service's (or another API's) token
    assert _refusal(cw.list_metrics, NextToken=token) == (
        "InvalidParameterValue",
        "Request parameter NextToken is invalid",
    )


def test_filter_log_events_same_timestamp_in_put_order(vigil: VigilProcess) -> None:
    logs = logs_client(vigil)
    group, stream = f"/sem/{uuid.uuid4().hex[:8]}", "s"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    messages = [f"event {i} {uuid.uuid4().hex[:4]}" for i in range(20)]
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now, "message": m} for m in messages]
        + [{"timestamp": now + 1, "message": "later"}],
    )
    found = logs.filter_log_events(logGroupName=group, startTime=now, endTime=now)["events"]
    assert [e["message"] for e in found] == messages
    assert {e["timestamp"] for e in found} == {now}
    paged: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "limit": 7}
    while True:
        page = logs.filter_log_events(**kwargs)
        paged += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert paged == [*messages, "later"]
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in got["events"]] == [*messages, "later"]
    logs.close()


def test_create_log_group_kms_key_id_is_described(vigil: VigilProcess) -> None:
    logs = logs_client(vigil)
    group = f"/sem/kms-{uuid.uuid4().hex[:8]}"
    key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    logs.create_log_group(logGroupName=group, kmsKeyId=key)
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["kmsKeyId"] == key
    logs.create_log_group(logGroupName=group + "-plain")
    (plain,) = logs.describe_log_groups(logGroupNamePrefix=group + "-plain")["logGroups"]
    assert "kmsKeyId" not in plain
    logs.close()


def _segment(trace_id: str) -> str:
    now = time.time()
    return json.dumps(
        {
            "trace_id": trace_id,
            "id": os.urandom(8).hex(),
            "name": "checkout",
            "start_time": now - 0.5,
            "end_time": now,
        }
    )


def test_batch_get_traces_reads_its_writes(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    for _ in range(5):
        trace_id = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        put = xray.put_trace_segments(TraceSegmentDocuments=[_segment(trace_id)])
        assert put["UnprocessedTraceSegments"] == []
        got = xray.batch_get_traces(TraceIds=[trace_id])
        assert [t["Id"] for t in got["Traces"]] == [trace_id]
        assert got["UnprocessedTraceIds"] == []
    xray.close()


def test_put_telemetry_records_is_accepted(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    record = {
        "Timestamp": datetime.now(UTC),
        "SegmentsReceivedCount": 3,
        "SegmentsSentCount": 3,
        "SegmentsSpilloverCount": 0,
        "SegmentsRejectedCount": 0,
        "BackendConnectionErrors": {"TimeoutCount": 0, "ConnectionRefusedCount": 1},
    }
    answer = xray.put_telemetry_records(
        TelemetryRecords=[record], EC2InstanceId="i-0123456789", Hostname="host-a"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    counted = httpx.get(vigil.url + "/metrics").text
    assert 'protocol="xray_api",signal="telemetry"' in counted
    xray.close()


# --- issue 17 part 6: AWS-internal configuration, refused clearly ----------------------


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("put_delivery_source", {"name": "s", "resourceArn": "arn:aws:x", "logType": "t"}),
        ("describe_delivery_sources", {}),
        ("create_delivery", {"deliverySourceName": "s", "deliveryDestinationArn": "arn:aws:y"}),
        ("put_resource_policy", {"policyName": "p", "policyDocument": "{}"}),
        ("describe_resource_policies", {}),
        ("put_account_policy", {"policyName": "p", "policyDocument": "{}", "policyType": "x"}),
        ("describe_account_policies", {"policyType": "DATA_PROTECTION_POLICY"}),
    ],
)
def test_logs_internal_configuration_is_refused(
    vigil: VigilProcess, operation: str, params: dict[str, Any]
) -> None:
    logs = logs_client(vigil)
    code, message = _refusal(getattr(logs, operation), **params)
    assert code == "InvalidOperationException"
    assert "is not supported by vigil" in message
    assert "exists only inside AWS" in message
    logs.close()


def test_xray_internal_configuration_is_refused(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    for call, params in (
        (xray.put_encryption_config, {"Type": "KMS", "KeyId": "alias/k"}),
        (xray.get_encryption_config, {}),
        (xray.list_resource_policies, {}),
        (xray.update_trace_segment_destination, {"Destination": "CloudWatchLogs"}),
    ):
        code, message = _refusal(call, **params)
        assert code == "InvalidRequestException"
        assert "exists only inside AWS" in message
    xray.close()
