"""Alarms through boto3 against an in-process vigil on an injected clock: definitions,
evaluation rounds driven by the test (no sleeping), states, reasons, history, events,
errors in CloudWatch's codes, both protocols, and a restart."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.alarm_runtime import Clock, Harness, running

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC
XMLNS = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alarms") / "data"


@pytest.fixture(scope="module")
def vigil(data_dir: Path) -> Iterator[Harness]:
    with running(data_dir, Clock(T0)) as harness:
        yield harness


@pytest.fixture(params=["json", "query", "cbor"])
def cw(vigil: Harness, request: pytest.FixtureRequest) -> Iterator[Any]:
    client = vigil.client(request.param)
    yield client
    client.close()


def _ns() -> str:
    return f"Test/{uuid.uuid4().hex[:10]}"


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _put(cw: Any, ns: str, minute: int, value: float, name: str = "Errors") -> None:
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": name, "Timestamp": _at(T0 + minute * 60 + 5), "Value": value}],
    )


def _alarm(cw: Any, name: str) -> dict[str, Any]:
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarm)


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    e = err.value.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Message"]


def test_threshold_alarm_lifecycle(vigil: Harness, cw: Any) -> None:
    ns, name = _ns(), f"high-errors-{uuid.uuid4().hex[:6]}"
    topic = "arn:aws:sns:us-east-1:000000000000:oncall"
    vigil.clock.set(T0)
    cw.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="errors over 10",
        Namespace=ns,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        OKActions=[topic],
        Tags=[{"Key": "team", "Value": "core"}],
    )
    alarm = _alarm(cw, name)
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert alarm["Dimensions"] == []
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "core"}]
    # minutes 0..2: one breaching point; at 10:03 the alarm has 3 points, 1 breaching → OK
    for minute, value in enumerate([1.0, 12.0, 3.0]):
        _put(cw, ns, minute, value)
    vigil.events.clear()
    vigil.tick(T0 + 3 * 60)
    alarm = _alarm(cw, name)
    assert alarm["StateValue"] == "OK"
    assert alarm["StateReason"] == (
        "Threshold Crossed: 2 out of the last 3 datapoints [3.0 (07/12/26 10:02:00),"
        " 1.0 (07/12/26 10:00:00)] were not greater than the threshold (10.0) (minimum 2"
        " datapoints for INSUFFICIENT_DATA -> OK transition)."
    )
    # a second breaching point in the last three → ALARM at 10:04, not earlier
    _put(cw, ns, 3, 15.0)
    vigil.tick(T0 + 3 * 60 + 59)  # same minute: not due again
    assert _alarm(cw, name)["StateValue"] == "OK"
    vigil.tick(T0 + 4 * 60)
    alarm = _alarm(cw, name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith(
        "Threshold Crossed: 2 out of the last 3 datapoints [15.0 (07/12/26 10:03:00),"
        " 12.0 (07/12/26 10:01:00)] were greater than the threshold (10.0)"
    )
    data = json.loads(alarm["StateReasonData"])
    assert data["statistic"] == "Sum"
    assert data["evaluatedDatapoints"][0] == {
        "timestamp": "2026-12-07T10:03:00.000+0000",
        "value": 15.0,
    }
    [ok, alarm_event] = [e for e in vigil.events if e.alarm_name == name]
    assert (ok.new_state, alarm_event.new_state) == ("OK", "ALARM")
    assert alarm_event.actions == [topic]
    message = alarm_event.sns_message()
    assert message["AlarmName"] == name
    assert message["OldStateValue"] == "OK"
    assert message["Trigger"]["MetricName"] == "Errors"
    assert message["Trigger"]["Namespace"] == ns
    # history: newest first, state updates and the queued actions
    history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    kinds = [h["HistoryItemType"] for h in history]
    assert kinds == ["Action", "StateUpdate", "Action", "StateUpdate", "ConfigurationUpdate"]
    update = json.loads(history[1]["HistoryData"])
    assert update["oldState"]["stateValue"] == "OK"
    assert update["newState"]["stateValue"] == "ALARM"
    assert history[1]["HistorySummary"] == "Alarm updated from OK to ALARM"
    only = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=1)
    assert len(only["AlarmHistoryItems"]) == 1
    second = cw.describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=1, NextToken=only["NextToken"]
    )
    assert (
        json.loads(second["AlarmHistoryItems"][0]["HistoryData"])["newState"]["stateValue"] == "OK"
    )
    # SetAlarmState holds until the next evaluation
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="testing")
    assert _alarm(cw, name)["StateReason"] == "testing"
    vigil.tick(T0 + 5 * 60)
    assert _alarm(cw, name)["StateValue"] == "ALARM"
    # actions off: transitions still happen, no actions in the event
    cw.disable_alarm_actions(AlarmNames=[name])
    assert _alarm(cw, name)["ActionsEnabled"] is False
    vigil.events.clear()
    vigil.tick(T0 + 9 * 60)  # no data for a while: missing → INSUFFICIENT_DATA
    assert _alarm(cw, name)["StateValue"] == "INSUFFICIENT_DATA"
    assert vigil.events[-1].actions == []
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    with pytest.raises(ClientError) as err:
        cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])
    assert _code(err)[:2] == ("ResourceNotFoundException", 404)


def test_describe_filters_and_pages(vigil: Harness, cw: Any) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    ns = _ns()
    for i in range(7):
        cw.put_metric_alarm(
            AlarmName=f"{prefix}{i}",
            Namespace=ns,
            MetricName="Latency",
            Dimensions=[{"Name": "Service", "Value": f"s{i % 2}"}],
            ExtendedStatistic="p99",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=[f"arn:aws:sns:us-east-1:000000000000:t{i % 3}"],
        )
    first = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=3)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == [f"{prefix}{i}" for i in range(3)]
    rest = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=3, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == [f"{prefix}{i}" for i in range(3, 6)]
    assert rest["MetricAlarms"][0]["ExtendedStatistic"] == "p99"
    by_action = cw.describe_alarms(
        AlarmNamePrefix=prefix, ActionPrefix="arn:aws:sns:us-east-1:000000000000:t1"
    )
    assert [a["AlarmName"] for a in by_action["MetricAlarms"]] == [f"{prefix}1", f"{prefix}4"]
    assert cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"] == []
    composites = cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["CompositeAlarm"])
    assert (composites["MetricAlarms"], composites["CompositeAlarms"]) == ([], [])
    found = cw.describe_alarms_for_metric(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "s1"}],
        ExtendedStatistic="p99",
    )["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in found) == [f"{prefix}{i}" for i in (1, 3, 5)]


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        # The model's enum, checked as AWS checks it (ValidationError, Coral's wording).
        (
            {"Statistic": "Median"},
            "ValidationError",
            "Value 'Median' at 'statistic' failed to satisfy constraint: Member must satisfy"
            " enum value set: [SampleCount, Average, Sum, Minimum, Maximum]",
        ),
        (
            {"Statistic": None, "ExtendedStatistic": "p101"},
            "InvalidParameterValue",
            "ExtendedStatistic is not supported",
        ),
        ({"Period": 45}, "ValidationError", "Period must be 10, 20, 30 or a multiple of 60"),
        (
            {"Period": 3600, "EvaluationPeriods": 25},
            "ValidationError",
            "EvaluationPeriods * Period must be <= 86400",
        ),
        ({"DatapointsToAlarm": 5}, "ValidationError", "DatapointsToAlarm"),
        ({"TreatMissingData": "sometimes"}, "ValidationError", "TreatMissingData"),
        (
            {"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"},
            "ValidationError",
            "ThresholdMetricId",
        ),
        ({"Threshold": None}, "MissingParameter", "Threshold"),
    ],
)
def test_put_metric_alarm_refusals(cw: Any, change: dict[str, Any], code: str, words: str) -> None:
    params: dict[str, Any] = {
        "AlarmName": f"bad-{uuid.uuid4().hex[:6]}",
        "Namespace": "Test/bad",
        "MetricName": "M",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as err:
        cw.put_metric_alarm(**params)
    got = _code(err)
    assert got[:2] == (code, 400), got
    assert words in got[2]
    assert cw.describe_alarms(AlarmNames=[params["AlarmName"]])["MetricAlarms"] == []


def _math_params(name: str, metrics: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 1.0,
        "Metrics": metrics,
        **kw,
    }


def _stat(qid: str, ns: str, name: str, return_data: bool = False) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": name},
            "Period": 60,
            "Stat": "Sum",
        },
        "ReturnData": return_data,
    }


def test_math_alarm_and_math_refusals(vigil: Harness, cw: Any) -> None:
    ns, name = _ns(), f"rate-{uuid.uuid4().hex[:6]}"
    metrics = [
        _stat("errors", ns, "Errors"),
        _stat("requests", ns, "Requests"),
        {"Id": "rate", "Expression": "100 * errors / requests", "ReturnData": True},
    ]
    cw.put_metric_alarm(**_math_params(name, metrics, Threshold=5.0))
    _put(cw, ns, 20, 3.0, "Errors")
    _put(cw, ns, 20, 20.0, "Requests")
    vigil.tick(T0 + 21 * 60)
    alarm = _alarm(cw, name)
    assert alarm["StateValue"] == "ALARM"
    assert "[15.0 (07/12/26 10:20:00)]" in alarm["StateReason"]
    assert alarm["Metrics"][2]["Expression"] == "100 * errors / requests"
    two = [*metrics[:2], {**metrics[2]}, {"Id": "x", "Expression": "errors", "ReturnData": True}]
    for bad, words in [
        (two, "Exactly one element of the metrics list should return data."),
        (
            [_stat("m1", ns, "E", True), {"Id": "s", "Expression": "SEARCH('{A} E', 'Sum', 60)"}],
            "SEARCH",
        ),
    ]:
        with pytest.raises(ClientError) as err:
            cw.put_metric_alarm(**_math_params(f"bad-{uuid.uuid4().hex[:6]}", bad))
        assert _code(err)[0] == "ValidationError"
        assert words in _code(err)[2]
    band_on_search = [
        _stat("m1", ns, "E", True),
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(SEARCH('{A} E', 'Sum', 60), 2)"},
    ]
    with pytest.raises(ClientError) as err:
        cw.put_metric_alarm(
            AlarmName="bad-band",
            EvaluationPeriods=1,
            ComparisonOperator="GreaterThanUpperThreshold",
            ThresholdMetricId="ad1",
            Metrics=band_on_search,
        )
    assert _code(err)[0] == "ValidationError"
    assert "SEARCH" in _code(err)[2]


def test_composite_alarms(vigil: Harness, cw: Any) -> None:
    ns, tag = _ns(), uuid.uuid4().hex[:6]
    errors, latency, health = f"errors-{tag}", f"latency-{tag}", f"health-{tag}"
    for name, metric in ((errors, "Errors"), (latency, "Latency")):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace=ns,
            MetricName=metric,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=10.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    with pytest.raises(ClientError) as err:
        cw.put_composite_alarm(AlarmName=health, AlarmRule=f"ALARM({errors}) OR ALARM(ghost-{tag})")
    assert _code(err)[0] == "ValidationError"
    assert "do not exist" in _code(err)[2]
    with pytest.raises(ClientError) as err:
        cw.put_composite_alarm(AlarmName=health, AlarmRule=f"ALARM({errors}) OR")
    assert "at position" in _code(err)[2]
    cw.put_composite_alarm(
        AlarmName=health,
        AlarmRule=f"ALARM('{errors}') OR ALARM(\"{latency}\")",
        AlarmActions=["arn:aws:sns:us-east-1:000000000000:page"],
    )
    with pytest.raises(ClientError) as err:
        cw.put_composite_alarm(AlarmName=f"loop-{tag}", AlarmRule=f"ALARM(loop-{tag})")
    assert _code(err)[0] == "ValidationError"
    vigil.events.clear()
    _put(cw, ns, 30, 50.0, "Latency")
    _put(cw, ns, 30, 1.0, "Errors")
    vigil.tick(T0 + 31 * 60)
    composite = cw.describe_alarms(AlarmNames=[health], AlarmTypes=["CompositeAlarm"])
    [c] = composite["CompositeAlarms"]
    assert c["StateValue"] == "ALARM"
    assert c["StateReason"] == (
        f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{latency} transitioned to ALARM at"
        " Monday 07 December, 2026 10:31:00 UTC"
    )
    [event] = [e for e in vigil.events if e.alarm_name == health and e.new_state == "ALARM"]
    assert event.sns_message()["AlarmRule"].startswith("ALARM(")
    children = cw.describe_alarms(ChildrenOfAlarmName=health)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in children) == sorted([errors, latency])
    parents = cw.describe_alarms(ParentsOfAlarmName=latency, AlarmTypes=["CompositeAlarm"])
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == [health]
    cw.set_alarm_state(AlarmName=latency, StateValue="OK", StateReason="manual")
    [c] = cw.describe_alarms(AlarmNames=[health], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert c["StateValue"] == "OK"  # re-evaluated at once on the child's change


def test_query_protocol_and_missing_alarm(vigil: Harness) -> None:
    name = f"q-{uuid.uuid4().hex[:6]}"
    form = {
        "Action": "PutMetricAlarm",
        "Version": "2010-08-01",
        "AlarmName": name,
        "Namespace": "Test/q",
        "MetricName": "M",
        "Statistic": "Average",
        "Period": "60",
        "EvaluationPeriods": "2",
        "Threshold": "3",
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    answer = httpx.post(vigil.url, data=form)
    assert answer.status_code == 200, answer.text
    answer = httpx.post(
        vigil.url,
        data={"Action": "DescribeAlarms", "Version": "2010-08-01", "AlarmNames.member.1": name},
    )
    root = ET.fromstring(answer.content)
    treat = root.find(".//cw:MetricAlarms/cw:member/cw:TreatMissingData", XMLNS)
    assert treat is not None
    assert treat.text == "notBreaching"
    answer = httpx.post(
        vigil.url,
        data={
            "Action": "SetAlarmState",
            "Version": "2010-08-01",
            "AlarmName": "no-such-alarm",
            "StateValue": "OK",
            "StateReason": "x",
        },
    )
    assert answer.status_code == 404
    error = ET.fromstring(answer.content).find(".//cw:Error", XMLNS)
    assert error is not None
    assert error.find("cw:Code", XMLNS).text == "ResourceNotFound"  # type: ignore[union-attr]


def test_anomaly_detectors_api(cw: Any) -> None:
    ns = _ns()
    single = {"Namespace": ns, "MetricName": "Records", "Stat": "Average", "Dimensions": []}
    cw.put_anomaly_detector(
        SingleMetricAnomalyDetector=single,
        Configuration={"MetricTimezone": "Europe/Paris"},
    )
    found = cw.describe_anomaly_detectors(Namespace=ns)["AnomalyDetectors"]
    assert len(found) == 1
    assert found[0]["SingleMetricAnomalyDetector"]["MetricName"] == "Records"
    assert found[0]["Configuration"]["MetricTimezone"] == "Europe/Paris"
    with pytest.raises(ClientError) as err:
        cw.put_anomaly_detector(
            SingleMetricAnomalyDetector=single, Configuration={"MetricTimezone": "Mars/Base"}
        )
    assert _code(err)[0] == "InvalidParameterValue"
    cw.delete_anomaly_detector(SingleMetricAnomalyDetector=single)
    assert cw.describe_anomaly_detectors(Namespace=ns)["AnomalyDetectors"] == []
    with pytest.raises(ClientError) as err:
        cw.delete_anomaly_detector(SingleMetricAnomalyDetector=single)
    assert _code(err)[:2] == ("ResourceNotFoundException", 404)


def test_alarm_on_a_metric_filter_metric(vigil: Harness, cw: Any) -> None:
    """Log-based alarms need no special case: a metric filter writes the metric, the alarm
    reads it like any other."""
    tag = uuid.uuid4().hex[:6]
    group, ns, name = f"/app/{tag}", f"Logs/{tag}", f"log-errors-{tag}"
    logs = boto3.client(
        "logs",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="errors",
        filterPattern='{ $.level = "ERROR" }',
        metricTransformations=[{"metricName": "Errors", "metricNamespace": ns, "metricValue": "1"}],
    )
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=2.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    start_ms = (T0 + 40 * 60 + 5) * 1000
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": start_ms + i, "message": json.dumps({"level": level})}
            for i, level in enumerate(["ERROR", "INFO", "ERROR", "ERROR"])
        ],
    )
    vigil.tick(T0 + 41 * 60)
    alarm = _alarm(cw, name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"] == (
        "Threshold Crossed: 1 datapoint [3.0 (07/12/26 10:40:00)] was greater than or equal"
        " to the threshold (2.0)."
    )
    logs.close()
