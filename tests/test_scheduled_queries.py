"""Scheduled queries: the AWS API (boto3) against a vigil process, runs kept with their
results, a numeric column published as a metric; and the scheduler's timing with an
injected clock (state in a real SQLite database)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.logs_client import logs_client, now_ms, unique
from tests.vigil_process import VigilProcess
from vigil.api.aws.interface import RequestContext
from vigil.rules.scheduled_queries import ScheduledQueries
from vigil.state.db import open_state
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.store.interface import Store, Writer

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
    assert [p["value"] for p in series] == [2.0]
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
    clock = [ns("2026-11-24T10:00:30")]
    scheduler = ScheduledQueries(
        cast(Store, None),  # the runs below fail before reading: their group is missing
        catalog,
        LogGroupRegistry(engine),
        cast(Writer, None),
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
        await scheduler.create(
            {**spec, "name": "top", "scheduleExpression": "cron(0 * * * ? *)"}, ctx
        )
        await scheduler.create(
            {**spec, "name": "rate", "scheduleExpression": "rate(30 minutes)"}, ctx
        )
        await scheduler.create(
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
        history = await scheduler.history({"identifier": "top"}, ctx)
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
