"""vigil.sdk.metrics against a vigil process, and the monitoring design's own
``MetricsCollector`` (plain boto3) run unchanged with only the endpoint set."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import boto3
import pytest

from tests.vigil_process import VigilProcess
from vigil.sdk.metrics import BusinessMetricsTracker, MetricsCollector


def _cw(vigil: VigilProcess) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )


def _stats(vigil: VigilProcess, ns: str, name: str, dims: dict[str, str], **kw: Any) -> Any:
    end = datetime.now(UTC) + timedelta(minutes=2)
    client = _cw(vigil)
    try:
        return client.get_metric_statistics(
            Namespace=ns,
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=end - timedelta(minutes=30),
            EndTime=end,
            Period=1800,
            **kw,
        )["Datapoints"]
    finally:
        client.close()


def test_collector_aggregates_and_sends_exact_statistics(vigil: VigilProcess) -> None:
    ns = f"Sdk/{uuid.uuid4().hex[:8]}"
    collector = MetricsCollector(ns, endpoint_url=vigil.url, start=False)
    for i in range(1, 101):
        collector.record_processing_time("sales", i / 100)
    for _ in range(1000):
        collector.put_metric("Requests", 1, dimensions={"Route": "/buy"})
    collector.record_data_quality_score("sales", 97.5)
    BusinessMetricsTracker(collector).track_cost_efficiency("sales", 200, 50.0)
    assert collector.stats.pending == 100 + 1 + 1 + 2  # distinct values, not calls
    assert collector.flush()
    assert collector.stats.sent == 100 + 1000 + 1 + 2
    (point,) = _stats(
        vigil,
        ns,
        "ProcessingDuration",
        {"Pipeline": "sales"},
        Statistics=["SampleCount", "Sum", "Maximum"],
    )
    assert (point["SampleCount"], point["Maximum"], point["Unit"]) == (100.0, 1.0, "Seconds")
    assert point["Sum"] == pytest.approx(50.5)
    (p,) = _stats(
        vigil, ns, "ProcessingDuration", {"Pipeline": "sales"}, ExtendedStatistics=["p90"]
    )
    assert p["ExtendedStatistics"]["p90"] == 0.9
    (requests,) = _stats(vigil, ns, "Requests", {"Route": "/buy"}, Statistics=["Sum"])
    assert requests["Sum"] == 1000.0
    (cost,) = _stats(vigil, ns, "CostPerRecord", {"Pipeline": "sales"}, Statistics=["Average"])
    assert cost["Average"] == 0.25
    collector.close()


def test_collector_over_otlp(vigil: VigilProcess) -> None:
    ns = f"SdkOtlp-{uuid.uuid4().hex[:8]}"
    with MetricsCollector(
        ns, endpoint_url=vigil.otlp_http_url, transport="otlp", start=False
    ) as collector:
        for v in (1.0, 2.0, 2.0, 10.0):
            collector.put_metric("QueueDepth", v, "Count", {"Queue": "q1"})
        assert collector.flush()
    (point,) = _stats(
        vigil,
        ns,
        "QueueDepth",
        {"Queue": "q1"},
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )
    assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == (
        4.0,
        15.0,
        1.0,
        10.0,
    )
    assert point["Unit"] == "Count"


def test_collector_never_blocks_and_bounds_memory_when_vigil_is_down() -> None:
    collector = MetricsCollector(
        "Down",
        endpoint_url="http://127.0.0.1:9",
        max_buffered_values=100,
        start=False,
        timeout=2,
    )
    started = time.perf_counter()
    for i in range(5000):
        collector.put_metric("Latency", float(i), "Milliseconds")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # recording never waits for the network
    assert collector.stats.pending == 100
    assert collector.dropped == 4900
    assert collector.flush() is False
    stats = collector.stats
    assert (stats.pending, stats.failures, stats.sent) == (100, 1, 0)  # kept for the retry
    collector.put_metric("Latency", -1.0, "Milliseconds")
    assert collector.dropped == 4901
    collector.put_metric("Latency", float("nan"), "Milliseconds")
    assert collector.dropped == 4902
    collector._sender.close()


def test_background_flush(vigil: VigilProcess) -> None:
    ns = f"SdkBg/{uuid.uuid4().hex[:8]}"
    collector = MetricsCollector(ns, endpoint_url=vigil.url, flush_interval=0.05)
    collector.put_metric("Ticks", 3)
    deadline = time.monotonic() + 20
    while collector.stats.sent < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert collector.stats.sent == 1
    collector.put_metric("Ticks", 4)
    collector.close()  # sends the rest
    assert collector.stats.sent == 2


# --- the monitoring design's collector, as it wrote it: plain boto3, one call per value ----


class DesignMetricsCollector:
    """The design's ``MetricsCollector``: boto3.client('cloudwatch') with nothing but the
    environment telling it where to send."""

    instances: ClassVar[list[DesignMetricsCollector]] = []  # the test closes their clients

    def __init__(self) -> None:
        self.cloudwatch = boto3.client("cloudwatch")
        self.namespace = "Application/DataPipeline"
        DesignMetricsCollector.instances.append(self)

    def put_metric(
        self,
        metric_name: str,
        value: float,
        unit: str = "Count",
        dimensions: dict[str, str] | None = None,
    ) -> None:
        metric_data: dict[str, Any] = {
            "MetricName": metric_name,
            "Value": value,
            "Unit": unit,
            "Timestamp": datetime.utcnow(),
        }
        if dimensions:
            metric_data["Dimensions"] = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=[metric_data])

    def record_processing_time(self, pipeline_name: str, duration: float) -> None:
        self.put_metric("ProcessingDuration", duration, "Seconds", {"Pipeline": pipeline_name})

    def record_data_quality_score(self, pipeline_name: str, score: float) -> None:
        self.put_metric("DataQualityScore", score, "Percent", {"Pipeline": pipeline_name})

    def record_business_metric(self, metric_name: str, value: float, business_unit: str) -> None:
        self.put_metric(metric_name, value, "Count", {"BusinessUnit": business_unit})


class DesignBusinessMetricsTracker:
    def __init__(self) -> None:
        self.metrics = DesignMetricsCollector()

    def track_revenue_impact(self, pipeline_name: str, revenue_impact: float) -> None:
        self.metrics.put_metric(
            "RevenueImpact", revenue_impact, "None", {"Pipeline": pipeline_name}
        )

    def track_cost_efficiency(
        self, pipeline_name: str, records_processed: int, cost: float
    ) -> None:
        cost_per_record = cost / records_processed if records_processed > 0 else 0
        self.metrics.put_metric(
            "CostPerRecord", cost_per_record, "None", {"Pipeline": pipeline_name}
        )
        self.metrics.put_metric("ProcessingCost", cost, "None", {"Pipeline": pipeline_name})


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_design_collector_runs_unchanged(
    vigil: VigilProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDESIGN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "design-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", vigil.url)
    pipeline = f"sales-{uuid.uuid4().hex[:6]}"
    unit = f"bu-{uuid.uuid4().hex[:6]}"

    metrics = DesignMetricsCollector()
    metrics.record_processing_time(pipeline, 1.5)
    metrics.record_processing_time(pipeline, 2.5)
    metrics.record_data_quality_score(pipeline, 99.0)
    metrics.record_business_metric("OrdersPlaced", 7, unit)
    metrics.put_metric("ProcessedRecords", 120, "Count")
    tracker = DesignBusinessMetricsTracker()
    tracker.track_revenue_impact(pipeline, 1250.0)
    tracker.track_cost_efficiency(pipeline, 100, 25.0)

    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(minutes=20)
    p = [{"Name": "Pipeline", "Value": pipeline}]

    def query(qid: str, name: str, dims: list[dict[str, str]], stat: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": "Application/DataPipeline",
                    "MetricName": name,
                    "Dimensions": dims,
                },
                "Period": 1200,
                "Stat": stat,
            },
        }

    for instance in DesignMetricsCollector.instances:
        instance.cloudwatch.close()
    reader = boto3.client("cloudwatch")
    answer = reader.get_metric_data(
        MetricDataQueries=[
            query("duration", "ProcessingDuration", p, "Sum"),
            query("runs", "ProcessingDuration", p, "SampleCount"),
            query("quality", "DataQualityScore", p, "Average"),
            query("orders", "OrdersPlaced", [{"Name": "BusinessUnit", "Value": unit}], "Sum"),
            query("revenue", "RevenueImpact", p, "Sum"),
            query("per_record", "CostPerRecord", p, "Average"),
            query("cost", "ProcessingCost", p, "Maximum"),
        ],
        StartTime=start,
        EndTime=end,
    )
    got = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    assert got == {
        "duration": [4.0],
        "runs": [2.0],
        "quality": [99.0],
        "orders": [7.0],
        "revenue": [1250.0],
        "per_record": [0.25],
        "cost": [25.0],
    }
    listed = reader.list_metrics(
        Namespace="Application/DataPipeline", Dimensions=[{"Name": "Pipeline", "Value": pipeline}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "ProcessingDuration",
        "DataQualityScore",
        "RevenueImpact",
        "CostPerRecord",
        "ProcessingCost",
    }
    reader.close()
