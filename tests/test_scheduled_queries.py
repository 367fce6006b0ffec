"""Scheduled queries: the AWS API (boto3) against a vigil process, runs kept with their
results, a numeric column published as a metric; the scheduler's timing with an injected
clock (state in a real SQLite database); and the pure evaluator with an injected query
and publish function."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.logs_client import logs_client, now_ms, unique
from tests.vigil_process import VigilProcess
from vigil.api.aws.interface import RequestContext
from vigil.api.aws.logs.scheduled import CatalogRules, ScheduledQueriesService, insights_query
from vigil.model.metrics import MetricColumns
from vigil.query.insights.errors import QueryError
from vigil.rules.schedule import parse_schedule
from vigil.rules.scheduled_queries import (
    InsightsQuery,
    MetricOutput,
    QueryOutcome,
    ScheduledQuery,
    ScheduledQueryManager,
    evaluate,
    is_due,
)
from vigil.state.db import open_state
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.store.interface import Store

ROLE = "arn:aws:iam::000000000000:role/vigil"


def test_scheduled_query_api_runs_history_and_metric(vigil: VigilProcess) -> None:
    logs = logs_client(vigil)
    group, name, ns = unique("/sched"), unique("errors-by-type"), unique("Sched")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms() - 1000 + i, "message": json.dumps({"level": "ERROR", "t": t})}
            for i, t in enumerate(["Timeout", "Timeout", "Value"])
        ],
    )
    query = "filter level = 'ERROR' | stats count() as n by t | sort n desc"
    created = logs.create_scheduled_query(
        name=name,
        queryLanguage="CWLI",
        queryString=query,
        logGroupIdentifiers=[group],
        scheduleExpression="rate(1 hour)",
        executionRoleArn=ROLE,
        tags={
            "vigil:metric-namespace": ns,
            "vigil:metric-name": "ErrorsByType",
            "vigil:metric-value-field": "n",
            "vigil:metric-dimension-fields": "t",
            "vigil:keep-runs": "2",
        },
    )
    assert created["state"] == "ENABLED"
    assert created["scheduledQueryArn"].endswith(f":scheduled-query:{name}")
    got = logs.get_scheduled_query(identifier=created["scheduledQueryArn"])
    assert got["queryString"] == query
    assert got["scheduleExpression"] == "rate(1 hour)"
    assert "lastTriggeredTime" not in got
    assert name in [q["name"] for q in logs.list_scheduled_queries()["scheduledQueries"]]

    query_ids = []
    for _ in range(3):
        response = httpx.post(f"{vigil.url}/api/v1/logs/scheduled-queries/{name}/run")
        assert response.status_code == 200, response.text
        query_ids.append(response.json()["query_id"])
    history = logs.get_scheduled_query_history(
        identifier=name, startTime=0, endTime=now_ms() + 60_000
    )["triggerHistory"]
    assert [h["queryId"] for h in history] == query_ids[:0:-1]  # newest first, 2 kept
    assert all(h["executionStatus"] == "Complete" for h in history)
    results = logs.get_query_results(queryId=query_ids[-1])
    assert results["status"] == "Complete"
    assert [[f["value"] for f in row] for row in results["results"]] == [
        ["Timeout", "2"],
        ["Value", "1"],
    ]
    with pytest.raises(ClientError):
        logs.get_query_results(queryId=query_ids[0])  # dropped: only 2 runs are kept
    series = httpx.get(
        f"{vigil.url}/api/v1/metrics/datapoints",
        params=[
            ("namespace", ns),
            ("name", "ErrorsByType"),
            ("dimension", "t=Timeout"),
            ("statistic", "Maximum"),
            ("start", "now-1h"),
            ("end", str(int(time.time()) + 3600)),
        ],
    ).json()["datapoints"]
    # The runs may straddle a minute boundary (one datapoint per minute they ran in).
    assert series
    assert {p["value"] for p in series} == {2.0}
    assert logs.get_scheduled_query(identifier=name)["lastExecutionStatus"] == "Complete"

    updated = logs.update_scheduled_query(
        identifier=name,
        queryLanguage="CWLI",
        queryString=query,
        scheduleExpression="cron(0 9 * * ? *)",
        executionRoleArn=ROLE,
        state="DISABLED",
    )
    assert updated["state"] == "DISABLED"
    assert updated["scheduleExpression"] == "cron(0 9 * * ? *)"
    assert [
        q["name"] for q in logs.list_scheduled_queries(state="DISABLED")["scheduledQueries"]
    ] == [name]

    def code(call: Any) -> str:
        with pytest.raises(ClientError) as err:
            call()
        return str(err.value.response["Error"]["Code"])

    common = dict(queryLanguage="CWLI", logGroupIdentifiers=[group], executionRoleArn=ROLE)
    assert (
        code(
            lambda: logs.create_scheduled_query(
                name=name, queryString=query, scheduleExpression="rate(1 hour)", **common
            )
        )
        == "ConflictException"
    )
    assert (
        code(
            lambda: logs.create_scheduled_query(
                name=unique("x"), queryString=query, scheduleExpression="every hour", **common
            )
        )
        == "ValidationException"
    )
    assert (
        code(
            lambda: logs.create_scheduled_query(
                name=unique("x"), queryString="stats (", scheduleExpression="rate(1 hour)", **common
            )
        )
        == "ValidationException"
    )
    logs.delete_scheduled_query(identifier=name)
    assert code(lambda: logs.get_scheduled_query(identifier=name)) == "ResourceNotFoundException"
    assert code(lambda: logs.delete_scheduled_query(identifier=name)) == (
        "ResourceNotFoundException"
    )


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def test_scheduler_runs_what_falls_due(tmp_path: Path) -> None:
    engine = open_state(str(tmp_path / "state.db"))
    catalog = LogsCatalog(engine)
    registry = LogGroupRegistry(engine)
    clock = [ns("2026-11-24T10:00:30")]
    api = ScheduledQueriesService(catalog, registry, lambda: clock[0])

    async def no_publish(_: MetricColumns) -> None:
        raise AssertionError("nothing to publish")

    scheduler = ScheduledQueryManager(
        CatalogRules(catalog),
        # The runs below fail before reading: their group is missing.
        insights_query(cast(Store, None), registry, 60.0),
        no_publish,
        lambda: clock[0],
    )
    ctx = RequestContext(tenant="default", request_id="r")
    spec = dict(
        queryLanguage="CWLI",
        queryString="stats count()",
        logGroupIdentifiers=["/missing"],
        executionRoleArn=ROLE,
    )

    async def scenario() -> list[dict[str, Any]]:
        await api.create({**spec, "name": "top", "scheduleExpression": "cron(0 * * * ? *)"}, ctx)
        await api.create({**spec, "name": "rate", "scheduleExpression": "rate(30 minutes)"}, ctx)
        await api.create(
            {**spec, "name": "off", "scheduleExpression": "rate(1 minute)", "state": "DISABLED"},
            ctx,
        )
        ran = []
        for when in (
            "2026-11-24T10:20:00",
            "2026-11-24T10:31:00",
            "2026-11-24T10:59:59",
            "2026-11-24T11:00:00",
            "2026-11-24T11:00:30",
            "2026-11-24T11:01:00",
        ):
            clock[0] = ns(when)
            ran.append(await scheduler.tick())
        history = await api.history({"identifier": "top"}, ctx)
        return [{"ran": ran}, history]  # fmt: skip

    ran, history = asyncio.run(scenario())
    # rate(30 minutes) from its creation at 10:00:30: 10:31 (first tick past 10:30:30), then
    # 11:01; cron(0 * ...) at 11:00; the disabled one never.
    assert ran["ran"] == [0, 1, 0, 1, 0, 1]
    records = history["triggerHistory"]
    assert records
    assert all(r["executionStatus"] == "InvalidQuery" for r in records)
    assert "does not exist" in records[0]["errorMessage"]
    assert [r["triggeredTimestamp"] for r in records] == [ns("2026-11-24T11:00:00") // 10**6]
    engine.dispose()


def _rule(**changes: Any) -> ScheduledQuery:
    base = ScheduledQuery(
        tenant="t",
        name="errors",
        query_string="stats count() as n by t",
        groups=("/app",),
        schedule=parse_schedule("rate(5 minutes)"),
        created_ms=0,
        output=MetricOutput("App", "Errors", "n", ("t",), "Count"),
    )
    return replace(base, **changes)


def test_evaluator_runs_through_the_injected_query_and_publishes() -> None:
    """The pure evaluator: the window from the schedule and offsets, one point per numeric
    row at the run's time, and each failure as a run status (nothing raised)."""
    asked: list[InsightsQuery] = []
    published: list[MetricColumns] = []

    async def query(q: InsightsQuery) -> QueryOutcome:
        asked.append(q)
        return QueryOutcome(
            [[("t", "Timeout"), ("n", "2")], [("t", "Value"), ("n", "x")]], {"recordsMatched": 3}
        )

    async def publish(points: MetricColumns) -> None:
        published.append(points)

    now = 1_800_000_000_000
    run = asyncio.run(evaluate(_rule(), now, query, publish, 10.0, "q1"))
    assert (run.query_id, run.status, run.triggered_ms) == ("q1", "Complete", now)
    assert (asked[0].start_ms, asked[0].end_ms, asked[0].groups) == (now - 300_000, now, ("/app",))
    table = published[0].to_arrow()
    assert table.column("name").to_pylist() == ["Errors"]
    assert table.column("value").to_pylist() == [2.0]
    assert table.column("unit").to_pylist() == ["Count"]
    assert table.column("timestamp").cast("int64").to_pylist() == [now * 1_000_000]
    asyncio.run(evaluate(_rule(start_offset_s=60, end_offset_s=30), now, query, publish, 10.0, "q"))
    assert (asked[1].start_ms, asked[1].end_ms) == (now - 60_000, now - 30_000)

    async def bad(_: InsightsQuery) -> QueryOutcome:
        raise QueryError("unknown field")

    async def slow(_: InsightsQuery) -> QueryOutcome:
        await asyncio.sleep(5)
        raise AssertionError("not reached")

    async def broken(_: InsightsQuery) -> QueryOutcome:
        raise RuntimeError("store fell over\nsecond line")

    statuses = [
        asyncio.run(evaluate(_rule(), now, f, publish, 0.05, "q")) for f in (bad, slow, broken)
    ]
    assert [(r.status, r.error) for r in statuses] == [
        ("InvalidQuery", "unknown field"),
        ("Timeout", "the query ran over 0.05 s"),
        ("Failed", "store fell over"),
    ]
    assert is_due(_rule(), 300_000)
    assert not is_due(_rule(enabled=False), 300_000)
    assert not is_due(_rule(start_ms=400_000), 300_000)
    assert not is_due(_rule(last_triggered_ms=100_000), 300_000)
