"""Data for the UI tests: the monitoring design's pipeline over the last half hour
(metrics through boto3's PutMetricData, JSON logs with errors through PutLogEvents, OTLP
traces) and its two dashboards through ``put_dashboard``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
from botocore.config import Config

from tests.otlp_payloads import span, spans_request
from tests.vigil_process import VigilProcess
from vigil import demo_dashboards as design

MINUTES = 30
HEALTH = 97.5  # the data-quality score of the last ten minutes (the single value)
FRESHNESS = 4.0
ERRORS = (
    "ERROR payment gateway timeout",
    "ERROR schema mismatch in batch",
    "ERROR retry budget spent",
)


@dataclass(frozen=True)
class Design:
    now: datetime  # the minute the data ends before
    point: datetime  # the minute holding the traces and an error log line
    trace_ids: tuple[str, ...]


def client(vigil: VigilProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}),
    )


def feed(vigil: VigilProcess) -> Design:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw = client(vigil, "cloudwatch")
    data: list[dict[str, Any]] = []
    fn = [{"Name": "FunctionName", "Value": design.FUNCTION}]
    pipe = [{"Name": "Pipeline", "Value": design.PIPELINE}]
    for m in range(1, MINUTES + 1):
        t = now - timedelta(minutes=m)
        spike = m == 12  # the anomaly: a slow, failing minute
        data += [
            {
                "MetricName": "Duration",
                "Dimensions": fn,
                "Timestamp": t,
                "Value": 2400.0 if spike else 300.0 + 10 * (m % 7),
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Errors",
                "Dimensions": fn,
                "Timestamp": t,
                "Value": 5.0 if spike else float(m % 3 == 0),
                "Unit": "Count",
            },
        ]
        score = HEALTH if m <= 10 else 95.0 + m % 4
        data += [
            {
                "MetricName": "RecordsProcessed",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": 1000.0 + 25 * (m % 5),
                "Unit": "Count",
            },
            {
                "MetricName": "DataQualityScore",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": score,
                "Unit": "Percent",
            },
            {
                "MetricName": "RevenueImpact",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": 120.0 + m,
                "Unit": "None",
            },
            {
                "MetricName": "CostPerRecord",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": 0.002 + 0.0001 * (m % 3),
                "Unit": "None",
            },
            {
                "MetricName": "ProcessingCost",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": 2.0 + 0.1 * (m % 3),
                "Unit": "None",
            },
            {
                "MetricName": "DataFreshness",
                "Dimensions": pipe,
                "Timestamp": t,
                "Value": FRESHNESS,
                "Unit": "None",
            },
        ]
    for i in range(0, len(data), 500):
        namespace = design.NAMESPACE
        batch = [d for d in data[i : i + 500]]
        lambda_batch = [d for d in batch if d["MetricName"] in ("Duration", "Errors")]
        other = [d for d in batch if d not in lambda_batch]
        if lambda_batch:
            cw.put_metric_data(Namespace=design.LAMBDA_NAMESPACE, MetricData=lambda_batch)
        if other:
            cw.put_metric_data(Namespace=namespace, MetricData=other)
    point = now - timedelta(minutes=12)
    trace_ids = tuple(os.urandom(16).hex() for _ in range(2))
    logs = client(vigil, "logs")
    group = design.ERROR_LOG_GROUP
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    stream = f"run-{os.urandom(4).hex()}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events: list[dict[str, Any]] = []
    for m in range(MINUTES, 0, -1):
        t = now - timedelta(minutes=m)
        events.append(
            {
                "timestamp": int(t.timestamp() * 1000) + 5000,
                "message": json.dumps({"level": "INFO", "message": f"batch done in minute {m}"}),
            }
        )
    for k, text in enumerate(ERRORS):
        t = point + timedelta(seconds=20 + k)
        events.append(
            {
                "timestamp": int(t.timestamp() * 1000),
                "message": json.dumps(
                    {"level": "ERROR", "message": text, "trace_id": trace_ids[0]}
                ),
            }
        )
    events.sort(key=lambda e: e["timestamp"])
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    start_ns = int((point + timedelta(seconds=15)).timestamp() * 1e9)
    spans = [
        span(bytes.fromhex(t), os.urandom(8), "process-batch", start_ns, 2_400_000_000)
        for t in trace_ids
    ]
    r = httpx.post(
        vigil.url + "/v1/traces",
        content=spans_request(design.FUNCTION, spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    r.raise_for_status()
    for name, body in design.bodies().items():
        cw.put_dashboard(DashboardName=name, DashboardBody=body)
    _wait_visible(vigil, now)
    return Design(now, point, trace_ids)


def _wait_visible(vigil: VigilProcess, now: datetime) -> None:
    """Until the store answers with the newest minute (the writer commits in batches)."""
    deadline = time.monotonic() + 30
    query = {
        "start": int((now - timedelta(minutes=5)).timestamp()),
        "end": int(now.timestamp()),
        "queries": [
            {
                "id": "a",
                "namespace": design.NAMESPACE,
                "name": "DataFreshness",
                "dimensions": {"Pipeline": design.PIPELINE},
                "stat": "Maximum",
            }
        ],
    }
    while time.monotonic() < deadline:
        r = httpx.post(vigil.url + "/api/v1/metrics/query", json=query, timeout=30)
        if r.status_code == 200 and len(r.json()["results"][0]["values"]) >= 4:
            return
        time.sleep(0.2)
    raise AssertionError("the design's metrics did not become visible")
