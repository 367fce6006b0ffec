"""Contributor Insights through boto3 against an in-process vigil on an injected clock:
rules over JSON access logs (and a CLF log) put with PutLogEvents, reports checked exactly
against counts computed here from the raw events, INSIGHT_RULE_METRIC graphed by
GetMetricData and alarmed on, and the API's errors and partial failures."""

from __future__ import annotations

import json
import random
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.alarm_runtime import Clock, Harness, running
from vigil.state.db import open_state
from vigil.state.insight_rules import InsightRule, InsightRules

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC
MINUTES = 10
XMLNS = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}


def _event(rng: random.Random, minute: int) -> dict[str, Any]:
    # A skewed client population: a few heavy clients, a long tail.
    client = f"10.0.{rng.randint(0, 3)}.{int(rng.paretovariate(1.2)) % 40}"
    status = rng.choice([200] * 6 + [404, 500, 502, 503])
    return {
        "ip": client,
        "method": rng.choice(["GET", "GET", "PUT", "POST"]),
        "status": status,
        "bytes": rng.randint(100, 5000),
        "path": rng.choice(["/api/a", "/api/b", "/health"]),
        "minute": minute,
    }


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with running(tmp_path_factory.mktemp("insight") / "data", Clock(T0 + MINUTES * 60)) as h:
        yield h


@pytest.fixture(scope="module")
def logs(vigil: Harness) -> Iterator[Any]:
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("logs", endpoint_url=vigil.url, config=BotoConfig(retries={"max_attempts": 1}))
    yield client
    client.close()


@pytest.fixture(params=["json", "query", "cbor"])
def cw(vigil: Harness, request: pytest.FixtureRequest) -> Iterator[Any]:
    """boto3's CloudWatch client forced to each protocol its model lists (issue 17)."""
    client = vigil.client(request.param)
    yield client
    client.close()


@pytest.fixture(scope="module")
def access(logs: Any) -> tuple[str, list[dict[str, Any]]]:
    """A log group of JSON access logs (a line that is not JSON among them)."""
    group = f"/insight/access-{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="web-1")
    rng = random.Random(17)
    events = [_event(rng, m) for m in range(MINUTES) for _ in range(60)]
    batch = [
        {"timestamp": (T0 + e["minute"] * 60 + i % 60) * 1000, "message": json.dumps(e)}
        for i, e in enumerate(events)
    ]
    batch.append({"timestamp": (T0 + 30) * 1000, "message": "not json: ip=10.0.0.1 status=500"})
    batch.sort(key=lambda e: e["timestamp"])
    logs.put_log_events(logGroupName=group, logStreamName="web-1", logEvents=batch)
    return group, events


def _rule(group: str, **contribution: Any) -> str:
    aggregate = contribution.pop("AggregateOn", "Count")
    return json.dumps(
        {
            "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
            "LogGroupNames": [group],
            "LogFormat": "JSON",
            "Contribution": contribution,
            "AggregateOn": aggregate,
        }
    )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _tv(result: dict[str, Any]) -> tuple[list[datetime], list[float]]:
    return result["Timestamps"], result["Values"]


def _report(cw: Any, name: str, period: int = 60, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = cw.get_insight_rule_report(
        RuleName=name, StartTime=_at(T0), EndTime=_at(T0 + MINUTES * 60), Period=period, **kw
    )
    return out


def test_top_error_clients_exact(cw: Any, access: tuple[str, list[dict[str, Any]]]) -> None:
    group, events = access
    name = f"errors-by-client-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(
        RuleName=name,
        RuleDefinition=_rule(
            group, Keys=["$.ip"], Filters=[{"Match": "$.status", "GreaterThan": 499}]
        ),
    )
    errors = [e for e in events if e["status"] > 499]
    counts = Counter(e["ip"] for e in errors)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    report = _report(
        cw, name, MaxContributorCount=10, Metrics=["UniqueContributors", "SampleCount"]
    )
    assert report["KeyLabels"] == ["$.ip"]
    assert report["AggregationStatistic"] == "Count"
    assert report["AggregateValue"] == len(errors)
    assert report["ApproximateUniqueCount"] == len(counts)
    got = [(c["Keys"][0], c["ApproximateAggregateValue"]) for c in report["Contributors"]]
    assert got == expected
    # Each contributor's datapoints: its errors per minute, only the minutes it appears in.
    per_minute: dict[str, Counter[int]] = defaultdict(Counter)
    for e in errors:
        per_minute[e["ip"]][T0 + e["minute"] * 60] += 1
    for c in report["Contributors"]:
        points = {int(p["Timestamp"].timestamp()): p["ApproximateValue"] for p in c["Datapoints"]}
        assert points == dict(per_minute[c["Keys"][0]])
    # The rule's metrics per minute.
    for point in report["MetricDatapoints"]:
        minute = (int(point["Timestamp"].timestamp()) - T0) // 60
        in_minute = [e for e in errors if e["minute"] == minute]
        assert point["SampleCount"] == len(in_minute)
        assert point["UniqueContributors"] == len({e["ip"] for e in in_minute})
        assert set(point) == {"Timestamp", "UniqueContributors", "SampleCount"}
    assert len(report["MetricDatapoints"]) == MINUTES


