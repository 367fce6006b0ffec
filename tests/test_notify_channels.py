"""One conformance test every channel passes (Alertmanager's notify/test/test.go spirit):
the message shape against a recorded fixture, the retry rules per status code, timeouts,
and no secret (webhook URL token, routing key, HMAC key, SMTP password) in any log line
or outcome. Real receivers: a local HTTP server, aiosmtpd."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.notify_receivers import HttpReceiver, Reply, SmtpReceiver
from vigil.notify.channels.apprise_channel import AppriseChannel
from vigil.notify.channels.email import EmailChannel, SmtpSettings
from vigil.notify.channels.http import new_client
from vigil.notify.channels.msteams import TeamsChannel
from vigil.notify.channels.pagerduty import PagerDutyChannel
from vigil.notify.channels.slack import SlackChannel
from vigil.notify.channels.webhook import WebhookChannel
from vigil.notify.interface import Channel, Notification, SendOutcome, Target
from vigil.notify.stages import guarded

FIXTURES = Path(__file__).parent / "fixtures" / "notify"
SECRET = "s3cr3t-T0KEN-b9f1c2"
NOW = 1_796_000_000.0

NOTE = Notification(
    key="alarm/HighLatency/1796000000",
    subject='ALARM: "HighLatency" in US East (N. Virginia)',
    message="Threshold Crossed: 3 datapoints [812.0, 790.5, 901.2] were greater than 500.0",
    kind="trigger",
    severity="critical",
    group="HighLatency",
    topic_arn="arn:aws:sns:us-east-1:000000000000:critical",
    incident_id="inc-42",
    links={"alarm": "http://vigil.test/alarms/HighLatency", "ack": "http://vigil.test/ack/t"},
)


@dataclass
class Case:
    name: str
    channel: Channel
    target: Target
    received: Callable[[], list[Any]]  # what the receiver got, as comparable data
    script_http: Callable[[int, dict[str, str]], None]  # next reply (status, headers)
    slow: Callable[[float], None]
    # apprise says only success/failure: every failure is retried (never drop a page)
    fourxx_retryable: bool = False


@pytest.fixture(scope="module")
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


KINDS = ["webhook", "slack", "pagerduty", "msteams", "email", "apprise"]


def _case(kind: str, http: HttpReceiver, smtp: SmtpReceiver) -> Case:
    http.received.clear()
    http.replies.clear()
    smtp.messages.clear()
    smtp.replies.clear()
    client = new_client(5.0)

    def http_bodies() -> list[Any]:
        return [_scrub(orjson.loads(r.body)) for r in http.received]

    def script(status: int, headers: dict[str, str]) -> None:
        http.script(Reply(status, b"error " + SECRET.encode(), headers, echo_path=status == 404))

    def slow(delay: float) -> None:
        http.script(Reply(200, delay=delay))

    hook = f"{http.url}/hooks/{SECRET}"
    if kind == "webhook":
        ch: Channel = WebhookChannel(client, clock=lambda: NOW)
        target = Target("webhook", hook, "sub-1", {"secret": SECRET})
    elif kind == "slack":
        ch, target = SlackChannel(client), Target("slack", hook, "sub-1")
    elif kind == "msteams":
        ch, target = TeamsChannel(client), Target("msteams", hook, "sub-1")
    elif kind == "pagerduty":
        ch = PagerDutyChannel(f"{http.url}/v2/enqueue", client, clock=lambda: NOW)
        target = Target("pagerduty", SECRET, "sub-1")
    elif kind == "apprise":
        ch = AppriseChannel()
        target = Target("apprise", f"json://127.0.0.1:{http.url.rsplit(':', 1)[1]}/{SECRET}")
    else:
        settings = SmtpSettings.from_url(
            f"smtp://vigil:{SECRET}@127.0.0.1:{smtp.port}", "vigil@example.com"
        )
        # aiosmtpd offers no AUTH without TLS: the password is configured but not sent.
        settings = SmtpSettings(
            settings.host, settings.port, sender=settings.sender, password=SECRET, timeout=5.0
        )
        ch, target = EmailChannel(settings), Target("email", "oncall@example.com", "sub-1")

        def mails() -> list[Any]:
            return [
                {
                    "to": m["To"],
                    "from": m["From"],
                    "subject": m["Subject"],
                    "key": m["X-Vigil-Key"],
                    "body": m.get_payload(decode=True).decode().splitlines(),  # type: ignore[union-attr]
                }
                for m in smtp.messages
            ]

        def smtp_script(status: int, headers: dict[str, str]) -> None:
            smtp.replies.append(
                f"{status} 4.7.1 try {SECRET} later"
                if status < 500
                else f"{status} 5.1.1 no such user"
            )

        def smtp_slow(delay: float) -> None:
            pytest.skip("the SMTP timeout is the socket's own (smtplib timeout)")

        return Case(kind, ch, target, mails, smtp_script, smtp_slow)
    return Case(kind, ch, target, http_bodies, script, slow, fourxx_retryable=kind == "apprise")


def _scrub(body: Any) -> Any:
    """Volatile fields out (apprise's and webhooks' timestamps are the wall clock's)."""
    if isinstance(body, dict):
        return {k: _scrub(v) for k, v in body.items() if k not in ("timestamp",)}
    if isinstance(body, list):
        return [_scrub(v) for v in body]
    return body


async def _send(case: Case, timeout: float = 5.0) -> SendOutcome:
    return await guarded(case.channel.send(case.target, NOTE), timeout)


def _fixture(name: str, got: Any) -> Any:
    path = FIXTURES / f"{name}.json"
    if os.environ.get("VIGIL_RECORD_FIXTURES") == "1":  # recorded, reviewed, committed
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    return orjson.loads(path.read_bytes())


@pytest.mark.parametrize("kind", KINDS)
def test_channel_conformance(
    kind: str, http: HttpReceiver, smtp: SmtpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case = _case(kind, http, smtp)
    asyncio.run(_conformance(kind, case, caplog))


async def _conformance(kind: str, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[SendOutcome] = []

    # 1. success, and the message as the service expects it (recorded fixture)
    ok = await _send(case)
    outcomes.append(ok)
    assert ok.ok, ok.detail
    got = case.received()
    assert len(got) == 1
    assert got[0] == _fixture(kind, got[0])

    # 2. retry rules: 5xx and 429 retryable (Retry-After honoured), other 4xx not
    for status, headers, retryable in [
        (500, {}, True),
        (503, {}, True),
        (429, {"Retry-After": "7"}, True),
        (400, {}, case.fourxx_retryable),
        (404, {}, case.fourxx_retryable),
    ]:
        if kind == "email" and status == 429:
            continue  # SMTP has no 429; 451/452 are its "later"
        case.script_http(status if kind != "email" else (451 if retryable else 550), headers)
        outcome = await _send(case)
        outcomes.append(outcome)
        assert not outcome.ok, (status, outcome)
        assert outcome.retryable is retryable, (status, outcome)
        if status == 429 and kind != "apprise":
            assert outcome.retry_after == 7.0
        if kind not in ("email", "apprise"):
            assert outcome.status == status

    # 3. a receiver slower than the timeout: a retryable failure, on time
    if kind != "email":
        case.slow(2.0)
        outcome = await _send(case, timeout=0.3)
        outcomes.append(outcome)
        assert not outcome.ok
        assert outcome.retryable
        assert "timed out" in outcome.detail

    # 4. no secret anywhere: not in log lines, outcomes or the target's printable name
    # (aiosmtpd's own "mail.log" lines are the receiver's, which sees the secret it sent)
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert not [line for line in ours if SECRET in line]
    assert all(SECRET not in o.detail for o in outcomes), [o.detail for o in outcomes]
    assert SECRET not in case.target.name


def test_unreachable_receiver_is_retryable() -> None:
    outcome = asyncio.run(
        guarded(
            SlackChannel(new_client(1.0)).send(
                Target("slack", "http://127.0.0.1:9/x/" + SECRET), NOTE
            ),
            2.0,
        )
    )
    assert not outcome.ok
    assert outcome.retryable
    assert SECRET not in outcome.detail


def test_webhook_signature_verifies(http: HttpReceiver) -> None:
    http.received.clear()
    ch = WebhookChannel(new_client(5.0), clock=lambda: NOW)
    assert asyncio.run(ch.send(Target("webhook", http.url + "/h", "s", {"secret": "k"}), NOTE)).ok
    req = http.received[-1]
    stamp = req.headers["x-vigil-timestamp"]
    want = hmac.new(b"k", stamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-vigil-signature"] == f"sha256={want}"
    assert req.headers["idempotency-key"] == f"{NOTE.key}/s"


def test_pagerduty_actions_share_one_dedup_key(http: HttpReceiver) -> None:
    http.received.clear()
    target = Target("pagerduty", "R0UTINGKEY", "s")

    async def send_all() -> list[SendOutcome]:
        ch = PagerDutyChannel(f"{http.url}/v2/enqueue", new_client(5.0), clock=lambda: NOW)
        return [
            await ch.send(target, Notification.from_json({**NOTE.to_json(), "kind": kind}))
            for kind in ("trigger", "acknowledge", "resolve")
        ]

    assert all(o.ok for o in asyncio.run(send_all()))
    events = http.bodies()
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {"inc-42"}
    assert "payload" not in events[1]
    assert "payload" not in events[2]
