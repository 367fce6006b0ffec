"""The alarm window's top log lines in its notification: an alarm on a log metric filter's
metric gets the filter's matching lines of the evaluation range (newest first, at most 5,
secrets masked, each cut short), in the webhook body and the email text; an alarm on a
service's metric gets that service's ERROR lines. Real store, boto3, injected clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from tests.alarm_runtime import Clock, Harness, running
from tests.notify_receivers import HttpReceiver, SmtpReceiver
from vigil.notify.loglines import redact
from vigil.pillars.notify import NotifyPillar

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC


def _client(vigil: Harness, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def _notify(vigil: Harness) -> None:
    pillar = vigil.runtime.pillar("notify")
    assert isinstance(pillar, NotifyPillar)
    assert pillar.parts is not None
    vigil.run(pillar.parts.tick(vigil.clock.seconds))


def test_alarm_on_a_metric_filter_carries_its_log_lines(tmp_path: Path) -> None:
    http, smtp = HttpReceiver().start(), SmtpReceiver().start()
    clock = Clock(T0)
    try:
        with running(tmp_path / "data", clock, smtp_url=smtp.url) as vigil:
            sns, logs, cw = _client(vigil, "sns"), _client(vigil, "logs"), vigil.client()
            topic = sns.create_topic(Name="ops")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="webhook", Endpoint=f"{http.url}/hook")
            logs.create_log_group(logGroupName="/app/api")
            logs.create_log_stream(logGroupName="/app/api", logStreamName="web-1")
            logs.put_metric_filter(
                logGroupName="/app/api",
                filterName="errors",
                filterPattern="ERROR",
                metricTransformations=[
                    {"metricName": "ErrorCount", "metricNamespace": "App", "metricValue": "1"}
                ],
            )
            cw.put_metric_alarm(
                AlarmName="ApiErrors",
                Namespace="App",
                MetricName="ErrorCount",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=3,
                ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[topic],
            )
            base = (T0 + 1) * 1000
            events: list[dict[str, Any]] = [
                {"timestamp": base + i * 1000, "message": f"ERROR request {i} failed"}
                for i in range(6)
            ]
            events.insert(3, {"timestamp": base + 2500, "message": "INFO all good"})
            events.append(
                {
                    "timestamp": base + 7000,
                    "message": "ERROR db login failed password=hunter2 for " + "x" * 500,
                }
            )
            events.sort(key=lambda e: e["timestamp"])
            logs.put_log_events(logGroupName="/app/api", logStreamName="web-1", logEvents=events)
            fired = vigil.tick(T0 + 120)
            assert [(e.alarm_name, e.new_state) for e in fired] == [("ApiErrors", "ALARM")]
            _notify(vigil)
            [body] = [r.json() for r in http.received if r.path == "/hook"]
            lines = body["details"]["log_lines"]
            assert len(lines) == 5
            assert lines[0]["message"].startswith("ERROR db login failed password=… for xxx")
            assert "hunter2" not in str(body), {
                k: v for k, v in body.items() if "hunter2" in str(v)
            }
            assert len(lines[0]["message"]) == 300
            assert [x["message"] for x in lines[1:]] == [
                f"ERROR request {i} failed" for i in (5, 4, 3, 2)
            ]
            assert {x["group"] for x in lines} == {"/app/api"}
            assert all("INFO" not in x["message"] for x in lines)
    finally:
        http.stop()
        smtp.stop()


def test_redaction() -> None:
    assert redact("token: abc.def-123 and Authorization: Bearer eyJhbGciOiJIUzI1", 200) == (
        "token: … and Authorization: Bearer …"
    )
    assert redact("key AKIAIOSFODNN7EXAMPLE used", 200) == "key AKIA… used"
    assert redact('{"password": "p@ss"}', 200) == '{"password": "…"}'
    assert redact("a\nb", 200) == "a ⏎ b"
    assert len(redact("y" * 1000, 50)) == 50


def test_lines_in_email_and_slack_text() -> None:
    from vigil.notify.channels.email import SmtpSettings, compose
    from vigil.notify.channels.slack import message
    from vigil.notify.interface import Notification, Target

    note = Notification(
        key="k",
        subject="ALARM",
        message="{}",
        details={"log_lines": [{"time": T0 * 1000, "group": "/app/api", "message": "ERROR x"}]},
    )
    mail = compose(SmtpSettings("localhost", 25), Target("email", "a@example.com"), note)
    assert "Top log lines of the alarm window (UTC):\n10:00:00 /app/api: ERROR x" in str(
        mail.get_content()
    )
    blocks = message(note)["attachments"][0]["blocks"]
    assert any("```10:00:00 /app/api: ERROR x```" in str(b) for b in blocks)
