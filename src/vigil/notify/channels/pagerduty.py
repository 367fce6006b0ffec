"""PagerDuty Events API v2: trigger, acknowledge and resolve with one ``dedup_key``.

The target's endpoint is the integration's routing key (a secret); the events URL is
the server's ``--pagerduty-events-url`` (PagerDuty's own by default). The dedup_key is
the incident id when there is one (so trigger, acknowledge and resolve of one alarm
episode land on one PagerDuty incident), else the group, else the notification key —
stable across resends, so a resend after a crash is deduplicated by PagerDuty itself.
A trigger carries the alarm's graph in ``images`` when its signed link is HTTPS (PagerDuty
shows HTTPS images only; the link exists when ``--public-url`` is set).
PagerDuty answers 202 when it accepted the event, 400 for an invalid one (not retried),
429 when throttled and 5xx when it failed (both retried).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import orjson

from vigil.notify.channels.http import Poster, new_client, post
from vigil.notify.interface import Notification, SendOutcome, Target

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_ACTIONS = {"trigger": "trigger", "acknowledge": "acknowledge", "resolve": "resolve"}
# PagerDuty's severities are critical, error, warning, info.
_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(notification: Notification) -> str:
    return notification.incident_id or notification.group or notification.key


def event(routing_key: str, notification: Notification, now: float) -> dict[str, Any]:
    action = _ACTIONS.get(notification.kind, "trigger")
    out: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(notification)[:255],
    }
    if action != "trigger":
        return out
    out["payload"] = {
        "summary": notification.subject[:1024] or notification.message[:1024],
        "source": "vigil",
        "severity": _SEVERITY.get(notification.severity, "info"),
        "timestamp": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
        "component": notification.group or None,
        "custom_details": {
            "message": notification.body_for("pagerduty"),
            **{k: v for k, v in notification.details.items() if k != "graph"},
        },
    }
    out["client"] = "vigil"
    graph = notification.links.get("graph", "")
    if graph.startswith("https://"):
        # PagerDuty shows images served over HTTPS only.
        out["images"] = [{"src": graph, "href": graph, "alt": "metric graph"}]
    links = [{"href": url, "text": name} for name, url in notification.links.items()]
    if links:
        out["links"] = links
        if "alarm" in notification.links:
            out["client_url"] = notification.links["alarm"]
    return out


class PagerDutyChannel:
    kinds: tuple[str, ...] = ("pagerduty",)

    def __init__(
        self,
        events_url: str = EVENTS_URL,
        client: Poster | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events_url = events_url
        self.client = client or new_client()
        self.clock = clock

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        content = orjson.dumps(event(target.endpoint, notification, self.clock()))
        return await post(self.client, self.events_url, content, secrets=(target.endpoint,))
