"""Metrics Insights through the wire: GetMetricData's Expression over boto3 (results,
CloudWatch's error shape for a bad query, the limit messages at the response's top level)
and the JSON read API's metric queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.vigil_process import VigilProcess


def _client(vigil: VigilProcess) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )


def test_metrics_insights_over_the_apis(vigil: VigilProcess) -> None:
    ns = f"Insights/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = now - timedelta(minutes=5)
    cw = _client(vigil)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Requests",
                "Dimensions": [{"Name": "Route", "Value": route}],
                "Timestamp": t0 + timedelta(minutes=m),
                "Value": value + m,
            }
            for m in range(3)
            for route, value in (("/a", 1.0), ("/b", 100.0), ("/c", 10.0))
        ],
    )
    sql = (
        f"SELECT SUM(Requests) FROM SCHEMA(\"{ns}\", Route) WHERE Route != '/c'"
        " GROUP BY Route ORDER BY MAX() DESC"
    )
    answer = cw.get_metric_data(
        MetricDataQueries=[{"Id": "q", "Expression": sql, "Period": 60}],
        StartTime=t0,
        EndTime=now,
        ScanBy="TimestampAscending",
    )
    results = answer["MetricDataResults"]
    assert [r["Label"] for r in results] == ["/b", "/a"]
    assert results[0]["Values"] == [100.0, 101.0, 102.0]
    assert answer["Messages"] == []

    old = cw.get_metric_data(
        MetricDataQueries=[{"Id": "q", "Expression": f'SELECT SUM(Requests) FROM "{ns}"'}],
        StartTime=now - timedelta(days=20),
        EndTime=now,
    )
    assert [m["Code"] for m in old["Messages"]] == ["MaxQueryTimeRangeExceeded"]
    assert sorted(old["MetricDataResults"][0]["Values"]) == [111.0, 114.0, 117.0]

    with pytest.raises(ClientError) as bad:
        cw.get_metric_data(
            MetricDataQueries=[{"Id": "q", "Expression": "SELECT SUM(x) FROM AWS/EC2"}],
            StartTime=t0,
            EndTime=now,
        )
    error = bad.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "position 22" in error["Message"]

    with vigil.client() as http:
        reply = http.post(
            "/api/v1/metrics/query",
            json={
                "start": str(int(t0.timestamp())),
                "end": str(int(now.timestamp())),
                "queries": [
                    {"id": "q", "expression": f'SELECT AVG(Requests) FROM "{ns}"', "period": 60}
                ],
            },
        )
        assert reply.status_code == 200, reply.text
        (result,) = reply.json()["results"]
        assert result["label"] == "q"
        assert result["values"] == [37.0, 38.0, 39.0]
        assert result["messages"] == []
        refused = http.post(
            "/api/v1/metrics/query",
            json={"queries": [{"id": "q", "expression": "SELECT SUM(x) FROM y LIMIT 0"}]},
        )
        assert refused.status_code == 400
        assert "LIMIT must be between 1 and 500" in refused.text


def test_an_alarm_on_a_metrics_insights_query_is_refused_by_name(vigil: VigilProcess) -> None:
    cw = _client(vigil)
    with pytest.raises(ClientError) as refused:
        cw.put_metric_alarm(
            AlarmName=f"mi-{uuid.uuid4().hex[:6]}",
            Metrics=[
                {
                    "Id": "q",
                    "Expression": 'SELECT AVG(CPUUtilization) FROM "Shop/EC2"',
                    "Period": 60,
                    "ReturnData": True,
                }
            ],
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "alarms on Metrics Insights queries are not supported" in str(refused.value)
