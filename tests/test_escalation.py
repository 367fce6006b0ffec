"""Incidents, escalation and acknowledgement end to end, on the injected clock: alarm
events in, boto3 set-up, aiosmtpd and local HTTP receivers standing in for Slack,
PagerDuty and a webhook. The event is a local dataclass with the fields of the alarms
pillar's ``AlarmEvent`` (rules/alarms/interface.py), which notify reads by protocol."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.notify_receivers import HttpReceiver, SmtpReceiver
from tests.notify_stack import T0, Stack
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifyParts, NotifySettings

REGION_NAME = "US East (N. Virginia)"


@dataclass
class Event:
    alarm_name: str
    old_state: str
    new_state: str
    timestamp_ms: int
    actions: list[str]
    tenant: str = "default"
    region: str = "us-east-1"
    reason: str = "Threshold Crossed: 3 datapoints were greater than the threshold (500.0)."
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)

    @property
    def alarm_arn(self) -> str:
        return f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{self.alarm_name}"

    def sns_message(self) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "AlarmDescription": None,
            "AWSAccountId": "000000000000",
            "NewStateValue": self.new_state,
            "NewStateReason": self.reason,
            "StateChangeTime": "2026-11-30T08:53:20.000+0000",
            "Region": REGION_NAME,
            "AlarmArn": self.alarm_arn,
            "OldStateValue": self.old_state,
            "OKActions": self.ok_actions,
            "AlarmActions": self.alarm_actions,
            "InsufficientDataActions": [],
            "Trigger": {"MetricName": "Latency", "Namespace": "App", "Threshold": 500.0},
        }


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


def _settings(smtp: SmtpReceiver, http: HttpReceiver) -> NotifySettings:
    return NotifySettings(
        smtp_url=smtp.url,
        smtp_from="vigil@example.com",
        pagerduty_events_url=f"{http.url}/pagerduty",
        pipeline=Settings(rates={}),
    )


@pytest.fixture
def stack(tmp_path: Path, http: HttpReceiver, smtp: SmtpReceiver) -> Iterator[Stack]:
    s = Stack(tmp_path, _settings(smtp, http))
    yield s
    s.close()


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _design(stack: Stack, http: HttpReceiver, smtp: SmtpReceiver) -> dict[str, str]:
    """Warning tier (email + webhook) escalating to the critical tier (email, Slack,
    PagerDuty) after 300 s without an acknowledgement — the design's Step Functions flow."""
    sns = stack.sns()
    warn = sns.create_topic(
        Name="warning",
        Tags=[
            {"Key": "severity", "Value": "warning"},
            {"Key": "vigil:escalation-policy", "Value": "standard"},
        ],
    )["TopicArn"]
    crit = sns.create_topic(Name="critical", Tags=[{"Key": "severity", "Value": "critical"}])[
        "TopicArn"
    ]
    sns.subscribe(TopicArn=warn, Protocol="email", Endpoint="team@example.com")
    sns.subscribe(TopicArn=warn, Protocol="webhook", Endpoint=f"{http.url}/hook")
    sns.subscribe(TopicArn=crit, Protocol="email", Endpoint="oncall@example.com")
    sns.subscribe(TopicArn=crit, Protocol="slack", Endpoint=f"{http.url}/slack/T/B/X")
    sns.subscribe(TopicArn=crit, Protocol="pagerduty", Endpoint="R0UTINGKEY0123456789")
    stack.tick()
    for mail in smtp.messages:  # confirm both email subscriptions through their links
        link = re.search(r"(http://\S+/notify/sns/confirm\S+)", _text(mail))
        assert link
        assert httpx.get(link.group(1)).status_code == 200
    smtp.messages.clear()
    http.received.clear()
    answer = httpx.put(
        f"{stack.url}/api/v1/escalation-policies/standard",
        json={"levels": [{"targets": [warn], "delay": 300}, {"targets": [crit]}]},
    )
    assert answer.status_code == 200, answer.text
    return {"warning": warn, "critical": crit}


def _alarm(stack: Stack, event: Event) -> None:
    async def send() -> None:
        stack.parts.alarms.publish(event)  # the alarms pillar's sink call

    stack.run(send())


def _paths(http: HttpReceiver) -> list[str]:
    return sorted(r.path for r in http.received)


