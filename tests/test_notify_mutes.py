"""CloudWatch alarm mute rules through boto3 (Put/Get/List/DeleteAlarmMuteRule) and their
effect in the pipeline: a muted alarm still changes state, its notification waits in the
outbox (listed with the rule as reason) and goes out when the mute ends — or at once when
the rule is deleted — if nothing newer replaced it. Injected clock, a local webhook."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.alarm_runtime import Clock, Harness, running
from tests.notify_receivers import HttpReceiver
from vigil.notify.mutes import MuteRuleError, duration
from vigil.pillars.notify import NotifyPillar

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC (a Monday)


def _notify(vigil: Harness) -> dict[str, int]:
    pillar = vigil.runtime.pillar("notify")
    assert isinstance(pillar, NotifyPillar)
    assert pillar.parts is not None
    return vigil.run(pillar.parts.tick(vigil.clock.seconds))


def _alarm(cw: Any, name: str, topic: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        OKActions=[topic],
    )


def _errors(cw: Any, at: float, value: float) -> None:
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {"MetricName": "Errors", "Value": value, "Timestamp": datetime.fromtimestamp(at, UTC)}
        ],
    )


def _setup(vigil: Harness, http: HttpReceiver) -> tuple[Any, str]:
    sns = boto3.client(
        "sns",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    topic = sns.create_topic(Name="ops")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="webhook", Endpoint=f"{http.url}/hook")
    cw = vigil.client()
    _alarm(cw, "DbErrors", topic)
    _alarm(cw, "ApiErrors", topic)
    return cw, topic


def test_mute_rule_api(tmp_path: Path) -> None:
    http = HttpReceiver().start()
    try:
        with running(tmp_path / "data", Clock(T0)) as vigil:
            cw, _ = _setup(vigil, http)
            cw.put_alarm_mute_rule(
                Name="nightly-backup",
                Description="backups make the DB noisy",
                Rule={
                    "Schedule": {
                        "Expression": "cron(0 2 * * *)",
                        "Duration": "PT2H",
                        "Timezone": "Europe/Paris",
                    }
                },
                MuteTargets={"AlarmNames": ["DbErrors"]},
                Tags=[{"Key": "team", "Value": "db"}],
            )
            cw.put_alarm_mute_rule(
                Name="deploy",
                Rule={"Schedule": {"Expression": "at(2026-12-07T10:30)", "Duration": "PT1H"}},
                MuteTargets={"AlarmNames": ["ApiErrors", "DbErrors"]},
            )
            got = cw.get_alarm_mute_rule(AlarmMuteRuleName="nightly-backup")
            assert got["Name"] == "nightly-backup"
            assert got["AlarmMuteRuleArn"] == (
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm-mute-rule:nightly-backup"
            )
            assert got["MuteType"] == "RECURRING"
            assert got["Status"] == "SCHEDULED"  # 11:00 in Paris: outside 02:00-04:00
            assert got["Rule"]["Schedule"]["Timezone"] == "Europe/Paris"
            assert got["MuteTargets"]["AlarmNames"] == ["DbErrors"]
            deploy = cw.get_alarm_mute_rule(AlarmMuteRuleName="deploy")
            assert (deploy["MuteType"], deploy["Status"]) == ("ONE_TIME", "SCHEDULED")

            listed = cw.list_alarm_mute_rules()["AlarmMuteRuleSummaries"]
            assert [s["AlarmMuteRuleArn"].rsplit(":", 1)[1] for s in listed] == [
                "deploy",
                "nightly-backup",
            ]
            only_api = cw.list_alarm_mute_rules(AlarmName="ApiErrors")["AlarmMuteRuleSummaries"]
            assert [s["AlarmMuteRuleArn"].rsplit(":", 1)[1] for s in only_api] == ["deploy"]
            page = cw.list_alarm_mute_rules(MaxRecords=1)
            assert len(page["AlarmMuteRuleSummaries"]) == 1
            rest = cw.list_alarm_mute_rules(MaxRecords=1, NextToken=page["NextToken"])
            assert len(rest["AlarmMuteRuleSummaries"]) == 1
            assert "NextToken" not in rest
            vigil.clock.set(T0 + 45 * 60)  # 10:45 UTC: the deploy mute runs
            active = cw.list_alarm_mute_rules(Statuses=["ACTIVE"])["AlarmMuteRuleSummaries"]
            assert [s["AlarmMuteRuleArn"].rsplit(":", 1)[1] for s in active] == ["deploy"]
            vigil.clock.set(T0 + 2 * 3600)
            assert cw.get_alarm_mute_rule(AlarmMuteRuleName="deploy")["Status"] == "EXPIRED"

            def refused(code: str, **kw: Any) -> str:
                with pytest.raises(ClientError) as err:
                    cw.put_alarm_mute_rule(**kw)
                assert err.value.response["Error"]["Code"] == code
                return str(err.value.response["Error"]["Message"])

            sched = {"Expression": "cron(0 2 * * *)", "Duration": "PT2H"}
            targets = {"AlarmNames": ["DbErrors"]}
            assert "Duration" in refused(
                "InvalidParameterValue",
                Name="x",
                Rule={"Schedule": {**sched, "Duration": "P16D"}},
                MuteTargets=targets,
            )
            assert "cron" in refused(
                "InvalidParameterValue",
                Name="x",
                Rule={"Schedule": {**sched, "Expression": "rate(5 minutes)"}},
                MuteTargets=targets,
            )
            assert "Timezone" in refused(
                "InvalidParameterValue",
                Name="x",
                Rule={"Schedule": {**sched, "Timezone": "Mars/Olympus"}},
                MuteTargets=targets,
            )
            assert "NoSuchAlarm" in refused(
                "ResourceNotFoundException",
                Name="x",
                Rule={"Schedule": sched},
                MuteTargets={"AlarmNames": ["NoSuchAlarm"]},
            )
            assert "end after" in refused(
                "InvalidParameterValue",
                Name="x",
                Rule={"Schedule": {"Expression": "at(2026-12-08T10:00)", "Duration": "PT1H"}},
                MuteTargets=targets,
                ExpireDate=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
            )
            with pytest.raises(ClientError) as err:
                cw.get_alarm_mute_rule(AlarmMuteRuleName="x")
            assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
            with pytest.raises(ClientError) as err:
                cw.list_alarm_mute_rules(NextToken="garbage!")
            assert err.value.response["Error"]["Code"] == "InvalidNextToken"
            cw.delete_alarm_mute_rule(AlarmMuteRuleName="deploy")
            cw.delete_alarm_mute_rule(AlarmMuteRuleName="deploy")  # idempotent
            with pytest.raises(ClientError):
                cw.get_alarm_mute_rule(AlarmMuteRuleName="deploy")
    finally:
        http.stop()


def _listing(vigil: Harness) -> list[dict[str, Any]]:
    answer = httpx.get(f"{vigil.url}/api/v1/notifications")
    assert answer.status_code == 200
    items: list[dict[str, Any]] = answer.json()["notifications"]
    return items


def test_muted_alarm_changes_state_and_pages_when_the_mute_ends(tmp_path: Path) -> None:
    http = HttpReceiver().start()
    clock = Clock(T0)
    try:
        with running(tmp_path / "data", clock) as vigil:
            cw, _ = _setup(vigil, http)
            _notify(vigil)
            cw.put_alarm_mute_rule(
                Name="maintenance",
                Rule={"Schedule": {"Expression": "at(2026-12-07T10:00)", "Duration": "PT30M"}},
                MuteTargets={"AlarmNames": ["DbErrors"]},
            )
            _errors(cw, T0 + 30, 50)
            events = vigil.tick(T0 + 120)
            assert sorted(e.alarm_name for e in events) == ["ApiErrors", "DbErrors"]
            _notify(vigil)
            # The unmuted alarm pages; the muted one changed state but waits, listed.
            hooks = [b for b in http.bodies() if b["details"].get("AlarmName")]
            assert [b["details"]["AlarmName"] for b in hooks] == ["ApiErrors"]
            state = cw.describe_alarms(AlarmNames=["DbErrors"])["MetricAlarms"][0]
            assert state["StateValue"] == "ALARM"
            waiting = [n for n in _listing(vigil) if n["status"] == "pending"]
            assert [n["reason"] for n in waiting] == ["muted by alarm mute rule maintenance"]
            clock.set(T0 + 25 * 60)
            _notify(vigil)
            assert len(http.received) == 1  # still muted
            clock.set(T0 + 30 * 60)  # the mute ends: the alarm is still in ALARM
            _notify(vigil)
            hooks = [b for b in http.bodies() if b["details"].get("AlarmName")]
            assert [(b["details"]["AlarmName"], b["kind"]) for b in hooks] == [
                ("ApiErrors", "trigger"),
                ("DbErrors", "trigger"),
            ]
            clock.set(T0 + 31 * 60)
            _notify(vigil)
            assert len(http.received) == 2  # once, never twice
    finally:
        http.stop()


def test_deleting_a_rule_unmutes_at_once(tmp_path: Path) -> None:
    http = HttpReceiver().start()
    clock = Clock(T0)
    try:
        with running(tmp_path / "data", clock) as vigil:
            cw, _ = _setup(vigil, http)
            cw.put_alarm_mute_rule(
                Name="weekly",
                Rule={"Schedule": {"Expression": "cron(0 10 * * MON)", "Duration": "PT4H"}},
                MuteTargets={"AlarmNames": ["DbErrors", "ApiErrors"]},
            )
            _errors(cw, T0 + 30, 50)
            vigil.tick(T0 + 120)
            _notify(vigil)
            assert http.received == []
            reasons = {n["reason"] for n in _listing(vigil)}
            assert reasons == {"muted by alarm mute rule weekly"}
            cw.delete_alarm_mute_rule(AlarmMuteRuleName="weekly")
            _notify(vigil)
            assert sorted(b["details"]["AlarmName"] for b in http.bodies()) == [
                "ApiErrors",
                "DbErrors",
            ]
    finally:
        http.stop()


def test_durations() -> None:
    assert duration("PT1M") == 60
    assert duration("P2DT12H") == 2 * 86400 + 12 * 3600
    assert duration("P15D") == 15 * 86400
    for bad in ("PT30S", "P16D", "PT", "4h", ""):
        with pytest.raises(MuteRuleError):
            duration(bad)
