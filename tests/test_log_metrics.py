"""Metric filters and EMF at ingest (PutLogEvents and OTLP alike), OTLP logs reachable
through the Logs API, and trace correlation — checked through real clients and vigil's
read API."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from opentelemetry._logs import LogRecord, SeverityNumber

from tests.logs_client import logs_client, now_ms, rows, unique, wait_query
from tests.otel import pipelines
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    return logs_client(vigil)


def datapoints(
    vigil: VigilProcess, namespace: str, name: str, statistic: str = "Sum", **dims: str
) -> list[dict[str, Any]]:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("namespace", namespace),
        ("name", name),
        ("statistic", statistic),
        ("period", "3600"),
        ("start", "now-3h"),
        ("end", str(int(time.time()) + 3600)),
    ]
    params += [("dimension", f"{k}={v}") for k, v in dims.items()]
    response = httpx.get(f"{vigil.url}/api/v1/metrics/datapoints", params=params)
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["datapoints"]
    return points


def total(points: list[dict[str, Any]]) -> float:
    return float(sum(p["value"] for p in points))


def test_metric_filters_from_put_log_events(logs: Any, vigil: VigilProcess) -> None:
    group, ns = unique("/mf"), unique("MF")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="errors",
        filterPattern='{ $.level = "ERROR" }',
        metricTransformations=[
            {"metricName": "Errors", "metricNamespace": ns, "metricValue": "1", "defaultValue": 0}
        ],
    )
    logs.put_metric_filter(
        logGroupName=group,
        filterName="latency",
        filterPattern="{ $.latency > 0 }",
        metricTransformations=[
            {
                "metricName": "Latency",
                "metricNamespace": ns,
                "metricValue": "$.latency",
                "unit": "Milliseconds",
                "dimensions": {"Path": "$.path"},
            }
        ],
    )
    logs.put_metric_filter(
        logGroupName=group,
        filterName="bytes",
        filterPattern="[ip, user, status = 5*, bytes]",
        metricTransformations=[
            {"metricName": "Bytes5xx", "metricNamespace": ns, "metricValue": "$bytes"}
        ],
    )
    filters = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterName"] for f in filters] == ["bytes", "errors", "latency"]
    assert (
        logs.describe_metric_filters(metricName="Errors", metricNamespace=ns)["metricFilters"][0][
            "filterName"
        ]
        == "errors"
    )
    assert (
        logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 3
    )
    now = now_ms()
    messages = [
        json.dumps({"level": "ERROR", "latency": 120, "path": "/a"}),
        json.dumps({"level": "INFO", "latency": 30, "path": "/a"}),
        json.dumps({"level": "ERROR", "latency": 50, "path": "/b"}),
        "10.0.0.1 ann 503 2048",
        "10.0.0.2 bob 200 99",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now - 100 + i, "message": m} for i, m in enumerate(messages)],
    )
    errors = datapoints(vigil, ns, "Errors")
    assert total(errors) == 2  # and a 0 for each of the three other events
    assert total(datapoints(vigil, ns, "Errors", "SampleCount")) == 5
    assert total(datapoints(vigil, ns, "Latency", Path="/a")) == 150
    latency_b = datapoints(vigil, ns, "Latency", "Maximum", Path="/b")
    assert latency_b[0]["value"] == 50
    assert latency_b[0]["unit"] == "Milliseconds"
    assert total(datapoints(vigil, ns, "Bytes5xx")) == 2048

    logs.delete_metric_filter(logGroupName=group, filterName="errors")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": json.dumps({"level": "ERROR"})}],
    )
    assert total(datapoints(vigil, ns, "Errors")) == 2
    with pytest.raises(ClientError) as err:
        logs.delete_metric_filter(logGroupName=group, filterName="errors")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    bad: dict[str, dict[str, Any]] = {
        "pattern": dict(filterPattern="{ $.x = }", value="1", dims=None),
        "value": dict(filterPattern="", value="abc", dims=None),
        "field value with terms": dict(filterPattern="ERROR", value="$.x", dims=None),
        "literal dimension": dict(filterPattern="{ $.a = 1 }", value="1", dims={"A": "x"}),
    }
    for what, spec in bad.items():
        transform: dict[str, Any] = {
            "metricName": "M",
            "metricNamespace": ns,
            "metricValue": spec["value"],
        }
        if spec["dims"]:
            transform["dimensions"] = spec["dims"]
        with pytest.raises(ClientError) as err:
            logs.put_metric_filter(
                logGroupName=group,
                filterName="bad",
                filterPattern=spec["filterPattern"],
                metricTransformations=[transform],
            )
        assert err.value.response["Error"]["Code"] == "InvalidParameterException", what


def test_test_metric_filter(logs: Any) -> None:
    answer = logs.test_metric_filter(
        filterPattern="[ip, user, status = 4*, bytes]",
        logEventMessages=["1.2.3.4 ann 404 10", "1.2.3.4 bob 200 99", "5.6.7.8 cy 401 7"],
    )
    assert [(m["eventNumber"], m["extractedValues"]["$status"]) for m in answer["matches"]] == [
        (1, "404"),
        (3, "401"),
    ]
    json_answer = logs.test_metric_filter(
        filterPattern='{ $.level = "ERROR" && $.ms > 5 }',
        logEventMessages=['{"level": "ERROR", "ms": 9}', '{"level": "ERROR", "ms": 1}'],
    )
    assert json_answer["matches"] == [
        {
            "eventNumber": 1,
            "eventMessage": '{"level": "ERROR", "ms": 9}',
            "extractedValues": {"$.level": "ERROR", "$.ms": "9"},
        }
    ]
    with pytest.raises(ClientError) as err:
        logs.test_metric_filter(filterPattern="{ nope", logEventMessages=["x"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def emf(namespace: str, **values: Any) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": now_ms(),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["Service"], ["Service", "Op"]],
                        "Metrics": [
                            {"Name": "Duration", "Unit": "Milliseconds"},
                            {"Name": "Hits", "Unit": "Count", "StorageResolution": 1},
                        ],
                    }
                ],
            },
            "Service": "cart",
            "Op": "add",
            **values,
        }
    )


def test_emf_from_put_log_events_and_otlp(logs: Any, vigil: VigilProcess) -> None:
    ns = unique("EMF")
    group = unique("/emf")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms(), "message": emf(ns, Duration=[10, 20], Hits=1)},
            {"timestamp": now_ms(), "message": '{"_aws": "not a directive"}'},
        ],
    )
    otel = pipelines(vigil, "http", {"service.name": unique("emf-svc")})
    otel.logger_provider.get_logger("emf").emit(
        LogRecord(body=emf(ns, Duration=30, Hits=2), severity_number=SeverityNumber.INFO)
    )
    otel.shutdown()
    assert total(datapoints(vigil, ns, "Duration", Service="cart")) == 60
    assert total(datapoints(vigil, ns, "Duration", "SampleCount", Service="cart", Op="add")) == 3
    hits = datapoints(vigil, ns, "Hits", Service="cart")
    assert total(hits) == 3
    assert hits[0]["unit"] == "Count"
    series = httpx.get(
        f"{vigil.url}/api/v1/metrics/series", params={"namespace": ns, "name": "Hits"}
    ).json()["series"]
    assert len(series) == 2


def test_otlp_logs_through_the_logs_api_and_trace_correlation(
    logs: Any, vigil: VigilProcess
) -> None:
    service = unique("otlp-svc")
    otel = pipelines(vigil, "grpc", {"service.name": service, "service.instance.id": "i-1"})
    logger = otel.logger_provider.get_logger("app")
    xray = "1-5f84c7a3-1bd6d8a1e2c34c2b8e0f1a2b"
    logger.emit(LogRecord(body=json.dumps({"level": "ERROR", "traceId": xray, "ms": 7})))
    logger.emit(LogRecord(body="plain INFO line", attributes={"region": "eu"}))
    otel.shutdown()
    groups = logs.describe_log_groups(logGroupNamePrefix=service)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [service]
    streams = logs.describe_log_streams(logGroupName=service)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["i-1"]
    found = logs.filter_log_events(logGroupName=service, filterPattern='{ $.level = "ERROR" }')
    assert len(found["events"]) == 1
    assert found["events"][0]["logStreamName"] == "i-1"
    start = int(time.time()) - 600
    answer = wait_query(
        logs,
        logs.start_query(
            logGroupName=service,
            startTime=start,
            endTime=start + 1200,
            queryString="fields level, ms, region | sort @timestamp asc",
        )["queryId"],
    )
    assert rows(answer) == [{"level": "ERROR", "ms": "7"}, {"region": "eu"}]
    by_trace = httpx.get(
        f"{vigil.url}/api/v1/logs",
        params={"trace_id": "5f84c7a31bd6d8a1e2c34c2b8e0f1a2b", "start": "now-1h"},
    ).json()["logs"]
    assert [json.loads(r["body"])["ms"] for r in by_trace] == [7]
