"""Grafana's CloudWatch data source against vigil: the requests its backend makes
(recorded from pkg/tsdb/cloudwatch in tests/fixtures/grafana/cloudwatch.json) put on the
wire in the protocols its SDKs speak, signed, sent to a served vigil holding metrics,
an alarm and log events written with boto3, and the answers read as the SDK reads them
and checked for what the data source uses: labels (with its ``|&|`` separator), ascending
timestamps, PartialData pages merged by label, alarm fields for annotations, log groups,
fields, the internal @log/@logStream columns of its query prefix, log context."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.grafana_replay import boto3_client, calls, read, send_input, server_args
from tests.vigil_process import VigilProcess

CALLS = calls("cloudwatch.json")
INSTANCES = {"i-grafana-1": "m5.large", "i-grafana-2": "m5.large", "i-grafana-3": "c5.xlarge"}
BASE = {"i-grafana-1": 10.0, "i-grafana-2": 50.0, "i-grafana-3": 5.0}
MINUTES = 10


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = VigilProcess(tmp_path_factory.mktemp("grafana-cw") / "data", *server_args())
    server.start()
    cw = boto3_client(server, "cloudwatch")
    logs = boto3_client(server, "logs")
    now = int(time.time())
    minute = now - now % 60
    stamps = [minute - (MINUTES - i) * 60 for i in range(MINUTES)]
    data = [
        {
            "MetricName": "CPUUtilization",
            "Dimensions": [
                {"Name": "InstanceId", "Value": instance},
                {"Name": "InstanceType", "Value": kind},
            ],
            "Timestamp": datetime.fromtimestamp(t, UTC),
            "Value": BASE[instance] + i,
            "Unit": "Percent",
        }
        for instance, kind in INSTANCES.items()
        for i, t in enumerate(stamps)
    ]
    cw.put_metric_data(Namespace="Shop/EC2", MetricData=data)
    alarm = f"grafana-cpu-{uuid.uuid4().hex[:6]}"
    topic = boto3_client(server, "sns").create_topic(Name="grafana-pages")["TopicArn"]
    cw.put_metric_alarm(
        AlarmActions=[topic],
        AlarmName=alarm,
        Namespace="Shop/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-grafana-1"}],
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=90,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="replay: forced")
    group = f"/grafana/app-{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="web-1")
    events = [
        {
            "timestamp": (stamps[i] + 5) * 1000,
            "message": json.dumps({"level": "error" if i % 3 == 0 else "info", "msg": f"m{i}"}),
        }
        for i in range(MINUTES)
    ]
    logs.put_log_events(logGroupName=group, logStreamName="web-1", logEvents=events)
    arn = next(
        g["arn"]
        for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        if g["logGroupName"] == group
    )
    start, end = stamps[0] - 60, now + 60
    values: dict[str, Any] = {
        "${START}": datetime.fromtimestamp(start, UTC),
        "${END}": datetime.fromtimestamp(end, UTC),
        "${START_S}": start,
        "${END_S}": end,
        "${START_MS}": start * 1000,
        "${ALARM}": alarm,
        "${GROUP}": group,
        "${GROUP_ARN}": arn.removesuffix(":*"),
        "${STREAM}": "web-1",
        "${ACCOUNT}": "000000000000",
    }
    yield {"server": server, "values": values, "stamps": stamps, "alarm": alarm, "group": group}
    assert server.stop() == 0, server.log_text()[-3000:]


def _call(
    served: dict[str, Any], name: str, protocol: str | None = None, **extra: Any
) -> dict[str, Any]:
    call = CALLS[name]
    if extra:
        call = {**call, "input": {**call["input"], **extra}}
    values = served["values"]
    return read(send_input(served["server"], call, values, protocol), call, protocol)


# --- metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["query", "json"])
def test_health_check_and_pickers(served: dict[str, Any], protocol: str) -> None:
    assert _call(served, "health-metrics", protocol)["Metrics"] == []
    names = {m["MetricName"] for m in _call(served, "metric-names", protocol)["Metrics"]}
    assert "CPUUtilization" in names
    keys = {
        d["Name"]
        for m in _call(served, "dimension-keys", protocol)["Metrics"]
        for d in m["Dimensions"]
    }
    assert keys == {"InstanceId", "InstanceType"}
    found = _call(served, "dimension-values", protocol)["Metrics"]
    ids = {d["Value"] for m in found for d in m["Dimensions"] if d["Name"] == "InstanceId"}
    assert ids == {"i-grafana-1", "i-grafana-2"}


def test_pickers_with_linked_accounts(served: dict[str, Any]) -> None:
    """vigil is one account (000000000000): it owns every metric and log group; another
    account owns none."""
    for name in ("metric-names-account", "metric-names-all-accounts"):
        answer = _call(served, name)
        assert answer["Metrics"]
        assert answer["OwningAccounts"] == ["000000000000"] * len(answer["Metrics"])
    groups = _call(served, "log-group-picker-account")["logGroups"]
    assert served["group"] in {g["logGroupName"] for g in groups}
    other = {**served, "values": {**served["values"], "${ACCOUNT}": "123456789012"}}
    assert _call(other, "metric-names-account")["Metrics"] == []
    assert _call(other, "log-group-picker-account")["logGroups"] == []


@pytest.mark.parametrize("protocol", ["query", "json"])
def test_metric_stat_with_timezone_label(served: dict[str, Any], protocol: str) -> None:
    answer = _call(served, "metric-stat", protocol)
    (result,) = answer["MetricDataResults"]
    assert result["Id"] == "a"
    assert result["StatusCode"] == "Complete"
    stamps = [int(t.timestamp()) for t in result["Timestamps"]]
    assert stamps == served["stamps"]  # ScanBy TimestampAscending
    assert result["Values"] == [10.0 + i for i in range(MINUTES)]
    last = datetime.fromtimestamp(served["stamps"][-1], UTC) + timedelta(hours=1, minutes=30)
    assert result["Label"] == f"i-grafana-1 {last.strftime('%Y-%m-%dT%H:%M:%S')}+0130"
    assert answer["Messages"] == []


def test_search_expressions_and_the_label_separator(served: dict[str, Any]) -> None:
    results = _call(served, "search-exact")["MetricDataResults"]
    # Grafana splits the label at |&| and names the series by the dimension value after it.
    by_dim = {r["Label"].split("|&|")[1]: r for r in results}
    assert set(by_dim) == {"i-grafana-1", "i-grafana-2"}
    assert by_dim["i-grafana-2"]["Values"] == [50.0 + i for i in range(MINUTES)]
    assert all(r["Label"].split("|&|")[0].endswith("CPUUtilization") for r in results)
    loose = _call(served, "search-loose")["MetricDataResults"]
    assert len(loose) == 3
    assert {r["Id"] for r in loose} == {"c"}


def test_math_over_a_hidden_query(served: dict[str, Any]) -> None:
    (result,) = _call(served, "math")["MetricDataResults"]
    assert result["Id"] == "e1"
    assert result["Values"] == [2 * (10.0 + i) for i in range(MINUTES)]


@pytest.mark.parametrize("protocol", ["query", "json"])
def test_metrics_insights(served: dict[str, Any], protocol: str) -> None:
    answer = _call(served, "metrics-insights", protocol)
    results = answer["MetricDataResults"]
    assert [r["Label"] for r in results] == ["i-grafana-2", "i-grafana-1"]  # ORDER BY AVG() DESC
    assert results[0]["Values"] == [50.0 + i for i in range(MINUTES)]
    assert [int(t.timestamp()) for t in results[1]["Timestamps"]] == served["stamps"]
    assert answer["Messages"] == []


def test_paging_merges_partial_data_by_label(served: dict[str, Any]) -> None:
    """executeRequest pages with NextToken; aggregateResponse appends a PartialData
    result's points to the next page's result of the same label."""
    merged: dict[str, list[float]] = {}
    token = None
    pages = 0
    while True:
        extra: dict[str, Any] = {"NextToken": token} if token else {}
        answer = _call(served, "paging", **extra)
        pages += 1
        for r in answer["MetricDataResults"]:
            assert r["StatusCode"] in ("Complete", "PartialData")
            assert len(r["Values"]) <= 3
            merged.setdefault(r["Label"], []).extend(r["Values"])
        token = answer.get("NextToken")
        if not token:
            break
    assert pages >= 7
    assert len(merged) == 3
    assert merged["i-grafana-1 m5.large CPUUtilization"] == [10.0 + i for i in range(MINUTES)]


def test_metrics_insights_limits_are_request_messages(served: dict[str, Any]) -> None:
    """Over two weeks: the data source shows MaxQueryTimeRangeExceeded from the
    response's Messages."""
    values = dict(served["values"])
    values["${START}"] = values["${START}"] - timedelta(days=20)
    call = CALLS["metrics-insights"]
    call = {
        **call,
        "input": {
            **call["input"],
            "MetricDataQueries": [
                {
                    "Id": "q",
                    "ReturnData": True,
                    "Period": 3600,
                    "Expression": 'SELECT SUM(CPUUtilization) FROM "Shop/EC2"',
                }
            ],
        },
    }
    answer = read(send_input(served["server"], call, values), call)
    assert [m["Code"] for m in answer["Messages"]] == ["MaxQueryTimeRangeExceeded"]
    assert answer["MetricDataResults"][0]["Messages"] == []


