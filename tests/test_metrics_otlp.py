"""OTLP metrics through the CloudWatch API: histograms answer percentiles, cumulative sums
answer Sum per period across a counter reset, and OTLP series are listed with the rest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
)

from tests.vigil_process import VigilProcess

MINUTE = 60 * 10**9


@pytest.fixture
def cw(vigil: VigilProcess) -> Iterator[Any]:
    client = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    yield client
    client.close()


def _request(service: str) -> tuple[ExportMetricsServiceRequest, Any]:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    return request, rm.scope_metrics.add()


def _send(vigil: VigilProcess, request: ExportMetricsServiceRequest) -> None:
    response = httpx.post(
        f"{vigil.otlp_http_url}/v1/metrics",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text


def _base() -> int:
    now = time.time_ns()
    return now - now % MINUTE - 10 * MINUTE  # ten minutes ago, on the minute


def test_cumulative_sum_per_period_across_a_reset(vigil: VigilProcess, cw: Any) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    base = _base()
    # (minute, cumulative value, start time): a baseline, two increments, then the process
    # restarts (new start time, the counter begins again from 0) and counts on.
    first_start = base - 120 * MINUTE
    restart = base + 3 * MINUTE + 1
    points = [
        (0, 10.0, first_start),
        (1, 15.0, first_start),
        (2, 25.0, first_start),
        (3, 3.0, restart),
        (4, 8.0, restart),
    ]
    for minute, value, start in points:  # one export per point, as an SDK sends them
        request, scope = _request(service)
        metric = scope.metrics.add()
        metric.name = "orders"
        metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
        metric.sum.is_monotonic = True
        point = metric.sum.data_points.add()
        point.start_time_unix_nano = start
        point.time_unix_nano = base + minute * MINUTE + 30 * 10**9
        point.as_double = value
        _send(vigil, request)
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": service, "MetricName": "orders"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=datetime.fromtimestamp(base // 10**9, UTC),
        EndTime=datetime.fromtimestamp(base // 10**9 + 600, UTC),
        ScanBy="TimestampAscending",
    )
    (result,) = answer["MetricDataResults"]
    minutes = [int(t.timestamp() - base // 10**9) // 60 for t in result["Timestamps"]]
    assert list(zip(minutes, result["Values"], strict=True)) == [
        (1, 5.0),
        (2, 10.0),
        (3, 3.0),
        (4, 5.0),
    ]


def test_histograms_answer_percentiles(vigil: VigilProcess, cw: Any) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    base = _base()
    request, scope = _request(service)
    metric = scope.metrics.add()
    metric.name, metric.unit = "latency", "ms"
    metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    point = metric.histogram.data_points.add()
    point.start_time_unix_nano = base
    point.time_unix_nano = base + 30 * 10**9
    point.explicit_bounds.extend([10, 20, 50, 100, 200])
    point.bucket_counts.extend([50, 30, 10, 6, 3, 1])
    point.count, point.sum, point.min, point.max = 100, 3000.0, 1.0, 400.0
    _send(vigil, request)
    start = datetime.fromtimestamp(base // 10**9, UTC)
    end = datetime.fromtimestamp(base // 10**9 + 60, UTC)
    (stats,) = cw.get_metric_statistics(
        Namespace=service,
        MetricName="latency",
        StartTime=start,
        EndTime=end,
        Period=60,
        ExtendedStatistics=["p50", "p90", "p99", "p100"],
    )["Datapoints"]
    # Rank 50 ends the first bucket [min 1, 10]; rank 90 the third (20, 50]; rank 99 falls
    # in (100, 200]; each answers with its bucket's middle; p100 is in (200, max 400].
    assert stats["ExtendedStatistics"] == {"p50": 5.5, "p90": 35.0, "p99": 150.0, "p100": 300.0}
    assert stats["Unit"] == "Milliseconds"
    (basic,) = cw.get_metric_statistics(
        Namespace=service,
        MetricName="latency",
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
    )["Datapoints"]
    assert (
        basic["SampleCount"],
        basic["Sum"],
        basic["Minimum"],
        basic["Maximum"],
        basic["Average"],
    ) == (100.0, 3000.0, 1.0, 400.0, 30.0)
    listed = cw.list_metrics(Namespace=service)["Metrics"]
    assert listed == [{"Namespace": service, "MetricName": "latency", "Dimensions": []}]
