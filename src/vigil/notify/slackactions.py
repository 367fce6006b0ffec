"""Slack interactivity for the Acknowledge and Resolve buttons of vigil's Slack messages.

Slack POSTs each click to the app's Request URL (``/notify/slack/actions``) as
``application/x-www-form-urlencoded`` with one field ``payload`` (JSON, type
``block_actions``), signed: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of
"v0:<X-Slack-Request-Timestamp>:<body>" with the app's signing secret>``. A request whose
timestamp is more than five minutes from vigil's clock is refused (a replay), as Slack's
own guidance says, and so is a bad signature, before the payload is read.

A click acknowledges or resolves the incident named by the button's value, as the API
does (a conditional update on the incident's token: a second click, or a click on an
incident resolved meanwhile, changes nothing), then replaces the message through the
payload's ``response_url`` with its new state ("Acknowledged by …", a Resolve button
while it is only acknowledged). Pure here: verification, parsing and the new message;
``api/notify_v1.py`` serves the route.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from vigil.notify.channels.slack import ACK_ACTION, COLOURS, RESOLVE_ACTION, action_button

__all__ = [
    "ACK_ACTION",
    "RESOLVE_ACTION",
    "Click",
    "SlackRequestError",
    "parse",
    "sign",
    "updated",
    "verify",
]

REPLAY_WINDOW = 300  # seconds


class SlackRequestError(ValueError):
    """Refused: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Click:
    action: str  # ACK_ACTION | RESOLVE_ACTION | another (a link button: nothing to do)
    incident_id: str
    user: str  # who clicked, as Slack names them
    user_id: str
    response_url: str


def sign(secret: str, timestamp: str, body: bytes) -> str:
    text = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float) -> None:
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SlackRequestError(401, "missing or malformed X-Slack-Request-Timestamp") from None
    if abs(now - stamp) > REPLAY_WINDOW:
        raise SlackRequestError(401, "request timestamp outside the 5-minute window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SlackRequestError(401, "invalid X-Slack-Signature")


def parse(body: bytes) -> Click | None:
    """The click of a block_actions payload; None for other payloads."""
    try:
        fields = parse_qs(body.decode(), strict_parsing=True)
        payload = orjson.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, orjson.JSONDecodeError):
        raise SlackRequestError(400, "not a Slack interaction payload") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions") or []
    if not actions or not isinstance(actions[0], dict):
        return None
    user = payload.get("user") or {}
    return Click(
        action=str(actions[0].get("action_id", "")),
        incident_id=str(actions[0].get("value", "")),
        user=str(user.get("username") or user.get("name") or user.get("id") or "someone"),
        user_id=str(user.get("id", "")),
        response_url=str(payload.get("response_url", "")),
    )


def updated(incident: dict[str, Any], note: str) -> dict[str, Any]:
    """The message that replaces the clicked one: the incident's state, who, and what is
    left to do."""
    status = str(incident.get("status"))
    kind = {"acknowledged": "acknowledge", "resolved": "resolve"}.get(status, "trigger")
    title = str(incident.get("title") or "incident")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": note[:2900]}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"*Incident:* {incident.get('id')} · *{status}*"}
            ],
        },
    ]
    if status == "acknowledged":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    action_button("Resolve", RESOLVE_ACTION, str(incident["id"]), "danger")
                ],
            }
        )
    elif status == "open":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    action_button("Acknowledge", ACK_ACTION, str(incident["id"]), "primary"),
                    action_button("Resolve", RESOLVE_ACTION, str(incident["id"]), "danger"),
                ],
            }
        )
    return {
        "replace_original": True,
        "text": f"{status.capitalize()}: {title}"[:150],
        "attachments": [{"color": COLOURS.get(kind, COLOURS["message"]), "blocks": blocks}],
    }