def test_alarm_annotations(served: dict[str, Any]) -> None:
    alarms = _call(served, "annotations-prefix")["MetricAlarms"]
    mine = next(a for a in alarms if a["AlarmName"] == served["alarm"])
    # filterAlarms dereferences these.
    assert mine["Namespace"] == "Shop/EC2"
    assert mine["MetricName"] == "CPUUtilization"
    assert mine["Dimensions"] == [{"Name": "InstanceId", "Value": "i-grafana-1"}]
    assert mine["Statistic"] == "Average"
    assert mine["Period"] == 300
    names = [a["AlarmName"] for a in _call(served, "annotations-metric")["MetricAlarms"]]
    assert served["alarm"] in names
    history = _call(served, "annotations-history")["AlarmHistoryItems"]
    assert history
    for item in history:
        assert item["AlarmName"] == served["alarm"]
        assert isinstance(item["Timestamp"], datetime)
        assert item["HistoryItemType"]
        assert item["HistorySummary"]
    assert any("ALARM" in item["HistorySummary"] for item in history)


# --- logs ------------------------------------------------------------------------------


def test_log_groups_and_fields(served: dict[str, Any]) -> None:
    assert len(_call(served, "health-logs")["logGroups"]) <= 1
    groups = _call(served, "log-group-picker")["logGroups"]
    mine = next(g for g in groups if g["logGroupName"] == served["group"])
    assert mine["arn"].endswith(f"log-group:{served['group']}:*")  # getAccountId reads it
    fields = {f["name"]: f["percent"] for f in _call(served, "log-group-fields")["logGroupFields"]}
    assert fields["@message"] == 100
    assert fields["level"] == 100


