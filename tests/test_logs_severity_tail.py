"""The severity a user means and the newest matching events, through real clients.

PutLogEvents lines carry their severity as a JSON field (``"level": "ERROR"``); OTLP
records as a severity number. ``/api/v1/logs``, ``/api/v1/logs/tail`` and ``vigil logs
tail`` must filter both alike, and a tail through a JSON pattern must show the newest N
*matching* events, not the matches among the newest N events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.logs_client import logs_client, now_ms, unique
from tests.vigil_process import VigilProcess

LEVELS = ["INFO", "ERROR", "debug", "error", "WARN", "Warning", "FATAL"]


def _otlp_record(group: str, number: int, text: str, body: str, t_ns: int) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "aws.log.group.names", "value": {"stringValue": group}},
                        {"key": "service.name", "value": {"stringValue": "svc"}},
                    ]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(t_ns),
                                "severityNumber": number,
                                "severityText": text,
                                "body": {"stringValue": body},
                            }
                        ]
                    }
                ],
            }
        ]
    }


@pytest.fixture(scope="module")
def mixed_group(vigil: VigilProcess) -> str:
    """A group written by PutLogEvents (JSON level/severity fields, plain text) and OTLP."""
    logs = logs_client(vigil)
    group = unique("/sev")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    base = now_ms() - 60_000
    events = [
        {"timestamp": base + i, "message": json.dumps({"level": lvl, "n": i})}
        for i, lvl in enumerate(LEVELS)
    ]
    events += [
        {"timestamp": base + 20, "message": json.dumps({"severity": "critical", "n": 20})},
        {"timestamp": base + 21, "message": "ERROR plain text has no severity"},
        {"timestamp": base + 22, "message": json.dumps({"n": 22})},
    ]
    logs.put_log_events(logGroupName=group, logStreamName="app", logEvents=events)
    t_ns = (base + 30) * 10**6
    # OTLP: the number decides, even when the body's JSON says otherwise.
    for i, (number, text, level) in enumerate([(17, "", "INFO"), (9, "INFO", "ERROR")]):
        body = json.dumps({"level": level, "n": 30 + i})
        response = httpx.post(
            vigil.otlp_http_url + "/v1/logs",
            json=_otlp_record(group, number, text, body, t_ns + i * 10**6),
            timeout=30,
        )
        assert response.status_code == 200, response.text
    return group


def _search(vigil: VigilProcess, group: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(
        vigil.url + "/api/v1/logs", params={"group": group, "limit": "100", **params}, timeout=30
    )
    assert response.status_code == 200, response.text
    logs: list[dict[str, Any]] = response.json()["logs"]
    return logs


def _numbers(rows: list[dict[str, Any]], key: str = "body") -> list[int]:
    return sorted(json.loads(r[key])["n"] for r in rows)


def test_read_api_filters_the_json_level_of_put_log_events(
    vigil: VigilProcess, mixed_group: str
) -> None:
    errors = _search(vigil, mixed_group, min_severity="ERROR")
    # ERROR, error, FATAL, severity=critical, and the OTLP record numbered 17.
    assert _numbers(errors) == [1, 3, 6, 20, 30]
    assert {r["severity"] for r in errors} == {"ERROR", "error", "FATAL", "critical"}
    assert _numbers(_search(vigil, mixed_group, severity="error")) == [1, 3, 30]
    assert _numbers(_search(vigil, mixed_group, severity="WARN")) == [4, 5]
    assert _numbers(_search(vigil, mixed_group, severity="INFO")) == [0, 31]
    assert _numbers(_search(vigil, mixed_group, min_severity="TRACE")) == [
        0, 1, 2, 3, 4, 5, 6, 20, 30, 31,
    ]  # fmt: skip
    everything = _search(vigil, mixed_group)
    assert len(everything) == 12
    plain = next(r for r in everything if r["body"].startswith("ERROR plain"))
    assert plain["severity"] == ""
    bad = httpx.get(
        vigil.url + "/api/v1/logs", params={"group": mixed_group, "min_severity": "LOUD"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "min_severity"


def test_tail_api_filters_severity_like_the_read_api(vigil: VigilProcess, mixed_group: str) -> None:
    def tail(**params: str) -> list[int]:
        response = httpx.get(
            vigil.url + "/api/v1/logs/tail",
            params={"group": mixed_group, "limit": "100", **params},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return _numbers(response.json()["events"], "message")

    assert tail(min_severity="ERROR") == [1, 3, 6, 20, 30]
    assert tail(severity="WARNING") == [4, 5]
    assert tail(min_severity="ERROR", filter="{ $.n > 5 }") == [6, 20, 30]
    bad = httpx.get(vigil.url + "/api/v1/logs/tail", params={"group": mixed_group, "severity": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "severity"


@pytest.fixture(scope="module")
def noisy_group(vigil: VigilProcess) -> str:
    """59 errors, each followed by 20 newer INFO lines: the newest 50 events hold 2 errors."""
    logs = logs_client(vigil)
    group = unique("/noisy")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    base = now_ms() - 600_000
    events = []
    for i in range(59 * 21):
        level = "ERROR" if i % 21 == 0 else "INFO"
        events.append({"timestamp": base + i, "message": json.dumps({"level": level, "i": i})})
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    return group


def _error_indexes(limit: int) -> list[int]:
    return [21 * k for k in range(59)][-limit:]


@pytest.mark.parametrize("limit", [3, 50, 1000])
def test_tail_with_a_json_pattern_returns_the_newest_matches(
    vigil: VigilProcess, noisy_group: str, limit: int
) -> None:
    response = httpx.get(
        vigil.url + "/api/v1/logs/tail",
        params={"group": noisy_group, "filter": '{ $.level = "ERROR" }', "limit": str(limit)},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [json.loads(e["message"])["i"] for e in answer["events"]] == _error_indexes(limit)
    # Following resumes after the newest event of the group, not after the last match.
    after = httpx.get(
        vigil.url + "/api/v1/logs/tail",
        params={"group": noisy_group, "cursor": answer["next_cursor"], "limit": "10"},
        timeout=30,
    ).json()
    assert after["events"] == []


def _run_tail(vigil: VigilProcess, count: int, *args: str) -> list[str]:
    """The first ``count`` lines ``vigil logs tail`` prints (the events shown at start),
    and anything more it prints within a second."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "logs", "tail", *args, "--url", vigil.url,
         "--interval", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(count)]
        time.sleep(1)
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    return [line for line in lines + rest.splitlines() if line]


def test_cli_tail_shows_the_newest_matches_and_filters_severity(
    vigil: VigilProcess, noisy_group: str, mixed_group: str
) -> None:
    lines = _run_tail(vigil, 3, noisy_group, "--filter", '{ $.level = "ERROR" }', "--lines", "3")
    assert [json.loads(line.split(" ", 2)[2])["i"] for line in lines] == _error_indexes(3)
    lines = _run_tail(vigil, 5, mixed_group, "--min-severity", "error", "--lines", "100")
    assert sorted(json.loads(line.split(" ", 2)[2])["n"] for line in lines) == [1, 3, 6, 20, 30]