def test_escalates_after_300s_then_ack_and_resolve(
    stack: Stack, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    topics = _design(stack, http, smtp)
    ms = int(T0 * 1000)
    _alarm(stack, Event("HighLatency", "OK", "ALARM", ms, [topics["warning"]]))
    stack.tick()
    # the warning tier: email (CloudWatch's subject and JSON) and the webhook
    [mail] = smtp.messages
    assert mail["To"] == "team@example.com"
    assert mail["Subject"] == f'ALARM: "HighLatency" in {REGION_NAME}'
    body = _text(mail)
    assert orjson.loads(body.splitlines()[0])["NewStateValue"] == "ALARM"
    assert "/notify/ack/" in body
    assert _paths(http) == ["/hook"]
    hook = http.received[0].json()
    assert hook["kind"] == "trigger"
    incident = hook["incident_id"]

    # no acknowledgement: nothing before 300 s, the critical tier at 300 s
    smtp.messages.clear()
    http.received.clear()
    stack.clock.now += 299
    assert stack.tick() == {}
    stack.clock.now += 1
    assert stack.tick() == {"sent": 3, "steps": 1}
    assert [m["To"] for m in smtp.messages] == ["oncall@example.com"]
    assert smtp.messages[0]["Subject"].startswith("[escalated: level 2]")
    assert _paths(http) == ["/pagerduty", "/slack/T/B/X"]
    trigger = next(r.json() for r in http.received if r.path == "/pagerduty")
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", incident)

    # acknowledge through the API: PagerDuty and the webhook hear of it, escalation stops
    http.received.clear()
    answer = httpx.post(f"{stack.url}/api/v1/incidents/{incident}/ack", json={"by": "alice"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "acknowledged"
    stack.tick()
    acks = {r.path: r.json() for r in http.received}
    assert acks["/pagerduty"] == {
        "routing_key": "R0UTINGKEY0123456789",
        "event_action": "acknowledge",
        "dedup_key": incident,
    }
    assert acks["/hook"]["kind"] == "acknowledge"
    assert httpx.post(f"{stack.url}/api/v1/incidents/{incident}/ack").status_code == 409

    # back to OK: resolved, PagerDuty resolve under the same dedup_key
    http.received.clear()
    stack.clock.now += 60
    _alarm(stack, Event("HighLatency", "ALARM", "OK", ms + 360_000, [topics["warning"]]))
    stack.tick()
    pd = [r.json() for r in http.received if r.path == "/pagerduty"]
    assert [(e["event_action"], e["dedup_key"]) for e in pd] == [("resolve", incident)]
    detail = httpx.get(f"{stack.url}/api/v1/incidents/{incident}").json()
    assert detail["status"] == "resolved"
    assert [h["kind"] for h in detail["history"]] == [
        "opened",
        "step",
        "step",
        "acknowledged",
        "resolved",
    ]
    listed = httpx.get(f"{stack.url}/api/v1/notifications").json()["notifications"]
    assert all("R0UTINGKEY" not in orjson.dumps(n).decode() for n in listed)
    # The timeline names where each step went without the URLs' secret paths (Slack's
    # /T/B/X is its token), as the notification listing does.
    steps = [h["detail"] for h in detail["history"] if h["kind"] == "step"]
    assert steps
    assert all("/slack/T/B/X" not in d for d in steps), steps
    assert all("/hook" not in d for d in steps), steps


def test_timeline_steps_hide_the_secret_part_of_target_urls() -> None:
    # A policy level may name endpoints directly (channel:endpoint); the incident's
    # timeline shows the host and a digest, never a webhook's path or a Slack token.
    from vigil.notify.esctext import step_text

    step = {
        "level": 0,
        "round": 0,
        "targets": ["webhook:https://hooks.example.com/T0/B0/s3cr3t?k=v", "email:a@b.c", "ops"],
    }
    text = step_text(step, 3)
    assert "s3cr3t" not in text
    assert "k=v" not in text
    assert text.startswith("level 1: 3 notification(s) to webhook:https://hooks.example.com/…#")
    assert text.endswith(", email:a@b.c, ops")


def test_ack_link_stops_escalation_and_refuses_forgery(
    stack: Stack, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    topics = _design(stack, http, smtp)
    _alarm(stack, Event("Disk", "OK", "ALARM", int(T0 * 1000), [topics["warning"]]))
    stack.tick()
    link = re.search(r"(http://\S+/notify/ack/\S+)", _text(smtp.messages[0]))
    assert link
    url = link.group(1)
    page = httpx.get(url)  # a GET (mail scanners) only shows the form
    assert page.status_code == 200
    assert "<form" in page.text
    forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 64, url)
    assert httpx.post(forged).status_code == 403
    longer = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m.group(1)) + 999}", url)
    assert httpx.post(longer).status_code == 403  # the expiry is signed too
    assert httpx.post(url).status_code == 200
    assert httpx.post(url).status_code == 409  # replayed: nothing more happens
    smtp.messages.clear()
    http.received.clear()
    assert stack.tick() == {"sent": 1}  # the webhook hears of the acknowledgement
    assert [r.json()["kind"] for r in http.received] == ["acknowledge"]
    http.received.clear()
    stack.clock.now += 600
    assert stack.tick() == {}  # no escalation
    assert smtp.messages == []
    assert http.received == []


def test_expired_link_refused(stack: Stack, http: HttpReceiver, smtp: SmtpReceiver) -> None:
    topics = _design(stack, http, smtp)
    _alarm(stack, Event("Cpu", "OK", "ALARM", int(T0 * 1000), [topics["warning"]]))
    stack.tick()
    link = re.search(r"(http://\S+/notify/ack/\S+)", _text(smtp.messages[0]))
    assert link
    stack.clock.now += 8 * 86400
    assert httpx.post(link.group(1)).status_code == 403


def test_repeat_alarm_attaches_to_open_incident(
    stack: Stack, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    topics = _design(stack, http, smtp)
    ms = int(T0 * 1000)
    _alarm(stack, Event("Api", "OK", "ALARM", ms, [topics["warning"]]))
    _alarm(stack, Event("Api", "OK", "ALARM", ms, [topics["warning"]]))  # delivered twice
    _alarm(stack, Event("Api", "INSUFFICIENT_DATA", "ALARM", ms + 60_000, [topics["warning"]]))
    stack.tick()
    incidents = httpx.get(f"{stack.url}/api/v1/incidents").json()["incidents"]
    assert len(incidents) == 1
    assert len(smtp.messages) == 1
    detail = httpx.get(f"{stack.url}/api/v1/incidents/{incidents[0]['id']}").json()
    assert [h["kind"] for h in detail["history"]].count("repeat") == 2


def test_restart_and_two_nodes_run_each_step_once(
    tmp_path: Path, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    """State survives a restart (a new stack on the same database), and two nodes ticking
    at once on one database run the due step exactly once."""
    first = Stack(tmp_path, _settings(smtp, http))
    try:
        topics = _design(first, http, smtp)
        _alarm(first, Event("Q", "OK", "ALARM", int(T0 * 1000), [topics["warning"]]))
        first.tick()
    finally:
        first.close()
    assert len(smtp.messages) == 1
    smtp.messages.clear()
    http.received.clear()

    second = Stack(tmp_path, _settings(smtp, http))
    other = second.run(_node(second))  # a second node on the same state DB
    try:
        second.clock.now = T0 + 300
        results: list[int] = []

        def tick(parts: NotifyParts) -> None:
            results.append(second.run(parts.escalations.tick(second.clock.now)))

        threads = [threading.Thread(target=tick, args=(p,)) for p in (second.parts, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [0, 1]
        assert second.tick() == {"sent": 3}
        assert second.run(other.tick(second.clock.now)) == {}
        assert [m["To"] for m in smtp.messages] == ["oncall@example.com"]
        assert sorted(r.path for r in http.received) == ["/pagerduty", "/slack/T/B/X"]
    finally:
        second.close()


async def _node(stack: Stack) -> NotifyParts:
    parts = NotifyParts(stack.engine, stack.settings, clock=stack.clock, node="other")
    await parts.start()
    return parts


def test_pagerduty_webhook_acknowledges(
    tmp_path: Path, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    settings = dataclasses.replace(_settings(smtp, http), pagerduty_webhook_secret="whsec_t")
    stack = Stack(tmp_path, settings)
    try:
        topics = _design(stack, http, smtp)
        _alarm(stack, Event("Db", "OK", "ALARM", int(T0 * 1000), [topics["warning"]]))
        stack.tick()
        incident = http.received[0].json()["incident_id"]
        event = {
            "event": {
                "event_type": "incident.acknowledged",
                "agent": {"summary": "Jane"},
                "data": {"id": "PINC1", "incident_key": incident, "status": "acknowledged"},
            }
        }
        body = orjson.dumps(event)
        url = f"{stack.url}/notify/pagerduty/webhook"
        bad = httpx.post(url, content=body, headers={"x-pagerduty-signature": "v1=00"})
        assert bad.status_code == 401
        sig = hmac.new(b"whsec_t", body, hashlib.sha256).hexdigest()
        good = httpx.post(url, content=body, headers={"x-pagerduty-signature": f"v1=0, v1={sig}"})
        assert good.status_code == 200, good.text
        assert good.json() == {"status": "applied", "incident": incident}
        detail = httpx.get(f"{stack.url}/api/v1/incidents/{incident}").json()
        assert (detail["status"], detail["acknowledged_by"]) == ("acknowledged", "Jane (PagerDuty)")
        again = httpx.post(url, content=body, headers={"x-pagerduty-signature": f"v1={sig}"})
        assert again.json() == {"status": "ignored"}
        stack.tick()
        http.received.clear()
        smtp.messages.clear()
        stack.clock.now += 600
        assert stack.tick() == {}  # the escalation stopped
    finally:
        stack.close()