def test_sum_rule_two_keys_order_by_maximum(
    cw: Any, access: tuple[str, list[dict[str, Any]]]
) -> None:
    group, events = access
    name = f"bytes-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(
        RuleName=name,
        RuleDefinition=_rule(
            group,
            Keys=["$.ip", "$.method"],
            ValueOf="$.bytes",
            Filters=[
                {"Match": "$.method", "In": ["GET", "PUT"]},
                {"Match": "$.path", "StartsWith": ["/api"]},
            ],
            AggregateOn="Sum",
        ),
    )
    chosen = [e for e in events if e["method"] in ("GET", "PUT") and e["path"].startswith("/api")]
    totals: Counter[tuple[str, str]] = Counter()
    periods: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for e in chosen:
        key = (e["ip"], e["method"])
        totals[key] += e["bytes"]
        periods[key][e["minute"] // 5] += e["bytes"]
    report = _report(
        cw,
        name,
        period=300,
        MaxContributorCount=5,
        OrderBy="Maximum",
        Metrics=["Sum", "Maximum", "Minimum", "MaxContributorValue", "Average"],
    )
    peak = {k: max(v.values()) for k, v in periods.items()}
    expected = sorted(peak, key=lambda k: (-peak[k], list(k)))[:5]
    assert [tuple(c["Keys"]) for c in report["Contributors"]] == expected
    assert [c["ApproximateAggregateValue"] for c in report["Contributors"]] == [
        totals[k] for k in expected
    ]
    assert report["AggregateValue"] == sum(e["bytes"] for e in chosen)
    for point in report["MetricDatapoints"]:
        block = (int(point["Timestamp"].timestamp()) - T0) // 300
        inside = [e for e in chosen if e["minute"] // 5 == block]
        by_key: Counter[tuple[str, str]] = Counter()
        for e in inside:
            by_key[(e["ip"], e["method"])] += e["bytes"]
        assert point["Sum"] == sum(e["bytes"] for e in inside)
        assert point["Maximum"] == max(e["bytes"] for e in inside)
        assert point["Minimum"] == min(e["bytes"] for e in inside)
        assert point["MaxContributorValue"] == max(by_key.values())
        assert point["Average"] == pytest.approx(point["Sum"] / len(by_key))


def test_insight_rule_metric_graph_and_alarm(
    vigil: Harness, cw: Any, access: tuple[str, list[dict[str, Any]]]
) -> None:
    group, events = access
    name = f"server-errors-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(
        RuleName=name,
        RuleDefinition=_rule(
            group, Keys=["$.ip"], Filters=[{"Match": "$.status", "In": ["500", "502", "503"]}]
        ),
    )
    errors = Counter(T0 + e["minute"] * 60 for e in events if e["status"] >= 500)
    unique: dict[int, set[str]] = defaultdict(set)
    for e in events:
        if e["status"] >= 500:
            unique[T0 + e["minute"] * 60].add(e["ip"])
    graph = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "e1", "Expression": f"INSIGHT_RULE_METRIC('{name}', 'SampleCount')"},
            {
                "Id": "e2",
                "Expression": f'INSIGHT_RULE_METRIC("{name}", "UniqueContributors")',
                "Period": 60,
            },
        ],
        StartTime=_at(T0),
        EndTime=_at(T0 + MINUTES * 60),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    assert graph[0]["Id"] == "e1"
    got = {int(t.timestamp()): v for t, v in zip(*_tv(graph[0]), strict=True)}
    assert got == dict(errors)
    got = {int(t.timestamp()): v for t, v in zip(*_tv(graph[1]), strict=True)}
    assert got == {t: len(ips) for t, ips in unique.items()}

    # A metric-math alarm on the rule's metric.
    alarm = f"many-errors-{uuid.uuid4().hex[:6]}"
    threshold = min(errors.values()) - 1
    cw.put_metric_alarm(
        AlarmName=alarm,
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanThreshold",
        Threshold=threshold,
        Metrics=[
            {
                "Id": "e1",
                "Expression": f"INSIGHT_RULE_METRIC('{name}', 'SampleCount')",
                "Period": 60,
                "ReturnData": True,
            }
        ],
    )
    vigil.tick(T0 + MINUTES * 60 + 5)
    [state] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state["StateValue"] == "ALARM", state["StateReason"]
    last = errors[T0 + (MINUTES - 1) * 60]
    assert f"[{float(last)} (" in state["StateReason"]


