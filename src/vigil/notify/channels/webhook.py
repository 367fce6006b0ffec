"""Generic webhook: the notification as JSON, optionally signed with HMAC-SHA256.

Body: ``{"version": "1", "key", "kind", "severity", "subject", "message", "group",
"topic_arn", "incident_id", "links", "attributes", "details", "timestamp"}``.
Headers: ``Idempotency-Key`` (the delivery's key: a resend after a crash carries the
same one) and, when the target has a ``secret`` option, ``X-Vigil-Timestamp`` and
``X-Vigil-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` (the timestamp inside the
signed text stops replays). Resolved notifications are sent too (``kind`` says which).
A subscription's ``vigil:BodyTemplate`` (``notify.templates``) replaces the body: JSON
output goes as ``application/json``, anything else as ``text/plain``; signed the same.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson

from vigil.notify import templates
from vigil.notify.channels.http import Poster, new_client, post
from vigil.notify.interface import Notification, SendOutcome, Target


def body(notification: Notification, now: float) -> dict[str, Any]:
    return {"version": "1", **notification.to_json(), "timestamp": now}


def signature(secret: str, timestamp: str, content: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + content, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookChannel:
    kinds: tuple[str, ...] = ("webhook",)

    def __init__(
        self, client: Poster | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client or new_client()
        self.clock = clock

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        now = self.clock()
        content, content_type, note = templates.body_for(
            target.options, notification, now, orjson.dumps(body(notification, now)), "webhook"
        )
        headers = {"idempotency-key": f"{notification.key}/{target.id}"}
        secret = target.options.get("secret")
        if secret:
            stamp = str(int(now))
            headers["x-vigil-timestamp"] = stamp
            headers["x-vigil-signature"] = signature(secret, stamp, content)
        outcome = await post(
            self.client, target.endpoint, content, headers, content_type, secrets=(secret or "",)
        )
        return templates.noted(outcome, note)
