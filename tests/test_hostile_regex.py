"""Catastrophic and RE2-incompatible regexes, sent as the issue sent them (issue 18 items 4
and 11): they answer fast or are refused in the protocol's shape; ingest never stalls."""

from __future__ import annotations

import time
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.logs_client import now_ms, unique
from tests.vigil_process import VigilProcess

HOSTILE = "a" * 40 + "!"
# Python's backtracking engine takes hours on these; RE2 answers in microseconds.
FAST = 5.0


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    # A read timeout shorter than the test's: a hang fails here rather than at pytest's bound.
    return boto3.client(
        "logs",
        endpoint_url=vigil.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=20, connect_timeout=5),
    )


def test_test_metric_filter_catastrophic_regex_answers_fast(logs: Any) -> None:
    started = time.monotonic()
    answer = logs.test_metric_filter(filterPattern="%(a+)+$%", logEventMessages=[HOSTILE, "aaa"])
    assert time.monotonic() - started < FAST
    assert [m["eventMessage"] for m in answer["matches"]] == ["aaa"]


def test_catastrophic_glob_in_json_pattern_answers_fast(logs: Any) -> None:
    pattern = '{ $.x = "' + "*a" * 30 + '*b" }'
    message = '{"x": "' + "a" * 5000 + '"}'
    started = time.monotonic()
    answer = logs.test_metric_filter(filterPattern=pattern, logEventMessages=[message])
    assert time.monotonic() - started < FAST
    assert answer["matches"] == []


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("%(?=a)%", "invalid perl operator"), ("%(a)\\1%", "invalid escape sequence")],
)
def test_regex_re2_cannot_run_is_refused(logs: Any, pattern: str, reason: str) -> None:
    with pytest.raises(ClientError) as err:
        logs.test_metric_filter(filterPattern=pattern, logEventMessages=["a"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert reason in err.value.response["Error"]["Message"]
    assert "position 0" in err.value.response["Error"]["Message"]


def test_put_log_events_with_catastrophic_metric_filter_does_not_hang(
    logs: Any, vigil: VigilProcess
) -> None:
    group, ns = unique("/hostile-regex"), unique("HostileRegex")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="catastrophic",
        filterPattern="%(a+)+$%",
        metricTransformations=[{"metricName": "A", "metricNamespace": ns, "metricValue": "1"}],
    )
    started = time.monotonic()
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms(), "message": HOSTILE},
            {"timestamp": now_ms(), "message": "aaaa"},
        ],
    )
    assert time.monotonic() - started < FAST
    # The process still answers, and the event that matches was counted.
    assert httpx.get(f"{vigil.url}/healthz", timeout=5).status_code == 200
    deadline = time.monotonic() + 30
    total = 0.0
    while time.monotonic() < deadline:
        points = httpx.get(
            f"{vigil.url}/api/v1/metrics/datapoints",
            params={
                "namespace": ns,
                "name": "A",
                "statistic": "Sum",
                "period": "3600",
                "start": "now-3h",
                "end": str(int(time.time()) + 3600),
            },
            timeout=10,
        ).json()["datapoints"]
        total = sum(p["value"] for p in points)
        if total:
            break
        time.sleep(0.2)
    assert total == 1.0


def test_filter_log_events_catastrophic_regex_answers_fast(logs: Any) -> None:
    group = unique("/hostile-filter")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now_ms(), "message": HOSTILE}],
    )
    started = time.monotonic()
    answer = logs.filter_log_events(logGroupName=group, filterPattern="%(a+)+$%")
    assert time.monotonic() - started < FAST
    assert answer["events"] == []


@pytest.mark.parametrize("pattern", ["a{99999}", "(?=a)", "(a)\\1"])
def test_logs_api_regex_re2_refuses_is_400_naming_regex(vigil: VigilProcess, pattern: str) -> None:
    answer = httpx.get(f"{vigil.url}/api/v1/logs", params={"regex": pattern}, timeout=10)
    assert answer.status_code == 400, answer.text
    assert "regex" in answer.text
    assert "store" not in answer.text.lower()


def test_insights_lookahead_refused_at_start_query(logs: Any) -> None:
    group = unique("/hostile-insights")
    logs.create_log_group(logGroupName=group)
    query = "fields @message | filter @message like /(?=a)/"
    with pytest.raises(ClientError) as err:
        logs.start_query(
            logGroupName=group,
            startTime=int(time.time()) - 3600,
            endTime=int(time.time()),
            queryString=query,
        )
    assert err.value.response["Error"]["Code"] == "MalformedQueryException"
    assert f"position {query.index('/')}" in err.value.response["Error"]["Message"]


def _start(logs: Any, group: str, query: str) -> str:
    now = int(time.time())
    answer = logs.start_query(
        logGroupName=group, startTime=now - 3600, endTime=now + 60, queryString=query
    )
    return str(answer["queryId"])


def test_insights_store_type_error_refused_at_start_query(logs: Any) -> None:
    """Item 11: a query the parser takes but the store cannot run is refused at StartQuery
    with the failing command's position, in Insights words (no ClickHouse text)."""
    group = unique("/hostile-insights")
    logs.create_log_group(logGroupName=group)
    query = "stats count() by bin(5m) | fields toMillis(1)"
    with pytest.raises(ClientError) as err:
        _start(logs, group, query)
    message = err.value.response["Error"]["Message"]
    assert err.value.response["Error"]["Code"] == "MalformedQueryException"
    assert f"position {query.index('fields')}" in message
    assert "DB::" not in message
    assert "Code:" not in message


def test_insights_from_millis_out_of_range_completes(logs: Any) -> None:
    """fromMillis(99999999999999999) left the query "Running" for ever (its value could not
    be converted); now clamped, and any failure still ends the query."""
    group = unique("/hostile-insights")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "x"}]
    )
    query_id = _start(logs, group, "fields fromMillis(99999999999999999) as t")
    deadline = time.monotonic() + 20
    status = "Running"
    while time.monotonic() < deadline and status in ("Running", "Scheduled"):
        status = logs.get_query_results(queryId=query_id)["status"]
        time.sleep(0.1)
    assert status == "Complete"
