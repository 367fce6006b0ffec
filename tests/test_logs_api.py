"""The CloudWatch Logs API with boto3's real client against a vigil process: every
operation, pagination, and the documented errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.logs_client import logs_client, now_ms, rows, unique, wait_query
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    return logs_client(vigil)


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def make_group(logs: Any, *streams: str, prefix: str = "/api") -> str:
    group = unique(prefix)
    logs.create_log_group(logGroupName=group)
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group


def test_log_groups_lifecycle_tags_retention_and_pagination(logs: Any) -> None:
    base = unique("/lifecycle")
    names = [f"{base}/g{i}" for i in range(5)]
    for name in names:
        # An empty tags map is refused as AWS refuses it (the model's min length 1).
        tags = {"tags": {"team": "core"}} if name == names[0] else {}
        logs.create_log_group(logGroupName=name, **tags)
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=names[0])
    assert code(err) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName="bad name!")
    assert code(err) == "InvalidParameterException"

    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"logGroupNamePrefix": base, "limit": 2}
        if token:
            kwargs["nextToken"] = token
        page = logs.describe_log_groups(**kwargs)
        assert len(page["logGroups"]) <= 2
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    paginator = logs.get_paginator("describe_log_groups")
    assert [
        g["logGroupName"]
        for page in paginator.paginate(logGroupNamePrefix=base, PaginationConfig={"PageSize": 3})
        for g in page["logGroups"]
    ] == names
    found = logs.describe_log_groups(logGroupNamePattern=base.upper()[1:] + "/G3")["logGroups"]
    assert [g["logGroupName"] for g in found] == [names[3]]
    group = found[0]
    assert group["arn"].endswith(f":log-group:{names[3]}:*")
    assert group["logGroupArn"].startswith("arn:aws:logs:eu-west-1:")

    logs.put_retention_policy(logGroupName=names[0], retentionInDays=7)
    described = logs.describe_log_groups(logGroupNamePrefix=names[0])["logGroups"][0]
    assert described["retentionInDays"] == 7
    with pytest.raises(ClientError) as err:
        logs.put_retention_policy(logGroupName=names[0], retentionInDays=8)
    assert code(err) == "InvalidParameterException"
    logs.delete_retention_policy(logGroupName=names[0])
    assert (
        "retentionInDays"
        not in logs.describe_log_groups(logGroupNamePrefix=names[0])["logGroups"][0]
    )

    arn = f"arn:aws:logs:eu-west-1:000000000000:log-group:{names[0]}"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "core"}
    logs.tag_resource(resourceArn=arn, tags={"env": "prod"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "prod"}
    logs.tag_log_group(logGroupName=names[0], tags={"old": "api"})
    assert logs.list_tags_log_group(logGroupName=names[0])["tags"] == {"env": "prod", "old": "api"}
    logs.untag_log_group(logGroupName=names[0], tags=["old"])
    assert logs.list_tags_log_group(logGroupName=names[0])["tags"] == {"env": "prod"}

    logs.delete_log_group(logGroupName=names[1])
    with pytest.raises(ClientError) as err:
        logs.delete_log_group(logGroupName=names[1])
    assert code(err) == "ResourceNotFoundException"
    calls: tuple[Callable[[], Any], ...] = (
        lambda: logs.put_retention_policy(logGroupName=names[1], retentionInDays=1),
        lambda: logs.list_tags_for_resource(resourceArn=arn.replace(names[0], names[1])),
        lambda: logs.create_log_stream(logGroupName=names[1], logStreamName="s"),
    )
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert code(err) == "ResourceNotFoundException"


def test_streams_put_and_get_events_with_tokens(logs: Any) -> None:
    group = make_group(logs, "a", "b", "c")
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=group, logStreamName="a")
    assert code(err) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=group, logStreamName="bad:name")
    assert code(err) == "InvalidParameterException"
    now = now_ms()
    events = [{"timestamp": now - 10_000 + i, "message": f"event {i}"} for i in range(25)]
    answer = logs.put_log_events(logGroupName=group, logStreamName="b", logEvents=events)
    assert answer["nextSequenceToken"]
    assert "rejectedLogEventsInfo" not in answer
    logs.put_log_events(
        logGroupName=group, logStreamName="c", logEvents=[{"timestamp": now, "message": "late"}]
    )

    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["a", "b", "c"]
    b = streams[1]
    assert b["firstEventTimestamp"] == now - 10_000
    assert b["lastEventTimestamp"] == now - 9_976
    by_time = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=2
    )
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["c", "b"]
    rest = logs.describe_log_streams(
        logGroupName=group,
        orderBy="LastEventTime",
        descending=True,
        limit=2,
        nextToken=by_time["nextToken"],
    )
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["a"]
    assert "nextToken" not in rest
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a"
        )
    assert code(err) == "InvalidParameterException"

    # From the head, forward: pages of 10, then the same token once the end is reached.
    got, token = [], None
    for _ in range(5):
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": "b", "limit": 10}
        kwargs.update({"nextToken": token} if token else {"startFromHead": True})
        page = logs.get_log_events(**kwargs)
        got += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert got == [f"event {i}" for i in range(25)]
    # Without startFromHead: the newest events, then backwards.
    last = logs.get_log_events(logGroupName=group, logStreamName="b", limit=10)
    assert [e["message"] for e in last["events"]] == [f"event {i}" for i in range(15, 25)]
    before = logs.get_log_events(
        logGroupName=group, logStreamName="b", limit=10, nextToken=last["nextBackwardToken"]
    )
    assert [e["message"] for e in before["events"]] == [f"event {i}" for i in range(5, 15)]
    window = logs.get_log_events(
        logGroupName=group,
        logStreamName="b",
        startTime=now - 10_000 + 3,
        endTime=now - 10_000 + 6,
        startFromHead=True,
    )
    assert [e["message"] for e in window["events"]] == ["event 3", "event 4", "event 5"]
    assert all(e["ingestionTime"] >= e["timestamp"] for e in window["events"])

    for bad_token in ("x/abc", "f/not-base64!", "b/" + "A" * 8):
        with pytest.raises(ClientError) as err:
            logs.get_log_events(logGroupName=group, logStreamName="b", nextToken=bad_token)
        assert code(err) == "InvalidParameterException", bad_token
    logs.delete_log_stream(logGroupName=group, logStreamName="c")
    with pytest.raises(ClientError) as err:
        logs.delete_log_stream(logGroupName=group, logStreamName="c")
    assert code(err) == "ResourceNotFoundException"


def test_put_log_events_limits_and_rejections(logs: Any) -> None:
    group = make_group(logs, "s")
    now = now_ms()
    day = 86_400_000
    old = logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 14 * day - 3_600_000, "message": "too old"},
            {"timestamp": now - 14 * day - 3_599_999, "message": "too old too"},
            {"timestamp": now - 14 * day + 3_600_000, "message": "kept"},
        ],
    )
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    new = logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now, "message": "kept"},
            {"timestamp": now + 3 * 3_600_000, "message": "too new"},
        ],
    )
    assert new["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    expired = logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - day - 3_600_000, "message": "expired"},
            {"timestamp": now - 2 * 3_600_000, "message": "ok"},
        ],
    )
    assert expired["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    stored = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert [e["message"] for e in stored["events"]] == ["kept", "ok", "kept"]

    refused = {
        "too many": [{"timestamp": now, "message": "x"}] * 10_001,
        "too large": [{"timestamp": now, "message": "x" * 200_000}] * 6,
        "unordered": [{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}],
        "over 24h": [
            {"timestamp": now - 25 * 3_600_000, "message": "a"},
            {"timestamp": now, "message": "b"},
        ],
    }
    for what, events in refused.items():
        with pytest.raises(ClientError) as err:
            logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
        assert code(err) == "InvalidParameterException", what
    # Exactly at the limit: 1,048,576 bytes counting 26 per event.
    size = 1_048_576 // 4 - 26
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": "y" * size}] * 4,
    )
    for group_name, stream in ((group, "nope"), ("/no/such/group", "s")):
        with pytest.raises(ClientError) as err:
            logs.put_log_events(
                logGroupName=group_name,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": "x"}],
            )
        assert code(err) == "ResourceNotFoundException"
    # Checks the server makes itself (boto3 would refuse to send this).
    raw = httpx.post(
        logs.meta.endpoint_url,
        headers={
            "X-Amz-Target": "Logs_20140328.PutLogEvents",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=json.dumps({"logGroupName": group, "logStreamName": "s", "logEvents": []}),
    )
    assert raw.status_code == 400
    assert raw.json()["__type"] == "InvalidParameterException"


def test_filter_log_events_patterns_and_pagination(logs: Any) -> None:
    group = make_group(logs, "web-1", "web-2", "db")
    now = now_ms()
    lines = {
        "web-1": [
            json.dumps({"level": "ERROR", "latency": 150, "path": "/a"}),
            json.dumps({"level": "ERROR", "latency": 50, "path": "/b"}),
            '127.0.0.1 - frank [10/Oct/2026:13:55:36 +0000] "GET /index.html HTTP/1.1" 503 2326',
        ],
        "web-2": [
            json.dumps({"level": "INFO", "latency": 500, "path": "/a"}),
            '10.0.0.2 - ann [10/Oct/2026:13:55:37 +0000] "GET /x HTTP/1.1" 200 10',
            "ERROR connection refused to db",
        ],
        "db": ["WARN slow query took 3000ms", "ERROR deadlock detected", "INFO healthy"],
    }
    for i, (stream, messages) in enumerate(lines.items()):
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": now - 60_000 + i * 100 + j, "message": m}
                for j, m in enumerate(messages)
            ],
        )

    def matching(pattern: str, **kwargs: Any) -> list[str]:
        found = logs.filter_log_events(logGroupName=group, filterPattern=pattern, **kwargs)
        return [e["message"] for e in found["events"]]

    assert matching('{ $.level = "ERROR" && $.latency > 100 }') == [lines["web-1"][0]]
    assert matching('{ $.path = "/a" || $.latency < 60 }') == [
        lines["web-1"][0],
        lines["web-1"][1],
        lines["web-2"][0],
    ]
    assert matching("ERROR -deadlock", logStreamNames=["db", "web-2"]) == [
        "ERROR connection refused to db"
    ]
    assert matching("?WARN ?deadlock") == ["WARN slow query took 3000ms", "ERROR deadlock detected"]
    assert matching('"connection refused"') == ["ERROR connection refused to db"]
    assert matching("%dead[a-z]+%") == ["ERROR deadlock detected"]
    assert matching("[ip, id, user, timestamp, request, status_code = 5*, bytes]") == [
        lines["web-1"][2]
    ]
    assert matching("[..., status_code = 2*, bytes < 100]") == [lines["web-2"][1]]
    assert matching("INFO", logStreamNamePrefix="d") == ["INFO healthy"]
    # startTime and endTime both included
    assert len(matching("", startTime=now - 60_000 + 100, endTime=now - 60_000 + 200)) == 4
    found = logs.filter_log_events(logGroupName=group, filterPattern="ERROR")["events"][0]
    assert found["logStreamName"] == "web-1"
    assert found["eventId"]

    # Pages of 2 until no token is left.
    got, token = [], None
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "limit": 2}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        got += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert got == [m for messages in lines.values() for m in messages]
    paginated = [
        e["message"]
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern="ERROR", PaginationConfig={"PageSize": 1}
        )
        for e in page["events"]
    ]
    assert paginated == matching("ERROR")

    for bad in ("{ $.level = }", '"unterminated', "[a, b", "{ $.x = 1 } extra"):
        with pytest.raises(ClientError) as err:
            logs.filter_log_events(logGroupName=group, filterPattern=bad)
        assert code(err) == "InvalidParameterException", bad
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName="/nope/nope")
    assert code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, nextToken="not-a-token")
    assert code(err) == "InvalidParameterException"


def test_insights_queries_and_saved_definitions(logs: Any) -> None:
    group = make_group(logs, "s")
    now = now_ms()
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 1000 + i, "message": json.dumps({"level": lvl, "ms": i})}
            for i, lvl in enumerate(["INFO", "ERROR", "ERROR", "WARN"])
        ],
    )
    start, end = int(time.time()) - 600, int(time.time()) + 60
    query_id = logs.start_query(
        logGroupName=group,
        startTime=start,
        endTime=end,
        queryString="stats count() as n by level | sort n desc, level asc",
    )["queryId"]
    answer = wait_query(logs, query_id)
    assert answer["status"] == "Complete"
    assert rows(answer) == [
        {"level": "ERROR", "n": "2"},
        {"level": "INFO", "n": "1"},
        {"level": "WARN", "n": "1"},
    ]
    stats = answer["statistics"]
    assert stats["recordsMatched"] == 4
    assert stats["recordsScanned"] == 4
    assert stats["bytesScanned"] > 0
    # An ARN without the trailing ":*" (AWS's pattern refuses "*" in an identifier).
    arn = f"arn:aws:logs:eu-west-1:000000000000:log-group:{group}"
    limited = wait_query(
        logs,
        logs.start_query(
            logGroupIdentifiers=[arn],
            startTime=start,
            endTime=end,
            queryString="fields level, ms | sort ms asc",
            limit=2,
        )["queryId"],
    )
    assert rows(limited) == [{"level": "INFO", "ms": "0"}, {"level": "ERROR", "ms": "1"}]
    assert all(any(f["field"] == "@ptr" for f in row) for row in limited["results"]), (
        "row results carry @ptr"
    )
    ptr = next(f["value"] for f in limited["results"][0] if f["field"] == "@ptr")
    record = logs.get_log_record(logRecordPointer=ptr)["logRecord"]
    assert json.loads(record["@message"]) == {"level": "INFO", "ms": 0}
    fields = logs.get_log_group_fields(logGroupName=group)["logGroupFields"]
    assert {"name": "@message", "percent": 100} in fields
    assert {"name": "level", "percent": 100} in fields
    assert {"name": "ms", "percent": 100} in fields
    described = logs.describe_queries(logGroupName=group)["queries"]
    assert {q["queryId"] for q in described} >= {query_id}
    assert logs.describe_queries(logGroupName=group, status="Complete", maxResults=1)["queries"]
    assert logs.stop_query(queryId=query_id)["success"] is False

    errors = {
        "MalformedQueryException": dict(queryString="stats count( by x", logGroupName=group),
        "ResourceNotFoundException": dict(queryString="fields a", logGroupName="/no/such"),
        "InvalidParameterException": dict(queryString="fields a"),
    }
    for expected, kwargs in errors.items():
        with pytest.raises(ClientError) as err:
            logs.start_query(startTime=start, endTime=end, **kwargs)
        assert code(err) == expected
    with pytest.raises(ClientError) as err:
        logs.start_query(logGroupName=group, startTime=end, endTime=start, queryString="fields a")
    assert code(err) == "InvalidParameterException"
    far = logs.start_query(
        logGroupName=group, startTime=0, endTime=2**62, queryString="stats count() as n"
    )
    assert rows(wait_query(logs, far["queryId"])) == [{"n": "4"}]
    assert (
        len(logs.filter_log_events(logGroupName=group, startTime=0, endTime=2**62)["events"]) == 4
    )
    with pytest.raises(ClientError) as err:
        logs.get_query_results(queryId="00000000-0000-0000-0000-000000000000")
    assert code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        logs.stop_query(queryId="00000000-0000-0000-0000-000000000000")
    assert code(err) == "ResourceNotFoundException"

    prefix = unique("saved")
    ids = [
        logs.put_query_definition(
            name=f"{prefix}/{i}", queryString="fields @message", logGroupNames=[group]
        )["queryDefinitionId"]
        for i in range(3)
    ]
    logs.put_query_definition(
        name=f"{prefix}/0", queryDefinitionId=ids[0], queryString="stats count()"
    )
    page = logs.describe_query_definitions(queryDefinitionNamePrefix=prefix, maxResults=2)
    assert [d["name"] for d in page["queryDefinitions"]] == [f"{prefix}/0", f"{prefix}/1"]
    assert page["queryDefinitions"][0]["queryString"] == "stats count()"
    rest = logs.describe_query_definitions(
        queryDefinitionNamePrefix=prefix, maxResults=2, nextToken=page["nextToken"]
    )
    assert [d["queryDefinitionId"] for d in rest["queryDefinitions"]] == [ids[2]]
    assert logs.delete_query_definition(queryDefinitionId=ids[1])["success"] is True
    calls: tuple[Callable[[], Any], ...] = (
        lambda: logs.delete_query_definition(queryDefinitionId=ids[1]),
        lambda: logs.put_query_definition(
            name="x", queryDefinitionId=ids[1], queryString="fields a"
        ),
    )
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        logs.put_query_definition(name="bad", queryString="fields (")
    assert code(err) == "MalformedQueryException"


def test_delete_log_group_deletes_its_data(logs: Any, vigil: VigilProcess) -> None:
    group = make_group(logs, "s")
    logs.put_log_events(
        logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "x"}]
    )
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []
    api = httpx.get(f"{vigil.url}/api/v1/logs", params={"group": group, "start": "now-1h"})
    assert api.json()["logs"] == []


def test_tenants_are_separate(vigil: VigilProcess) -> None:
    a, b = logs_client(vigil, tenant="team-a"), logs_client(vigil, tenant="team-b")
    group = unique("/tenants")
    a.create_log_group(logGroupName=group)
    b.create_log_group(logGroupName=group)  # same name, other tenant: no conflict
    a.delete_log_group(logGroupName=group)
    assert b.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert not a.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
