"""Topics, subscriptions and publish: SNS's semantics over the notifier.

``Topics`` checks and stores topics and subscriptions (``state.topics``) and turns a
publish into one notification per matching confirmed subscription, recorded in the
outbox before ``publish`` returns. It raises ``TopicError`` with SNS's error code
(NotFound, InvalidParameter, …); the AWS layer answers it in SNS's XML shape.

Protocols: SNS's ``email``, ``email-json``, ``http``, ``https`` (confirmation first: a
message with the token and a SubscribeURL), and vigil's ``slack``, ``pagerduty``,
``webhook``, ``msteams``, ``apprise`` (confirmed at once: whoever subscribes them owns
the endpoint's secret). Blocking state calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection

from vigil.notify import filterpolicy, templates
from vigil.notify.interface import Kind, Notification, Severity, Target
from vigil.notify.pipeline import TOPIC_MEMO, Notifier
from vigil.state.topics import (
    Subscription,
    Topic,
    TopicStore,
    confirmed_subscriptions,
    topic_in,
)

SNS_PROTOCOLS = ("email", "email-json", "http", "https")
VIGIL_PROTOCOLS = ("slack", "pagerduty", "webhook", "msteams", "apprise")
CONFIRM_TTL_MS = 3 * 86_400_000  # SNS: a confirmation token is good for three days
TOPIC_ATTRIBUTES = {
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "SignatureVersion",
    "TracingConfig",
    "KmsMasterKeyId",
}
SUBSCRIPTION_ATTRIBUTES = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    templates.ATTRIBUTE,  # vigil's: a body template (webhook, slack, msteams)
}
CONFIRM_PATH = "/notify/sns/confirm"
UNSUBSCRIBE_PATH = "/notify/sns/unsubscribe"
SECRET_ATTRIBUTE = "vigil:HmacSecret"  # webhook subscriptions: the HMAC key (write-only)
MAX_MESSAGE = 262_144
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_SUBJECT = re.compile(r"^[\x20-\x7e]{1,100}$")


class TopicError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def invalid(what: str, reason: str | None = None) -> TopicError:
    text = f"Invalid parameter: {what}" + (f" Reason: {reason}" if reason else "")
    return TopicError("InvalidParameter", text)


def not_found(what: str) -> TopicError:
    return TopicError("NotFound", f"{what} does not exist", 404)


@dataclass(frozen=True, slots=True)
class Published:
    message_id: str
    deliveries: int


@dataclass(slots=True)
class PublishRequest:
    topic_arn: str
    message: str
    subject: str | None = None
    attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # SNS-typed
    structure: str | None = None  # "json": Message holds one body per protocol
    # vigil: what kind of notification this is (alarms set these; SNS Publish leaves them)
    kind: Kind = "message"
    severity: Severity | None = None
    group: str = ""
    incident_id: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None  # idempotency key (default: the new message id)


class Topics:
    def __init__(
        self,
        store: TopicStore,
        notifier: Notifier,
        public_url: str = "http://127.0.0.1:8080",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- topics ----------------------------------------------------------------------

    async def create_topic(
        self,
        tenant: str,
        arn_prefix: str,
        name: str,
        attributes: dict[str, str],
        tags: dict[str, str],
    ) -> Topic:
        if not _NAME.match(name):
            if name.endswith(".fifo") or attributes.get("FifoTopic", "false") == "true":
                raise invalid("Topic Name", "FIFO topics are not supported by vigil")
            raise invalid(
                "Topic Name",
                "must be 1-256 characters: letters, digits, hyphens and underscores",
            )
        for key in attributes:
            if key not in TOPIC_ATTRIBUTES and key != "FifoTopic":
                raise invalid("AttributeName", f"unknown topic attribute {key}")
        if attributes.get("FifoTopic", "false") != "false":
            raise invalid("Attributes", "FIFO topics are not supported by vigil")
        attributes = {k: v for k, v in attributes.items() if k != "FifoTopic"}
        arn = f"{arn_prefix}:{name}"
        topic, new = await asyncio.to_thread(
            self.store.create_topic, tenant, arn, name, attributes, tags, self._now_ms()
        )
        if not new and attributes and attributes != topic.attributes:
            raise invalid("Attributes", "Topic already exists with different attributes")
        if not new and tags and tags != topic.tags:
            raise invalid("Tags", "Topic already exists with different tags")
        return topic

    async def topic(self, tenant: str, arn: str) -> Topic:
        found = await asyncio.to_thread(self.store.topic, tenant, arn)
        if found is None:
            raise not_found("Topic")
        return found

    async def delete_topic(self, tenant: str, arn: str) -> None:
        # SNS: deleting a topic that does not exist is not an error.
        await asyncio.to_thread(self.store.delete_topic, tenant, arn)

    async def topic_attributes(self, tenant: str, arn: str) -> dict[str, str]:
        topic = await self.topic(tenant, arn)
        counts = await asyncio.to_thread(self.store.subscription_counts, tenant, arn)
        account = arn.split(":")[4]
        policy = {
            "DeliveryPolicy": '{"http":{"defaultHealthyRetryPolicy":{"numRetries":8}}}',
        }
        return {
            "TopicArn": arn,
            "Owner": account,
            "DisplayName": "",
            "SubscriptionsConfirmed": str(counts.get("confirmed", 0)),
            "SubscriptionsPending": str(counts.get("pending", 0)),
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": policy["DeliveryPolicy"],
            **topic.attributes,
        }

    async def set_topic_attribute(self, tenant: str, arn: str, name: str, value: str) -> None:
        topic = await self.topic(tenant, arn)
        if name not in TOPIC_ATTRIBUTES:
            raise invalid("AttributeName", f"unknown or read-only topic attribute {name}")
        if name == "SignatureVersion" and value not in ("1", "2"):
            raise invalid("SignatureVersion", "must be 1 or 2")
        await asyncio.to_thread(
            self.store.update_topic, tenant, arn, {**topic.attributes, name: value}
        )

    async def tag(self, tenant: str, arn: str, tags: dict[str, str]) -> None:
        topic = await self._tag_target(tenant, arn)
        merged = {**topic.tags, **tags}
        if len(merged) > 50:
            raise TopicError("TagLimitExceeded", "Could not complete request: tag quota exceeded")
        await asyncio.to_thread(self.store.update_topic, tenant, arn, None, merged)

    async def untag(self, tenant: str, arn: str, keys: list[str]) -> None:
        topic = await self._tag_target(tenant, arn)
        kept = {k: v for k, v in topic.tags.items() if k not in keys}
        await asyncio.to_thread(self.store.update_topic, tenant, arn, None, kept)

    async def tags(self, tenant: str, arn: str) -> dict[str, str]:
        return (await self._tag_target(tenant, arn)).tags

    async def _tag_target(self, tenant: str, arn: str) -> Topic:
        found = await asyncio.to_thread(self.store.topic, tenant, arn)
        if found is None:
            raise TopicError("ResourceNotFound", "Resource does not exist", 404)
        return found

    # --- subscriptions ---------------------------------------------------------------

    async def subscribe(
        self,
        tenant: str,
        topic_arn: str,
        protocol: str,
        endpoint: str,
        attributes: dict[str, str],
    ) -> Subscription:
        await self.topic(tenant, topic_arn)
        protocol = protocol.lower()
        _check_endpoint(protocol, endpoint)
        for name, value in attributes.items():
            _check_sub_attribute(name, value, attributes, protocol)
        existing = await asyncio.to_thread(
            self.store.find_subscription, tenant, topic_arn, protocol, endpoint
        )
        if existing is not None:
            return existing
        now = self._now_ms()
        confirm = protocol in SNS_PROTOCOLS
        sub = Subscription(
            arn=f"{topic_arn}:{uuid.uuid4()}",
            topic_arn=topic_arn,
            protocol=protocol,
            endpoint=endpoint,
            attributes=attributes,
            status="pending" if confirm else "confirmed",
            token=secrets.token_hex(64) if confirm else None,
            token_expires_ms=now + CONFIRM_TTL_MS if confirm else None,
            created_ms=now,
        )
        await asyncio.to_thread(self.store.add_subscription, tenant, sub)
        if confirm:
            await self._send_control(tenant, sub, "SubscriptionConfirmation")
        return sub

    # SNS's confirm and unsubscribe links work without credentials (the token, the
    # subscription ARN's UUID are the secret): vigil serves them on open paths.
    def subscribe_url(self, tenant: str, sub: Subscription) -> str:
        return (
            f"{self.public_url}{CONFIRM_PATH}?Action=ConfirmSubscription"
            f"&TopicArn={quote(sub.topic_arn, safe='')}&Token={sub.token}"
            f"&tenant={quote(tenant, safe='')}"
        )

    def unsubscribe_url(self, tenant: str, sub_arn: str) -> str:
        return (
            f"{self.public_url}{UNSUBSCRIBE_PATH}?Action=Unsubscribe"
            f"&SubscriptionArn={quote(sub_arn, safe='')}&tenant={quote(tenant, safe='')}"
        )

    async def _send_control(self, tenant: str, sub: Subscription, kind: str) -> None:
        """SubscriptionConfirmation / UnsubscribeConfirmation, through the outbox."""
        message_id = str(uuid.uuid4())
        url = self.subscribe_url(tenant, sub)
        if kind == "SubscriptionConfirmation":
            text = (
                f"You have chosen to subscribe to the topic {sub.topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
            subject = "AWS Notification - Subscription Confirmation"
        else:
            text = (
                f"You have chosen to deactivate subscription {sub.arn}.\n"
                "To cancel this operation and restore the subscription, visit the "
                "SubscribeURL included in this message."
            )
            subject = "AWS Notification - Unsubscribe Confirmation"
        if sub.protocol == "email":
            text = f"{text}\n\nConfirm subscription: {url}\n"
        note = Notification(
            key=f"sns-{kind}/{sub.arn}/{message_id}",
            subject=subject,
            message=text,
            topic_arn=sub.topic_arn,
            details={
                "sns_type": kind,
                "MessageId": message_id,
                "Token": sub.token or "",
                "SubscribeURL": url,
                "Timestamp": _timestamp(self.clock()),
            },
        )
        await self.notifier.publish(
            tenant, note, [_target(sub, self.unsubscribe_url(tenant, sub.arn))]
        )

    async def confirm(self, tenant: str, topic_arn: str, token: str) -> Subscription:
        await self.topic(tenant, topic_arn)
        sub = await asyncio.to_thread(self.store.by_token, tenant, topic_arn, token)
        if sub is None or ((sub.token_expires_ms or 0) < self._now_ms() and not sub.confirmed):
            raise invalid("Token")
        if not sub.confirmed:
            await asyncio.to_thread(self.store.confirm, tenant, sub.arn)
        return sub

    async def subscription(self, tenant: str, arn: str) -> Subscription:
        found = await asyncio.to_thread(self.store.subscription, tenant, arn)
        if found is None:
            raise not_found("Subscription")
        return found

    async def unsubscribe(self, tenant: str, arn: str) -> None:
        sub = await self.subscription(tenant, arn)
        await asyncio.to_thread(self.store.delete_subscription, tenant, arn)
        if sub.confirmed and sub.protocol in ("http", "https"):
            await self._send_control(tenant, sub, "UnsubscribeConfirmation")

    async def subscription_attributes(self, tenant: str, arn: str) -> dict[str, str]:
        sub = await self.subscription(tenant, arn)
        shown = {k: v for k, v in sub.attributes.items() if k != SECRET_ATTRIBUTE}
        out = {
            "SubscriptionArn": sub.arn,
            "TopicArn": sub.topic_arn,
            "Owner": sub.topic_arn.split(":")[4],
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "PendingConfirmation": "false" if sub.confirmed else "true",
            "ConfirmationWasAuthenticated": "false",
            "RawMessageDelivery": "false",
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.topic_arn.split(':')[4]}:root",
            **shown,
        }
        if "FilterPolicy" in shown:
            out.setdefault("FilterPolicyScope", "MessageAttributes")
        return out

    async def set_subscription_attribute(
        self, tenant: str, arn: str, name: str, value: str | None
    ) -> None:
        sub = await self.subscription(tenant, arn)
        attributes = dict(sub.attributes)
        if value is None or value == "":
            if name not in SUBSCRIPTION_ATTRIBUTES:
                raise invalid("AttributeName", f"unknown subscription attribute {name}")
            attributes.pop(name, None)
        else:
            attributes[name] = value
            _check_sub_attribute(name, value, attributes, sub.protocol)
        await asyncio.to_thread(self.store.update_subscription, tenant, arn, attributes)

    async def subscriptions(
        self, tenant: str, topic_arn: str | None, after: str | None, limit: int
    ) -> list[Subscription]:
        if topic_arn is not None:
            await self.topic(tenant, topic_arn)
        return await asyncio.to_thread(self.store.subscriptions, tenant, topic_arn, after, limit)

    # --- publish ---------------------------------------------------------------------

    def targets_in(
        self, conn: Connection, tenant: str, topic_arn: str, notification: Notification
    ) -> list[Target]:
        """The topic's targets for this notification (filter policies applied), read in
        the caller's transaction (escalation steps); none if the topic is gone."""
        # A burst of incidents opened in one transaction reads each topic once
        # (``Escalations`` puts a memo in ``conn.info`` for that transaction only).
        memo = conn.info.get(TOPIC_MEMO)
        cached = memo.get((tenant, topic_arn)) if memo is not None else None
        if cached is None:
            topic = topic_in(conn, tenant, topic_arn)
            subs = confirmed_subscriptions(conn, tenant, topic_arn) if topic is not None else []
            cached = (topic, subs)
            if memo is not None:
                memo[(tenant, topic_arn)] = cached
        topic, subs = cached
        if topic is None:
            return []
        typed = {
            name: {"DataType": a.get("Type", "String"), "StringValue": a.get("Value", "")}
            for name, a in notification.details.get("MessageAttributes", {}).items()
        }
        values = filterpolicy.attribute_values(typed)
        version = topic.attributes.get("SignatureVersion", "1")
        return [
            _target(s, self.unsubscribe_url(tenant, s.arn), version)
            for s in subs
            if _wanted(s, values, notification.body_for(s.protocol))
        ]

    async def topic_tags(self, tenant: str, arns: list[str]) -> dict[str, dict[str, str]]:
        """Tags of the topics that exist among ``arns``."""
        found = await asyncio.gather(
            *(asyncio.to_thread(self.store.topic, tenant, a) for a in arns)
        )
        return {t.arn: t.tags for t in found if t is not None}

    async def publish(self, tenant: str, req: PublishRequest) -> Published:
        topic = await self.topic(tenant, req.topic_arn)
        structured = _check_publish(req)
        message_id = str(uuid.uuid4())
        subs = await asyncio.to_thread(
            self.store.subscriptions, tenant, req.topic_arn, None, 1_000_000, True
        )
        values = filterpolicy.attribute_values(req.attributes)
        version = topic.attributes.get("SignatureVersion", "1")
        targets = [
            _target(s, self.unsubscribe_url(tenant, s.arn), version)
            for s in subs
            if _wanted(s, values, req.message)
        ]
        severity = req.severity or _severity(topic)
        note = Notification(
            key=req.key or f"sns/{message_id}",
            subject=req.subject or "",
            message=structured.get("default", req.message),
            kind=req.kind,
            severity=severity,
            group=req.group,
            topic_arn=req.topic_arn,
            attributes={
                k: str(v.get("StringValue", ""))
                for k, v in req.attributes.items()
                if "StringValue" in v
            },
            incident_id=req.incident_id,
            links=req.links,
            structured=structured,
            details={
                **req.details,
                "sns_type": "Notification",
                "MessageId": message_id,
                "Timestamp": _timestamp(self.clock()),
                "MessageAttributes": {
                    k: {"Type": v.get("DataType", "String"), "Value": v.get("StringValue", "")}
                    for k, v in req.attributes.items()
                    if "StringValue" in v
                },
            },
        )
        count = await self.notifier.publish(tenant, note, targets) if targets else 0
        return Published(message_id, count)


