"""Microsoft Teams: an Adaptive Card posted to a Teams webhook (Workflows or connector).

The target's endpoint is the webhook URL (a secret). The body is the message envelope
both Teams Workflows webhooks and the older incoming-webhook connectors accept: one
attachment of content type ``application/vnd.microsoft.card.adaptive`` holding an
Adaptive Card 1.4 (title coloured by state, the reason, facts, and ``Action.OpenUrl``
buttons to the alarm and the acknowledge link). Teams answers 200 or 202; 4xx are not
retried; 429 and 5xx are.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.notify import templates
from vigil.notify.channels.http import Poster, new_client, post
from vigil.notify.interface import Notification, SendOutcome, Target, log_lines_text

_COLOUR = {"trigger": "Attention", "resolve": "Good", "acknowledge": "Warning"}


def card(notification: Notification) -> dict[str, Any]:
    n = notification
    facts = [{"title": "Severity", "value": n.severity}, {"title": "Kind", "value": n.kind}]
    if n.incident_id:
        facts.append({"title": "Incident", "value": n.incident_id})
    actions = []
    if "alarm" in n.links:
        actions.append({"type": "Action.OpenUrl", "title": "View alarm", "url": n.links["alarm"]})
    if "ack" in n.links and n.kind == "trigger":
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": n.links["ack"]})
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": n.subject or "vigil",
            "weight": "Bolder",
            "size": "Medium",
            "color": _COLOUR.get(n.kind, "Default"),
            "wrap": True,
        },
        {"type": "TextBlock", "text": n.body_for("msteams"), "wrap": True},
        {"type": "FactSet", "facts": facts},
    ]
    lines = log_lines_text(n)
    if lines:
        body.append({"type": "TextBlock", "text": lines, "fontType": "Monospace", "wrap": True})
    if "graph" in n.links:
        body.append({"type": "Image", "url": n.links["graph"], "altText": "metric graph"})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


class TeamsChannel:
    kinds: tuple[str, ...] = ("msteams",)

    def __init__(self, client: Poster | None = None) -> None:
        self.client = client or new_client()

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        default = orjson.dumps(card(notification))
        content, _, note = templates.body_for(target.options, notification, 0.0, default, "msteams")
        return templates.noted(await post(self.client, target.endpoint, content), note)
