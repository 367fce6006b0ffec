"""Where Logs Insights finds an event's fields — the JSON message first, then the record
attributes, then the resource attributes — over OTLP and PutLogEvents data, alone and
mixed in one query. The runner reads the attribute maps only for keys some row in range
holds (``runner.field_catalog``), so each path (maps read, maps skipped) is exercised here."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.logs_client import logs_client, now_ms, rows, unique, wait_query
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    return logs_client(vigil)


def attr(key: str, value: Any) -> dict[str, Any]:
    typed = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}
    return {"key": key, "value": typed}


def send_otlp(vigil: VigilProcess, group: str, records: list[dict[str, Any]]) -> None:
    payload = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        attr("deployment.environment", "prod"),
                        {
                            "key": "aws.log.group.names",
                            "value": {"arrayValue": {"values": [{"stringValue": group}]}},
                        },
                    ]
                },
                "scopeLogs": [{"logRecords": records}],
            }
        ]
    }
    response = httpx.post(f"{vigil.otlp_http_url}/v1/logs", json=payload, timeout=30)
    assert response.status_code == 200, response.text


def query(logs: Any, groups: list[str], text: str) -> list[dict[str, str]]:
    start = int(time.time()) - 600
    answer = wait_query(
        logs,
        logs.start_query(
            logGroupNames=groups, startTime=start, endTime=start + 900, queryString=text
        )["queryId"],
    )
    assert answer["status"] == "Complete", answer
    return rows(answer)


@pytest.fixture(scope="module")
def groups(logs: Any, vigil: VigilProcess) -> tuple[str, str]:
    otlp_group, put_group = unique("/fields/otlp"), unique("/fields/put")
    ns = now_ms() * 1_000_000
    send_otlp(
        vigil,
        otlp_group,
        [
            {
                "timeUnixNano": str(ns),
                "body": {"stringValue": json.dumps({"level": "ERROR", "region": "message"})},
                "attributes": [attr("region", "attribute"), attr("code", 7)],
            },
            {
                "timeUnixNano": str(ns + 1_000_000),
                "body": {"stringValue": "plain text"},
                "attributes": [attr("code", 9), attr("region", "attribute")],
            },
        ],
    )
    logs.create_log_group(logGroupName=put_group)
    logs.create_log_stream(logGroupName=put_group, logStreamName="s")
    logs.put_log_events(
        logGroupName=put_group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms(), "message": json.dumps({"level": lvl, "code": code})}
            for lvl, code in (("INFO", 1), ("ERROR", 2), ("ERROR", 3))
        ],
    )
    return otlp_group, put_group


def test_message_then_record_then_resource_attributes(logs: Any, groups: tuple[str, str]) -> None:
    otlp_group, _ = groups
    assert query(logs, [otlp_group], "fields region, code | sort code asc") == [
        {"region": "message", "code": "7"},
        {"region": "attribute", "code": "9"},
    ]
    assert query(logs, [otlp_group], "stats count() as n, sum(code) as total by env") == [
        {"n": "2", "total": "16"}
    ]
    assert query(
        logs, [otlp_group], "stats count() as n, sum(code) as total by deployment.environment"
    ) == [{"deployment.environment": "prod", "n": "2", "total": "16"}]
    assert query(logs, [otlp_group], 'filter region = "attribute" | stats count() as n') == [
        {"n": "1"}
    ]


def test_put_log_events_fields_without_attributes(logs: Any, groups: tuple[str, str]) -> None:
    _, put_group = groups
    assert query(logs, [put_group], "stats count() as n, sum(code) as total by level") == [
        {"level": "ERROR", "n": "2", "total": "5"},
        {"level": "INFO", "n": "1", "total": "1"},
    ]
    assert query(logs, [put_group], "filter ispresent(region) | stats count() as n") == [{"n": "0"}]


def test_groups_with_and_without_attributes_in_one_query(
    logs: Any, groups: tuple[str, str]
) -> None:
    both = list(groups)
    assert query(logs, both, "stats count() as n, sum(code) as total by level") == [
        {"level": "ERROR", "n": "3", "total": "12"},
        {"level": "INFO", "n": "1", "total": "1"},
        {"n": "1", "total": "9"},
    ]
    assert query(logs, both, "stats count() as n by deployment.environment") == [
        {"deployment.environment": "prod", "n": "2"},
        {"n": "3"},
    ]