def _timestamp(now: float) -> str:
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _severity(topic: Topic) -> Severity:
    value = topic.tags.get("severity", "info").lower()
    return value if value in ("critical", "warning", "info") else "info"  # type: ignore[return-value]


def _target(sub: Subscription, unsubscribe_url: str = "", signature_version: str = "1") -> Target:
    options = {
        "subscription_arn": sub.arn,
        "topic_arn": sub.topic_arn,
        "raw": sub.attributes.get("RawMessageDelivery", "false").lower(),
        "unsubscribe_url": unsubscribe_url,
        "signature_version": signature_version,
    }
    if SECRET_ATTRIBUTE in sub.attributes:
        options["secret"] = sub.attributes[SECRET_ATTRIBUTE]
    if templates.ATTRIBUTE in sub.attributes:
        options["template"] = sub.attributes[templates.ATTRIBUTE]
    return Target(sub.protocol, sub.endpoint, sub.arn, options)


def _wanted(sub: Subscription, attributes: dict[str, Any], message: str) -> bool:
    text = sub.attributes.get("FilterPolicy")
    if not text:
        return True
    scope = sub.attributes.get("FilterPolicyScope", "MessageAttributes")
    policy = filterpolicy.parse(text, scope)
    if scope == "MessageBody":
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and filterpolicy.matches(policy, body)
    return filterpolicy.matches(policy, attributes)


