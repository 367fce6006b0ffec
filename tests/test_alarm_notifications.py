"""Alarms and notify together in one server, as a user wires them with boto3: an SNS
topic with an HTTP subscriber, a threshold alarm whose AlarmActions name the topic; data
drives the alarm to ALARM and the subscriber receives CloudWatch's alarm message once —
also when the server restarts before the event was marked delivered. Injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from tests.alarm_runtime import Clock, Harness, running
from tests.notify_receivers import HttpReceiver
from vigil.pillars.notify import NotifyPillar

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC


def _sns(vigil: Harness) -> Any:
    return boto3.client(
        "sns",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def _notify(vigil: Harness) -> dict[str, int]:
    pillar = vigil.runtime.pillar("notify")
    assert isinstance(pillar, NotifyPillar)
    assert pillar.parts is not None
    return vigil.run(pillar.parts.tick(vigil.clock.seconds))


def test_alarm_action_reaches_the_topic_subscriber_once(tmp_path: Path) -> None:
    http = HttpReceiver().start()
    clock = Clock(T0)
    try:
        with running(tmp_path / "data", clock) as vigil:
            sns, cw = _sns(vigil), vigil.client()
            topic = sns.create_topic(Name="data-pipeline-alerts")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{http.url}/hook")
            _notify(vigil)
            [confirm] = http.received
            token = confirm.json()["Token"]
            sns.confirm_subscription(TopicArn=topic, Token=token)
            http.received.clear()
            cw.put_metric_alarm(
                AlarmName="HighErrorRate",
                Namespace="Pipeline",
                MetricName="Errors",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=10,
                ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[topic],
            )
            cw.put_metric_data(
                Namespace="Pipeline",
                MetricData=[
                    {
                        "MetricName": "Errors",
                        "Value": 50,
                        "Timestamp": datetime.fromtimestamp(T0 + 30, UTC),
                    }
                ],
            )
            events = vigil.tick(T0 + 120)
            assert [(e.alarm_name, e.new_state) for e in events] == [("HighErrorRate", "ALARM")]
            _notify(vigil)
            bodies = [r.json() for r in http.received if r.path == "/hook"]
            assert [b["Type"] for b in bodies] == ["Notification"]
            assert bodies[0]["TopicArn"] == topic
            message = json.loads(bodies[0]["Message"])
            assert message["AlarmName"] == "HighErrorRate"
            assert message["NewStateValue"] == "ALARM"
            assert message["OldStateValue"] == "INSUFFICIENT_DATA"
            assert message["Trigger"]["Threshold"] == 10.0
            # Nothing is sent twice: later passes and evaluations with no change are quiet.
            vigil.tick(T0 + 180)
            _notify(vigil)
            assert len([r for r in http.received if r.path == "/hook"]) == 1
        # A restart redelivers nothing that was delivered, and sends nothing again.
        with running(tmp_path / "data", clock) as vigil:
            _notify(vigil)
            assert len([r for r in http.received if r.path == "/hook"]) == 1
    finally:
        http.stop()