def test_clf_rule(cw: Any, logs: Any) -> None:
    group = f"/insight/clf-{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    lines = [
        '10.1.1.1 - - [07/Dec/2026:10:00:01 +0000] "GET /a HTTP/1.1" 200 512',
        '10.1.1.2 - - [07/Dec/2026:10:00:02 +0000] "GET /b HTTP/1.1" 404 0',
        '10.1.1.1 - - [07/Dec/2026:10:00:03 +0000] "POST /a HTTP/1.1" 200 100',
        '10.1.1.3 - - [07/Dec/2026:10:00:04 +0000] "GET /a HTTP/1.1" 200 7',
        '10.1.1.1 - - [07/Dec/2026:10:00:05 +0000] "GET /c HTTP/1.1" 200 1',
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": (T0 + i) * 1000, "message": m} for i, m in enumerate(lines)],
    )
    name = f"clf-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(
        RuleName=name,
        RuleDefinition=json.dumps(
            {
                "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
                "LogGroupNames": [group[:-3] + "*"],
                "LogFormat": "CLF",
                "Fields": {"1": "IpAddress", "6": "StatusCode", "7": "BytesSent"},
                "Contribution": {
                    "Keys": ["IpAddress"],
                    "ValueOf": "BytesSent",
                    "Filters": [{"Match": "StatusCode", "EqualTo": 200}],
                },
                "AggregateOn": "Sum",
            }
        ),
    )
    report = _report(cw, name, period=600)
    assert report["KeyLabels"] == ["IpAddress"]
    assert [(c["Keys"], c["ApproximateAggregateValue"]) for c in report["Contributors"]] == [
        (["10.1.1.1"], 613.0),
        (["10.1.1.3"], 7.0),
    ]


def test_rule_lifecycle_and_errors(cw: Any) -> None:
    prefix = f"life-{uuid.uuid4().hex[:6]}"
    definition = _rule("/insight/none", Keys=["$.ip"])
    names = [f"{prefix}-{i}" for i in range(3)]
    for i, name in enumerate(names):
        cw.put_insight_rule(
            RuleName=name,
            RuleDefinition=definition,
            RuleState="DISABLED" if i == 2 else "ENABLED",
            Tags=[{"Key": "team", "Value": "web"}],
        )
    listed: list[dict[str, Any]] = []
    token: dict[str, Any] = {}
    while True:
        page = cw.describe_insight_rules(MaxResults=2, **token)
        listed += [r for r in page["InsightRules"] if r["Name"].startswith(prefix)]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert [(r["Name"], r["State"]) for r in listed] == [
        (names[0], "ENABLED"),
        (names[1], "ENABLED"),
        (names[2], "DISABLED"),
    ]
    assert listed[0]["Definition"] == definition
    assert json.loads(listed[0]["Schema"]) == {"Name": "CloudWatchLogRule", "Version": 1}
    assert listed[0]["ManagedRule"] is False
    arn = f"arn:aws:cloudwatch:us-east-1:000000000000:insight-rule/{names[0]}"
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "web"}]

    missing = f"{prefix}-missing"
    out = cw.disable_insight_rules(RuleNames=[names[0], missing])
    assert [f["FailureResource"] for f in out["Failures"]] == [missing]
    assert out["Failures"][0]["ExceptionType"] == "ResourceNotFoundException"
    assert cw.enable_insight_rules(RuleNames=[names[2]])["Failures"] == []
    states = {r["Name"]: r["State"] for r in cw.describe_insight_rules()["InsightRules"]}
    assert (states[names[0]], states[names[2]]) == ("DISABLED", "ENABLED")

    out = cw.delete_insight_rules(RuleNames=[*names, missing])
    assert [f["FailureResource"] for f in out["Failures"]] == [missing]
    remaining = [r["Name"] for r in cw.describe_insight_rules()["InsightRules"]]
    assert not any(n.startswith(prefix) for n in remaining)
    with pytest.raises(ClientError) as err:
        cw.list_tags_for_resource(ResourceARN=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("definition", "reason"),
    [
        ("{", "not JSON"),
        (json.dumps({"Schema": {"Name": "Other", "Version": 1}}), "Schema"),
        (_rule("/g", Keys=[]), "Keys"),
        (_rule("/g", Keys=["$.a", "$.b", "$.c", "$.d", "$.e"]), "Keys"),
        (_rule("/g", Keys=["ip"]), "JSON property path"),
        (_rule("/g", Keys=["$.ip"], AggregateOn="Sum"), "ValueOf"),
        (_rule("/g", Keys=["$.ip"], Filters=[{"Match": "$.a", "Like": ["x"]}]), "operator"),
        (_rule("/g", Keys=["$.ip"], Filters=[{"Match": "$.a", "GreaterThan": "x"}]), "number"),
    ],
)
def test_invalid_definitions_store_nothing(cw: Any, definition: str, reason: str) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ClientError) as err:
        cw.put_insight_rule(RuleName=name, RuleDefinition=definition)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert reason in err.value.response["Error"]["Message"]
    names = [r["Name"] for r in cw.describe_insight_rules()["InsightRules"]]
    assert name not in names