def _results(served: dict[str, Any], name: str) -> list[dict[str, str]]:
    query_id = _call(served, name)["queryId"]
    served["values"]["${QUERY_ID}"] = query_id
    deadline = time.monotonic() + 30
    while True:
        answer = _call(served, "get-query-results")
        if answer["status"] == "Complete":
            break
        assert answer["status"] in ("Scheduled", "Running"), answer["status"]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "statistics" in answer
    return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


def test_logs_query_with_grafanas_prefix(served: dict[str, Any]) -> None:
    rows = _results(served, "start-query")
    assert len(rows) == 4  # minutes 0, 3, 6, 9 logged errors
    for row in rows:
        assert row["level"] == "error"
        assert row["__log__grafana_internal__"].endswith(f":{served['group']}")
        assert row["__logstream__grafana_internal__"] == "web-1"
        assert row["@timestamp"]
        assert json.loads(row["@message"])["level"] == "error"
    stamps = [row["@timestamp"] for row in rows]
    assert stamps == sorted(stamps, reverse=True)
    # Stopping a finished query: Grafana takes InvalidParameterException as stopped.
    stop = send_input(served["server"], CALLS["stop-query"], served["values"])
    if stop.status_code == 200:
        assert read(stop, CALLS["stop-query"])["success"] is False
    else:
        assert stop.status_code == 400
        assert "InvalidParameterException" in stop.text


def test_logs_stats_query_by_identifiers(served: dict[str, Any]) -> None:
    rows = _results(served, "start-query-identifiers")
    counts = {row["level"]: int(row["n"]) for row in rows}
    assert counts == {"error": 4, "info": 6}


def test_log_context(served: dict[str, Any]) -> None:
    events = _call(served, "log-context")["events"]
    assert len(events) == 10
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert all("message" in e and "ingestionTime" in e for e in events)
