"""Slack incoming webhooks: a Block Kit message with the state's colour.

The target's endpoint is the incoming-webhook URL (its path is the secret). The message:
``text`` (the fallback shown in notifications) plus one attachment coloured by state
(red ALARM/trigger, green OK/resolve, amber acknowledged, grey otherwise) whose blocks
are a header, the reason, the fields (severity, state, incident), the graph image when
there is a public link to it, and buttons: the alarm's link and, with a Slack app's
signing secret configured (``--slack-signing-secret``), Acknowledge and Resolve action
buttons handled by ``/notify/slack/actions`` (``notify.slackactions``); without one, an
Acknowledge link to the signed acknowledge page.
A ``slack`` entry of a MessageStructure=json publish replaces the text. Slack answers
200 ``ok``; 400/403/404/410 (bad payload, revoked or archived) are not retried; 429
(with Retry-After) and 5xx are.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.notify import templates
from vigil.notify.channels.http import Poster, new_client, post
from vigil.notify.interface import Notification, SendOutcome, Target, log_lines_text

COLOURS = {
    "trigger": "#d62728",
    "resolve": "#2ca02c",
    "acknowledge": "#ff9f1a",
    "message": "#7f7f7f",
}


ACK_ACTION = "vigil_ack"
RESOLVE_ACTION = "vigil_resolve"


def message(notification: Notification, interactive: bool = False) -> dict[str, Any]:
    n = notification
    text = n.structured.get("slack") or n.subject or n.message[:150]
    reason = n.body_for("slack") if "slack" in n.structured else n.message
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": (n.subject or "vigil")[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": reason[:2900] or " "}},
    ]
    fields = [f"*Severity:* {n.severity}", f"*Kind:* {n.kind}"]
    if n.incident_id:
        fields.append(f"*Incident:* {n.incident_id}")
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})
    lines = log_lines_text(n)
    if lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Top log lines (UTC)*\n```{lines}```"},
            }
        )
    if "graph" in n.links:
        blocks.append({"type": "image", "image_url": n.links["graph"], "alt_text": "metric graph"})
    buttons = []
    if "alarm" in n.links:
        buttons.append(_button("View alarm", n.links["alarm"], "view"))
    if interactive and n.incident_id and n.kind == "trigger":
        # Interaction payloads come back to /notify/slack/actions, signed by Slack.
        buttons.append(action_button("Acknowledge", ACK_ACTION, n.incident_id, "primary"))
        buttons.append(action_button("Resolve", RESOLVE_ACTION, n.incident_id, "danger"))
    elif "ack" in n.links and n.kind == "trigger":
        buttons.append(_button("Acknowledge", n.links["ack"], "acknowledge", style="primary"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {
        "text": text,
        "attachments": [{"color": COLOURS.get(n.kind, COLOURS["message"]), "blocks": blocks}],
    }


def _button(label: str, url: str, action: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "url": url,
        "action_id": action,
    }
    if style:
        button["style"] = style
    return button


def action_button(label: str, action: str, incident_id: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action,
        "value": incident_id,
        "style": style,
    }


class SlackChannel:
    kinds: tuple[str, ...] = ("slack",)

    def __init__(self, client: Poster | None = None, interactive: bool = False):
        self.client = client or new_client()
        self.interactive = interactive

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        default = orjson.dumps(message(notification, self.interactive))
        content, _, note = templates.body_for(target.options, notification, 0.0, default, "slack")
        return templates.noted(await post(self.client, target.endpoint, content), note)
