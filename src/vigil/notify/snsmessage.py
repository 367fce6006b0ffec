"""SNS's JSON message (what ``http``/``https`` and ``email-json`` subscribers receive). Pure.

Types: ``Notification`` (MessageId, TopicArn, Subject, Message, Timestamp, UnsubscribeURL,
MessageAttributes), ``SubscriptionConfirmation`` and ``UnsubscribeConfirmation``
(MessageId, Token, TopicArn, Message, SubscribeURL, Timestamp). ``string_to_sign`` is the
canonical text SNS signs for each type (the fields in that order, each as
``Name\\nValue\\n``; Subject only when present).
"""

from __future__ import annotations

from typing import Any

from vigil.notify.interface import Notification, Target

_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


def message_type(notification: Notification) -> str:
    return str(notification.details.get("sns_type", "Notification"))


def topic_of(notification: Notification, target: Target) -> str:
    """The topic a delivery came through: the notification's, else the subscription's
    (an escalation step names topics per level: its notification carries none, and an
    SNS subscription ARN is the topic ARN plus ``:<id>``)."""
    if notification.topic_arn:
        return notification.topic_arn
    subscription = target.options.get("subscription_arn") or target.id
    return subscription.rsplit(":", 1)[0] if subscription.startswith("arn:") else ""


def envelope(notification: Notification, target: Target, protocol: str) -> dict[str, Any]:
    """The message as SNS sends it to this subscription (unsigned)."""
    n, d = notification, notification.details
    kind = message_type(n)
    out: dict[str, Any] = {
        "Type": kind,
        "MessageId": d.get("MessageId", n.key),
    }
    if kind == "Notification":
        out["TopicArn"] = topic_of(n, target)
        if n.subject:
            out["Subject"] = n.subject
        out["Message"] = n.body_for(protocol)
        out["Timestamp"] = d.get("Timestamp", "")
        out["UnsubscribeURL"] = target.options.get("unsubscribe_url", "")
        if d.get("MessageAttributes"):
            out["MessageAttributes"] = d["MessageAttributes"]
    else:
        out["Token"] = d.get("Token", "")
        out["TopicArn"] = n.topic_arn
        out["Message"] = n.message
        out["SubscribeURL"] = d.get("SubscribeURL", "")
        out["Timestamp"] = d.get("Timestamp", "")
    return out


def string_to_sign(message: dict[str, Any]) -> str:
    fields = _SIGNED[message["Type"]]
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message)