def _check_endpoint(protocol: str, endpoint: str) -> None:
    if protocol in ("email", "email-json"):
        if not re.match(r"^[^@\s]+@[^@\s]+$", endpoint):
            raise invalid("Email address")
    elif protocol in ("http", "https", "slack", "webhook", "msteams"):
        scheme = "https" if protocol == "https" else "http"
        ok = endpoint.startswith("https://") or (
            scheme == "http" and endpoint.startswith("http://")
        )
        if protocol == "http":
            ok = endpoint.startswith("http://")
        if not ok:
            raise invalid("Endpoint", "Endpoint must match the specified protocol")
    elif protocol == "pagerduty":
        if not re.match(r"^[A-Za-z0-9_-]{8,64}$", endpoint):
            raise invalid("Endpoint", "a PagerDuty Events API v2 routing key")
    elif protocol == "apprise":
        import apprise  # the long-tail channel's own parser decides

        if apprise.Apprise.instantiate(endpoint) is None:
            raise invalid("Endpoint", "not a URL apprise can use")
    else:
        raise invalid("Protocol", f"Amazon SNS protocol {protocol} is not supported by vigil")


def _check_sub_attribute(
    name: str, value: str, attributes: Mapping[str, str], protocol: str
) -> None:
    if name == SECRET_ATTRIBUTE:
        if protocol != "webhook":
            raise invalid("Attributes", f"{SECRET_ATTRIBUTE} applies to webhook subscriptions")
        return
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise invalid("AttributeName", f"unknown subscription attribute {name}")
    if name == templates.ATTRIBUTE:
        try:
            templates.check(value, protocol)
        except templates.BodyTemplateError as exc:
            raise invalid(templates.ATTRIBUTE, str(exc)) from None
    if name == "RawMessageDelivery" and value.lower() not in ("true", "false"):
        raise invalid("RawMessageDelivery", "must be true or false")
    if name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
        raise invalid("FilterPolicyScope", "must be MessageAttributes or MessageBody")
    if name in ("FilterPolicy", "FilterPolicyScope") and attributes.get("FilterPolicy"):
        try:
            filterpolicy.parse(
                attributes["FilterPolicy"],
                attributes.get("FilterPolicyScope", "MessageAttributes"),
            )
        except filterpolicy.FilterPolicyError as exc:
            raise TopicError(
                "InvalidParameter", f"Invalid parameter: FilterPolicy: {exc}"
            ) from None
    if name in ("DeliveryPolicy", "RedrivePolicy"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise invalid(name, "not valid JSON") from None
        if not isinstance(parsed, dict):
            raise invalid(name, "must be a JSON object")


def _check_publish(req: PublishRequest) -> dict[str, str]:
    if len(req.message.encode()) > MAX_MESSAGE:
        raise invalid("Message too long")
    if not req.message:
        raise invalid("Empty message")
    if req.subject is not None and not _SUBJECT.match(req.subject):
        raise invalid("Subject", "must be ASCII text of 1-100 printable characters, no line breaks")
    for name, attr in req.attributes.items():
        problem = _attribute_problem(attr)
        if problem:
            raise invalid(f"MessageAttributes: The message attribute '{name}' {problem}")
    if req.structure is None:
        return {}
    if req.structure != "json":
        raise invalid("MessageStructure", "must be json")
    try:
        bodies = orjson.loads(req.message)
    except orjson.JSONDecodeError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(bodies, dict) or not all(isinstance(v, str) for v in bodies.values()):
        raise invalid("Message Structure - JSON message body failed to parse")
    if "default" not in bodies:
        raise invalid("Message Structure - No default entry in JSON message body")
    return bodies


def _attribute_problem(attr: Mapping[str, Any]) -> str | None:
    kind = str(attr.get("DataType", ""))
    base = "String.Array" if kind.startswith("String.Array") else kind.split(".", 1)[0]
    if base not in ("String", "Number", "Binary", "String.Array"):
        return "has an invalid message attribute type"
    empty = "must contain non-empty message attribute value"
    if base == "Binary":
        return None if "BinaryValue" in attr else empty
    if not attr.get("StringValue"):
        return empty
    if base == "Number":
        try:
            float(str(attr["StringValue"]))
        except ValueError:
            return "with type 'Number' must have a numeric value"
    return None
