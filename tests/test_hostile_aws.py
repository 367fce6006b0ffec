"""The AWS front door under the requests of issue 18 items 6, 7, 8, 10 and 12, sent raw so
that the exact hostile bytes arrive: each answers a 4xx in its protocol's shape."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from tests.vigil_process import VigilProcess

CW_JSON = {
    "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics",
    "Content-Type": "application/x-amz-json-1.0",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _logs(operation: str) -> dict[str, str]:
    return {
        "X-Amz-Target": f"Logs_20140328.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }


def _json_error(answer: httpx.Response) -> dict[str, Any]:
    assert 400 <= answer.status_code < 500, answer.text
    body: dict[str, Any] = orjson.loads(answer.content)
    assert "__type" in body
    return body


def _query_error(answer: httpx.Response) -> str:
    assert 400 <= answer.status_code < 500, answer.text
    assert b"<ErrorResponse" in answer.content, answer.text
    assert b"<Code>" in answer.content, answer.text
    return answer.text


BAD_TIMES: list[Any] = [-60, 10**12, 2**53 + 1, 1e308]


@pytest.mark.parametrize("start", BAD_TIMES)
def test_get_metric_statistics_json_bad_start_time(vigil: VigilProcess, start: Any) -> None:
    body = {
        "Namespace": "N",
        "MetricName": "M",
        "StartTime": start,
        "EndTime": time.time(),
        "Period": 60,
        "Statistics": ["Sum"],
    }
    answer = httpx.post(vigil.url + "/", content=orjson.dumps(body), headers=CW_JSON)
    error = _json_error(answer)
    assert "StartTime" in error["message"]
    assert "1970 and 2100" in error["message"]


@pytest.mark.parametrize("start", ["-60", str(10**12), str(2**53 + 1), "inf", "NaN"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_metric_statistics_query_bad_start_time(
    vigil: VigilProcess, start: str, method: str
) -> None:
    form = {
        "Action": "GetMetricStatistics",
        "Version": "2010-08-01",
        "Namespace": "N",
        "MetricName": "M",
        "StartTime": start,
        "EndTime": "2026-01-01T00:00:00Z",
        "Period": "60",
        "Statistics.member.1": "Sum",
    }
    if method == "GET":
        answer = httpx.get(vigil.url + "/", params=form)
    else:
        answer = httpx.post(vigil.url + "/", data=form, headers=FORM)
    text = _query_error(answer)
    assert "StartTime" in text


def test_get_metric_data_nan_period_and_time(vigil: VigilProcess) -> None:
    body = (
        b'{"StartTime": NaN, "EndTime": 1, "MetricDataQueries": [{"Id": "m1", "Expression": "1"}]}'
    )
    headers = {**CW_JSON, "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData"}
    _json_error(httpx.post(vigil.url + "/", content=body, headers=headers))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/TraceSummaries", {"StartTime": 10**12, "EndTime": 1}),
        ("/TraceSummaries", {"StartTime": -60, "EndTime": 1}),
        ("/ServiceGraph", {"StartTime": 2**53 + 1, "EndTime": 1}),
        (
            "/SamplingTargets",
            {
                "SamplingStatisticsDocuments": [
                    {
                        "RuleName": "r",
                        "ClientID": "c" * 24,
                        "Timestamp": 2**53 + 1,
                        "RequestCount": 1,
                        "SampledCount": 1,
                    }
                ]
            },
        ),
    ],
)
def test_xray_bad_times_are_400(vigil: VigilProcess, path: str, body: dict[str, Any]) -> None:
    answer = httpx.post(vigil.url + path, content=orjson.dumps(body))
    assert 400 <= answer.status_code < 500, answer.text
    assert "1970 and 2100" in answer.text


def test_create_sampling_rule_without_rule_name_is_400(vigil: VigilProcess) -> None:
    rule = {
        "ResourceARN": "*",
        "Priority": 1,
        "FixedRate": 0.1,
        "ReservoirSize": 1,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "*",
        "Version": 1,
    }
    answer = httpx.post(
        vigil.url + "/CreateSamplingRule", content=orjson.dumps({"SamplingRule": rule})
    )
    assert answer.status_code == 400, answer.text
    assert "RuleName" in answer.text


def test_query_protocol_non_utf8_body_is_xml(vigil: VigilProcess) -> None:
    body = b"Action=ListMetrics&Version=2010-08-01&Namespace=\xff\xfe"
    text = _query_error(httpx.post(vigil.url + "/", content=body, headers=FORM))
    assert "UTF-8" in text


def test_query_protocol_entity_attributes_scalar_is_400(vigil: VigilProcess) -> None:
    form = {
        "Action": "PutMetricData",
        "Version": "2010-08-01",
        "Namespace": "Hostile",
        "MetricData.member.1.MetricName": "M",
        "MetricData.member.1.Value": "1",
        "EntityMetricData.member.1.Entity.Attributes": "true",
    }
    _query_error(httpx.post(vigil.url + "/", data=form, headers=FORM))


@pytest.mark.parametrize(
    "body",
    [
        b'{"logGroupName": "g", "logStreamNames": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"logGroupName": ' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}",
    ],
)
def test_filter_log_events_deep_json_is_400(vigil: VigilProcess, body: bytes) -> None:
    error = _json_error(httpx.post(vigil.url + "/", content=body, headers=_logs("FilterLogEvents")))
    assert len(error["message"]) < 2000


@pytest.mark.parametrize(
    "data",
    [
        {"Namespace": "N", "MetricData": [{"MetricName": 5, "Value": 1}]},
        {"Namespace": 5, "MetricData": [{"MetricName": "M", "Value": 1}]},
        {"Namespace": "N", "MetricData": "x"},
        {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": "x"}]},
        {"Namespace": "N", "MetricData": [{"MetricName": "M", "Dimensions": {"a": "b"}}]},
    ],
)
def test_put_metric_data_type_confusion_is_400(vigil: VigilProcess, data: dict[str, Any]) -> None:
    headers = {**CW_JSON, "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}
    _json_error(httpx.post(vigil.url + "/", content=orjson.dumps(data), headers=headers))


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("DescribeLogGroups", {"logGroupNamePrefix": 5}),
        ("FilterLogEvents", {"logGroupName": {"a": "b"}}),
        ("GetLogEvents", {"logGroupName": "g", "logStreamName": "s", "startTime": "x"}),
        ("StartQuery", {"logGroupName": "g", "startTime": 1, "endTime": 2, "queryString": 5}),
    ],
)
def test_logs_type_confusion_is_400(
    vigil: VigilProcess, operation: str, body: dict[str, Any]
) -> None:
    _json_error(httpx.post(vigil.url + "/", content=orjson.dumps(body), headers=_logs(operation)))


def test_model_max_length_is_checked(vigil: VigilProcess) -> None:
    """botocore's validator checks only minimums; a 70 KB prefix reached SQLite's LIKE."""
    body = {"logGroupName": "g", "logStreamNamePrefix": "x" * 70_000}
    error = _json_error(
        httpx.post(vigil.url + "/", content=orjson.dumps(body), headers=_logs("DescribeLogStreams"))
    )
    assert "logStreamNamePrefix" in error["message"]
    assert "Member must have length less than or equal to 512" in error["message"]
