"""Slack's Acknowledge / Resolve buttons end to end: a local receiver plays Slack — it
gets vigil's message, "clicks" a button by POSTing Slack's block_actions payload signed
with the app's signing secret (real HMAC, v0 scheme) to /notify/slack/actions, and gets
the message replacement on its response_url. Injected clock, no sleeps."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from tests.notify_receivers import HttpReceiver
from tests.notify_stack import Stack
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifySettings

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class Event:
    alarm_name: str
    timestamp_ms: int
    actions: list[str]
    old_state: str = "OK"
    new_state: str = "ALARM"
    tenant: str = "default"
    region: str = "us-east-1"
    reason: str = "Threshold Crossed: 1 datapoint [900.0] was greater than 500.0."
    alarm_actions: list[str] = field(default_factory=list)

    @property
    def alarm_arn(self) -> str:
        return f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{self.alarm_name}"

    def sns_message(self) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "NewStateValue": self.new_state,
            "NewStateReason": self.reason,
            "AlarmArn": self.alarm_arn,
            "OldStateValue": self.old_state,
            "Region": "US East (N. Virginia)",
        }


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stack(tmp_path: Path, http: HttpReceiver) -> Iterator[Stack]:
    s = Stack(
        tmp_path,
        NotifySettings(
            pagerduty_events_url=f"{http.url}/pagerduty",
            slack_signing_secret=SIGNING_SECRET,
            pipeline=Settings(rates={}),
        ),
    )
    yield s
    s.close()


def _design(stack: Stack, http: HttpReceiver) -> None:
    """warning (Slack) → 300 s → critical (PagerDuty), as the design escalates."""
    sns = stack.sns()
    warn = sns.create_topic(
        Name="warning", Tags=[{"Key": "vigil:escalation-policy", "Value": "standard"}]
    )["TopicArn"]
    crit = sns.create_topic(Name="critical")["TopicArn"]
    sns.subscribe(TopicArn=warn, Protocol="slack", Endpoint=f"{http.url}/slack/T1/B1/XYZ")
    sns.subscribe(TopicArn=crit, Protocol="pagerduty", Endpoint="R0UTINGKEY0123456789")
    answer = httpx.put(
        f"{stack.url}/api/v1/escalation-policies/standard",
        json={"levels": [{"targets": [warn], "delay": 300}, {"targets": [crit]}]},
    )
    assert answer.status_code == 200, answer.text
    alarm = Event("HighLatency", int(stack.clock.now * 1000), [warn])

    async def send() -> None:
        stack.parts.alarms.publish(alarm)

    stack.run(send())
    stack.tick()


def _click(
    stack: Stack,
    http: HttpReceiver,
    action_id: str,
    value: str,
    *,
    secret: str = SIGNING_SECRET,
    at: float | None = None,
) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "ana", "name": "ana", "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1548261231.000200"},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": "T1", "domain": "example"},
        "channel": {"id": "C1", "name": "alerts"},
        "response_url": f"{http.url}/actions/T1/1/XXXX",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "type": "button",
                "action_ts": "1548426417.840180",
            }
        ],
    }
    body = urlencode({"payload": orjson.dumps(payload).decode()}).encode()
    stamp = str(int(stack.clock.now if at is None else at))
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return httpx.post(
        f"{stack.url}/notify/slack/actions",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": "v0=" + mac.hexdigest(),
        },
    )


def _buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for block in message["attachments"][0]["blocks"]:
        if block["type"] == "actions":
            for element in block["elements"]:
                out[element["action_id"]] = element
    return out


def _incident(stack: Stack, incident_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.url}/api/v1/incidents/{incident_id}")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def test_acknowledge_button_stops_escalation_and_updates_message(
    stack: Stack, http: HttpReceiver
) -> None:
    _design(stack, http)
    [slack] = [r.json() for r in http.received if r.path.startswith("/slack/")]
    buttons = _buttons(slack)
    assert set(buttons) == {"view", "vigil_ack", "vigil_resolve"}
    incident_id = buttons["vigil_ack"]["value"]
    http.received.clear()

    answer = _click(stack, http, "vigil_ack", incident_id)
    assert answer.status_code == 200
    assert _incident(stack, incident_id)["status"] == "acknowledged"
    [update] = [r for r in http.received if r.path == "/actions/T1/1/XXXX"]
    replaced = update.json()
    assert replaced["replace_original"] is True
    assert "Acknowledged by <@U024BE7LH>" in orjson.dumps(replaced).decode()
    assert set(_buttons(replaced)) == {"vigil_resolve"}

    # A second click changes nothing and says so; no escalation after 300 s.
    http.received.clear()
    assert _click(stack, http, "vigil_ack", incident_id).status_code == 200
    [again] = [r.json() for r in http.received if r.path.startswith("/actions/")]
    assert "Already acknowledged" in orjson.dumps(again).decode()
    http.received.clear()
    stack.clock.now += 301
    stack.tick()
    assert [r.path for r in http.received] == []  # PagerDuty never paged

    # Resolve from the updated message.
    assert _click(stack, http, "vigil_resolve", incident_id).status_code == 200
    assert _incident(stack, incident_id)["status"] == "resolved"
    [done] = [r.json() for r in http.received if r.path.startswith("/actions/")]
    assert _buttons(done) == {}
    history = [h["kind"] for h in _incident(stack, incident_id)["history"]]
    assert history.count("acknowledged") == 1
    assert history.count("resolved") == 1


def test_forged_and_replayed_clicks_are_refused(stack: Stack, http: HttpReceiver) -> None:
    _design(stack, http)
    [slack] = [r.json() for r in http.received if r.path.startswith("/slack/")]
    incident_id = _buttons(slack)["vigil_ack"]["value"]
    http.received.clear()
    forged = _click(stack, http, "vigil_ack", incident_id, secret="not-the-secret")
    assert forged.status_code == 401
    replayed = _click(stack, http, "vigil_ack", incident_id, at=stack.clock.now - 301)
    assert replayed.status_code == 401
    assert "5-minute" in replayed.text
    future = _click(stack, http, "vigil_ack", incident_id, at=stack.clock.now + 301)
    assert future.status_code == 401
    unsigned = httpx.post(f"{stack.url}/notify/slack/actions", content=b"payload=%7B%7D")
    assert unsigned.status_code == 401
    assert http.received == []
    assert _incident(stack, incident_id)["status"] == "open"
    # Inside the window the same click works (4 minutes old).
    assert (
        _click(stack, http, "vigil_ack", incident_id, at=stack.clock.now - 240).status_code == 200
    )
    assert _incident(stack, incident_id)["status"] == "acknowledged"


def test_without_a_signing_secret_the_button_is_a_link(tmp_path: Path, http: HttpReceiver) -> None:
    s = Stack(tmp_path, NotifySettings(pipeline=Settings(rates={})))
    try:
        _design(s, http)
        [slack] = [r.json() for r in http.received if r.path.startswith("/slack/")]
        buttons = _buttons(slack)
        assert "/notify/ack/" in buttons["acknowledge"]["url"]
        assert "vigil_ack" not in buttons
        assert httpx.post(f"{s.url}/notify/slack/actions", content=b"").status_code == 404
    finally:
        s.close()


def test_signature_matches_slacks_documented_example() -> None:
    """Slack's documentation example (secret, timestamp, body → signature)."""
    from vigil.notify.slackactions import sign

    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect"
        b"&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554"
        b"%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
