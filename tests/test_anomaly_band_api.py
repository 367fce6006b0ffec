"""ANOMALY_DETECTION_BAND in GetMetricData through boto3 against an in-process vigil on an
injected clock: two results (upper, lower) with the query's id, from the same model the
band alarm compares against (its StateReasonData thresholds equal the graph's band)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.alarm_runtime import Clock, Harness, running

T0 = 1_796_601_600  # 2026-12-07 00:00:00 UTC
HOUR = 3600


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    data_dir: Path = tmp_path_factory.mktemp("band") / "data"
    with running(data_dir, Clock(T0 + 24 * HOUR)) as harness:
        yield harness


@pytest.fixture
def cw(vigil: Harness) -> Iterator[Any]:
    client = vigil.client()
    yield client
    client.close()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _metric(ns: str) -> dict[str, Any]:
    return {"Namespace": ns, "MetricName": "Records", "Dimensions": [{"Name": "Job", "Value": "a"}]}


def _day_of_alternating(cw: Any, ns: str) -> None:
    # 24 hourly points 10, 14, 10, …: a flat model, level 12, spread 1.4826 * 2.
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Records",
                "Dimensions": [{"Name": "Job", "Value": "a"}],
                "Timestamp": _at(T0 + h * HOUR + 5),
                "Value": 10.0 if h % 2 == 0 else 14.0,
            }
            for h in range(24)
        ],
    )


def test_band_in_get_metric_data_matches_the_alarm(vigil: Harness, cw: Any) -> None:
    ns = f"Band/{uuid.uuid4().hex[:8]}"
    vigil.clock.set(T0 + 24 * HOUR)
    _day_of_alternating(cw, ns)
    cw.put_anomaly_detector(
        SingleMetricAnomalyDetector={**_metric(ns), "Stat": "Sum"},
    )
    queries: list[dict[str, Any]] = [
        {"Id": "m1", "MetricStat": {"Metric": _metric(ns), "Period": HOUR, "Stat": "Sum"}},
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "Records (expected)"},
    ]
    answer = cw.get_metric_data(
        MetricDataQueries=queries,
        StartTime=_at(T0 + 20 * HOUR),
        EndTime=_at(T0 + 24 * HOUR),
        ScanBy="TimestampAscending",
    )
    results = answer["MetricDataResults"]
    assert [(r["Id"], r["Label"]) for r in results] == [
        ("m1", "Records"),
        ("ad1", "Records (expected)"),
        ("ad1", "Records (expected)"),
    ]
    spread = 2 * 1.4826 * 2
    upper, lower = results[1], results[2]
    assert [t.timestamp() for t in upper["Timestamps"]] == [T0 + h * HOUR for h in range(20, 24)]
    assert upper["Values"] == pytest.approx([12 + spread] * 4)
    assert lower["Values"] == pytest.approx([12 - spread] * 4)

    # A band alarm on the same metric: after its evaluation (the model retrained on the
    # newer data, spike included), the graph's band over the alarm's window is exactly
    # the thresholds the alarm compared against.
    name = f"records-band-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
        ThresholdMetricId="ad1",
        Metrics=[{**queries[0], "ReturnData": True}, {**queries[1], "ReturnData": True}],
    )
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Records",
                "Dimensions": [{"Name": "Job", "Value": "a"}],
                "Timestamp": _at(T0 + 24 * HOUR + 5),
                "Value": 100.0,
            }
        ],
    )
    vigil.tick(T0 + 25 * HOUR + 30)
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    data = json.loads(alarm["StateReasonData"])
    graph = cw.get_metric_data(
        MetricDataQueries=queries,
        StartTime=_at(T0 + 22 * HOUR),
        EndTime=_at(T0 + 25 * HOUR),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    assert graph[0]["Values"] == data["recentDatapoints"] == [10.0, 14.0, 100.0]
    assert graph[1]["Values"] == pytest.approx(data["recentUpperThresholds"], rel=1e-12)
    assert graph[2]["Values"] == pytest.approx(data["recentLowerThresholds"], rel=1e-12)


def test_band_errors_in_cloudwatch_shape(vigil: Harness, cw: Any) -> None:
    ns = f"Band/{uuid.uuid4().hex[:8]}"
    query = {"Id": "m1", "MetricStat": {"Metric": _metric(ns), "Period": HOUR, "Stat": "Sum"}}
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(
            MetricDataQueries=[
                {**query, "ReturnData": False},
                {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(missing)"},
            ],
            StartTime=_at(T0),
            EndTime=_at(T0 + HOUR),
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "ANOMALY_DETECTION_BAND" in err.value.response["Error"]["Message"]
