"""Every user expression runs under a time bound, counted on /metrics (issue 18): the
bound itself with an injected clock, and the counters through a running server."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import boto3
import httpx
import numpy as np
import pytest

from tests.vigil_process import VigilProcess
from vigil.model.deadline import Deadline, ExpressionTimeout
from vigil.query.metricmath import parse
from vigil.query.metricmath.evaluator import Evaluator
from vigil.query.metricmath.series import Series


class _Ctx:
    start, end, period = 0, 300, 60

    def grid(self, period: int) -> Any:
        return np.arange(self.start, self.end, period, dtype=np.int64)

    def metrics(self, contains: str | None) -> list[Series]:
        return []

    async def search(self, query: str, stat: str, period: int) -> list[Series]:
        return []

    async def search_aggregate(
        self, query: str, stat: str, period: int, function: str
    ) -> Series | None:
        return None


class _Clock:
    """Advances one second per reading: the bound is reached after a few steps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_metric_math_stops_at_its_deadline() -> None:
    series = Series(np.arange(0, 300, 60, dtype=np.int64), np.ones(5), 60)
    tree = parse(" + ".join(["m1"] * 20))
    evaluator = Evaluator(_Ctx(), lambda name: series, deadline=Deadline(5.0, _Clock()))
    with pytest.raises(ExpressionTimeout, match="bound of 5 s"):
        asyncio.run(evaluator.evaluate(tree))
    # Without a deadline (or within it) the same tree evaluates.
    value = asyncio.run(Evaluator(_Ctx(), lambda name: series).evaluate(tree))
    assert isinstance(value, Series)
    assert list(value.values) == [20.0] * 5


def _counted(vigil: VigilProcess, language: str) -> float:
    text = httpx.get(f"{vigil.url}/metrics", timeout=10).text
    prefix = f'vigil_user_expression_seconds_count{{language="{language}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def test_expressions_are_timed_on_metrics(vigil: VigilProcess) -> None:
    languages = ("metric-math", "filter-pattern", "metric-filter")
    before = {lang: _counted(vigil, lang) for lang in languages}
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    ns = f"Bounds/{uuid.uuid4().hex[:8]}"
    now = time.time()
    cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "M"},
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "e1", "Expression": "m1 * 2"},
        ],
        StartTime=now - 3600,
        EndTime=now,
    )
    logs = boto3.client(
        "logs",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    group = f"/bounds-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.filter_log_events(logGroupName=group, filterPattern="%a+%")
    # A metric filter runs on the ingest path: one timed run per batch of its group.
    logs.put_metric_filter(
        logGroupName=group,
        filterName="f",
        filterPattern="%a+%",
        metricTransformations=[{"metricName": "M", "metricNamespace": ns, "metricValue": "1"}],
    )
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    events = [{"timestamp": int(now * 1000), "message": "aaa"}]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    assert _counted(vigil, "metric-math") == before["metric-math"] + 1
    assert _counted(vigil, "filter-pattern") == before["filter-pattern"] + 1
    assert _counted(vigil, "metric-filter") == before["metric-filter"] + 1
    text = httpx.get(f"{vigil.url}/metrics", timeout=10).text
    assert "vigil_user_expression_overruns" in text
