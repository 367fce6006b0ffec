"""Reads that would exhaust memory are refused before any work (issue 18 item 3)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.vigil_process import VigilProcess


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_period_grid_over_decades_is_refused_fast(vigil: VigilProcess) -> None:
    assert vigil.proc is not None
    ns = f"Hostile/{uuid.uuid4().hex[:8]}"
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    now = datetime.now(UTC)
    cw.put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1.0, "Timestamp": now}]
    )
    before = _rss_kib(vigil.proc.pid)
    query = {
        "Id": "m1",
        "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "M"}, "Period": 1, "Stat": "Sum"},
    }
    started = time.monotonic()
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(
            MetricDataQueries=[query],
            StartTime=datetime.fromtimestamp(86400, UTC),
            EndTime=now,
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "exceeds the limit of 1008000" in err.value.response["Error"]["Message"]
    with vigil.client() as http:
        answer = http.post(
            "/api/v1/metrics/query",
            json={
                "start": "0",
                "end": "now-15m",
                "queries": [
                    {"id": "m1", "namespace": ns, "name": "M", "stat": "Average", "period": 1}
                ],
            },
        )
        assert answer.status_code == 400, answer.text
        assert "exceeds the limit" in answer.json()["error"]["message"]
        assert http.get("/healthz").status_code == 200
    assert time.monotonic() - started < 10
    # Refused before any work: the process did not grow by the grid (1.7e9 cells ~ 13 GB).
    assert _rss_kib(vigil.proc.pid) - before < 200 * 1024
    # A request just inside the limit still answers, with the point that exists.
    inside = cw.get_metric_data(
        MetricDataQueries=[query],
        StartTime=now - timedelta(seconds=1_000_000),
        EndTime=now + timedelta(seconds=1),
    )
    assert sum(inside["MetricDataResults"][0]["Values"]) == 1.0
    cw.close()
