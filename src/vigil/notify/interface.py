"""The notify boundary: what a notification is, where it goes, and what a channel does.

Contract
--------
* A ``Notification`` is one thing to say (an alarm's state change, an escalation step, an
  SNS Publish). Its ``key`` is its idempotency key: publishing the same key twice to the
  same tenant records and sends it once (the notification log decides, not memory).
* ``Notifier.publish`` records one delivery per ``Target`` durably (the outbox) *before*
  anything is sent, and returns; ``Notifier.flush(now)`` claims due deliveries (row
  locks: with several nodes on one PostgreSQL exactly one sends each), runs the stages
  (group → dedup → silence → flap → rate limit → send → retry → record) and marks each
  delivery ``sent``, ``failed``, ``held`` (with the reason) or ``grouped``. A crash after
  the intent and before the mark resends only unsent deliveries, with the same
  ``Target``-level idempotency key (PagerDuty ``dedup_key``, the ``Idempotency-Key``
  header of webhooks) so receivers that honour it see it once.
* A ``Channel`` sends one notification to one target and answers a ``SendOutcome``; it
  never sleeps and never retries itself (retries are rescheduled deliveries, so they
  survive restarts and run on the injected clock). It classifies failures: 5xx, 429,
  timeouts and connection errors are retryable, other 4xx are not. A channel never puts
  a secret (webhook URL token, routing key, SMTP password) in a log line, an exception
  or ``SendOutcome.detail``; ``Target.name`` is the safe, printable name.
* Times are epoch seconds (float) from an injected clock. Channels are async and safe to
  call concurrently; the notifier's state calls are blocking and run in worker threads.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Severity = Literal["critical", "warning", "info"]
Kind = Literal["trigger", "acknowledge", "resolve", "message"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True, slots=True)
class Notification:
    key: str  # idempotency key (unique per tenant)
    subject: str
    message: str
    kind: Kind = "message"
    severity: Severity = "info"
    group: str = ""  # group key: the alarm (and labels); empty = the notification's own key
    topic_arn: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)  # SNS MessageAttributes
    incident_id: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)  # "alarm", "ack", "graph" → URL
    # Per-protocol bodies (SNS MessageStructure=json): "default", "email", "slack", …
    structured: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON the alarm carried

    def body_for(self, protocol: str) -> str:
        return self.structured.get(protocol, self.structured.get("default", self.message))

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "subject": self.subject,
            "message": self.message,
            "kind": self.kind,
            "severity": self.severity,
            "group": self.group,
            "topic_arn": self.topic_arn,
            "attributes": dict(self.attributes),
            "incident_id": self.incident_id,
            "links": dict(self.links),
            "structured": dict(self.structured),
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            key=data["key"],
            subject=data["subject"],
            message=data["message"],
            kind=data.get("kind", "message"),
            severity=data.get("severity", "info"),
            group=data.get("group", ""),
            topic_arn=data.get("topic_arn", ""),
            attributes=data.get("attributes", {}),
            incident_id=data.get("incident_id"),
            links=data.get("links", {}),
            structured=data.get("structured", {}),
            details=data.get("details", {}),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One receiver: a channel kind and its address (which may hold a secret)."""

    channel: str  # "email", "email-json", "http", "https", "slack", "pagerduty", …
    endpoint: str  # secret-bearing: never log it
    id: str = ""  # stable id (the subscription ARN): part of the delivery's key
    options: Mapping[str, str] = field(default_factory=dict)  # e.g. "secret" for HMAC

    @property
    def name(self) -> str:
        """A printable name with no secret in it."""
        return redact(self.channel, self.endpoint)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "endpoint": self.endpoint,
            "id": self.id,
            "options": dict(self.options),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(data["channel"], data["endpoint"], data.get("id", ""), data.get("options", {}))


@dataclass(frozen=True, slots=True)
class SendOutcome:
    ok: bool
    retryable: bool = False
    status: int | None = None  # HTTP or SMTP status, if any
    detail: str = ""  # safe to log and store (no secrets)
    retry_after: float | None = None  # seconds, when the receiver said (429 Retry-After)

    @staticmethod
    def sent(status: int | None = None) -> SendOutcome:
        return SendOutcome(ok=True, status=status)


class Channel(Protocol):
    kinds: tuple[str, ...]  # the Target.channel values it serves

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        """Send once; classify the failure (see the module docstring). Never raises for a
        receiver's failure; raises ``ValueError`` for a target it cannot use."""
        ...


def log_lines_text(notification: Notification, limit: int = 2800) -> str:
    """The alarm window's top log lines (``details["log_lines"]``, ``notify.loglines``)
    as plain text, one per line, or "" when it has none."""
    lines = notification.details.get("log_lines")
    if not isinstance(lines, list) or not lines:
        return ""
    out = []
    for line in lines:
        if isinstance(line, Mapping):
            stamp = time.strftime("%H:%M:%S", time.gmtime(int(line.get("time", 0)) / 1000))
            out.append(f"{stamp} {line.get('group', '')}: {line.get('message', '')}")
    return "\n".join(out)[:limit]


def redact(channel: str, endpoint: str) -> str:
    """The endpoint with its secret parts replaced (URL path, query and user info; keys)
    by a short digest, so that two targets on one host stay apart in listings."""
    if channel in ("email", "email-json"):
        return f"{channel}:{endpoint}"
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:8]
    if "://" in endpoint:
        scheme, _, rest = endpoint.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return f"{channel}:{scheme}://{host}/…#{digest}"
    return f"{channel}:#{digest}"