def test_report_errors_and_managed_rules(cw: Any) -> None:
    with pytest.raises(ClientError) as err:
        _report(cw, "no-such-rule")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    name = f"r-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(RuleName=name, RuleDefinition=_rule("/g", Keys=["$.ip"]))
    for bad in ({"MaxContributorCount": 101}, {"OrderBy": "Average"}, {"Metrics": ["P99"]}):
        with pytest.raises(ClientError) as err:
            _report(cw, name, **bad)
        assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
    with pytest.raises(ClientError) as err:
        cw.put_managed_insight_rules(
            ManagedRules=[{"TemplateName": "DynamoDBContributorInsights", "ResourceARN": table}]
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert table in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        cw.list_managed_insight_rules(ResourceARN=table)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_rules_survive_a_restart(tmp_path: Path) -> None:
    # Rules live in the state database: a new engine on the same file (a restarted
    # server) finds them. (One process holds one chDB path, hence the state level here.)
    url = "sqlite:///" + str(tmp_path / "state.db")
    engine = open_state(url)
    InsightRules(engine, lambda: 0).put(
        "default", InsightRule("kept", "DISABLED", _rule("/g", Keys=["$.a"]))
    )
    engine.dispose()
    engine = open_state(url)
    try:
        found = InsightRules(engine, lambda: 0).list("default")
    finally:
        engine.dispose()
    assert found == [InsightRule("kept", "DISABLED", _rule("/g", Keys=["$.a"]))]


def test_query_protocol(vigil: Harness, access: tuple[str, list[dict[str, Any]]]) -> None:
    group, events = access
    name = f"by-path-{uuid.uuid4().hex[:6]}"
    answer = httpx.post(
        vigil.url,
        data={
            "Action": "PutInsightRule",
            "Version": "2010-08-01",
            "RuleName": name,
            "RuleDefinition": _rule(group, Keys=["$.path"]),
        },
    )
    assert answer.status_code == 200, answer.text
    answer = httpx.post(
        vigil.url,
        data={
            "Action": "GetInsightRuleReport",
            "Version": "2010-08-01",
            "RuleName": name,
            "StartTime": "2026-12-07T10:00:00Z",
            "EndTime": "2026-12-07T10:10:00Z",
            "Period": "600",
            "MaxContributorCount": "1",
            "Metrics.member.1": "SampleCount",
        },
    )
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    top = Counter(e["path"] for e in events).most_common(1)[0]
    keys = root.findall(".//cw:Contributors/cw:member/cw:Keys/cw:member", XMLNS)
    value = root.find(".//cw:Contributors/cw:member/cw:ApproximateAggregateValue", XMLNS)
    count = root.find(".//cw:MetricDatapoints/cw:member/cw:SampleCount", XMLNS)
    assert [k.text for k in keys] == [top[0]]
    assert value is not None
    assert float(value.text or "") == top[1]
    assert count is not None
    assert float(count.text or "") == len(events)
    answer = httpx.post(
        vigil.url,
        data={"Action": "DeleteInsightRules", "Version": "2010-08-01", "RuleNames.member.1": "x"},
    )
    failure = ET.fromstring(answer.content).find(
        ".//cw:Failures/cw:member/cw:FailureResource", XMLNS
    )
    assert failure is not None
    assert failure.text == "x"


def test_read_api_graphs_the_rule_metric(
    vigil: Harness, cw: Any, access: tuple[str, list[dict[str, Any]]]
) -> None:
    # The UI's metric queries (/api/v1/metrics/query) evaluate with the same functions.
    group, events = access
    name = f"ui-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(RuleName=name, RuleDefinition=_rule(group, Keys=["$.ip"]))
    listed = httpx.get(vigil.url + "/api/v1/metrics/functions").json()["functions"]
    assert {"INSIGHT_RULE_METRIC", "ANOMALY_DETECTION_BAND"} <= set(listed)
    answer = httpx.post(
        vigil.url + "/api/v1/metrics/query",
        json={
            "start": T0,
            "end": T0 + MINUTES * 60,
            "queries": [
                {
                    "id": "e1",
                    "expression": f"INSIGHT_RULE_METRIC('{name}', 'SampleCount')",
                    "period": 600,
                }
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["values"] == [len(events)]


def test_dashboard_widgets_and_widget_images_graph_the_rule_metric(
    vigil: Harness, cw: Any, access: tuple[str, list[dict[str, Any]]]
) -> None:
    # A dashboard's widgets (/api/v1/dashboards/metric-data) and GetMetricWidgetImage
    # (notification graphs) evaluate metric math with GetMetricData's function table.
    group, events = access
    name = f"dash-{uuid.uuid4().hex[:6]}"
    cw.put_insight_rule(RuleName=name, RuleDefinition=_rule(group, Keys=["$.ip"]))
    expression = f"INSIGHT_RULE_METRIC('{name}', 'SampleCount')"
    answer = httpx.post(
        vigil.url + "/api/v1/dashboards/metric-data",
        json={
            "start": str(T0),
            "end": str(T0 + MINUTES * 60),
            "period": 600,
            "widgets": [
                {
                    "key": "0",
                    "properties": {"metrics": [[{"expression": expression, "id": "e1"}]]},
                }
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    widget = answer.json()["widgets"]["0"]
    assert "error" not in widget, widget
    assert [s["values"] for s in widget["series"]] == [[len(events)]]
    reference = cw.get_metric_data(
        MetricDataQueries=[{"Id": "e1", "Expression": expression, "Period": 600}],
        StartTime=T0,
        EndTime=T0 + MINUTES * 60,
    )["MetricDataResults"]
    assert [r["Values"] for r in reference] == [[len(events)]]
    image = cw.get_metric_widget_image(
        MetricWidget=json.dumps(
            {
                "metrics": [[{"expression": expression, "id": "e1"}]],
                "start": "2026-12-07T10:00:00Z",
                "end": "2026-12-07T10:10:00Z",
                "period": 600,
            }
        )
    )["MetricWidgetImage"]
    assert image.startswith(b"\x89PNG")


@pytest.mark.parametrize("protocol", ["query", "cbor"])
def test_every_protocol_answers_the_same(
    vigil: Harness, cw: Any, access: tuple[str, list[dict[str, Any]]], protocol: str
) -> None:
    group, _ = access
    name = f"proto-{protocol}-{uuid.uuid4().hex[:6]}"
    other = vigil.client(protocol)
    try:
        other.put_insight_rule(
            RuleName=name,
            RuleDefinition=_rule(group, Keys=["$.ip", "$.method"]),
            Tags=[{"Key": "p", "Value": protocol}],
        )
        asked: dict[str, Any] = {
            "MaxContributorCount": 5,
            "Metrics": ["SampleCount", "MaxContributorValue"],
        }

        def body(answer: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in answer.items() if k != "ResponseMetadata"}

        assert body(_report(other, name, **asked)) == body(_report(cw, name, **asked))
        described = [r for r in other.describe_insight_rules()["InsightRules"] if r["Name"] == name]
        assert [r["State"] for r in described] == ["ENABLED"]
        out = other.disable_insight_rules(RuleNames=[name, "absent"])
        assert [f["FailureResource"] for f in out["Failures"]] == ["absent"]
        assert other.delete_insight_rules(RuleNames=[name])["Failures"] == []
    finally:
        other.close()
