"""The notifier: records intents (the outbox) and runs the staged pipeline over due ones.

``build`` assembles the stages in their one order — group → dedup → silence → flap →
rate limit → send (→ retry → record) — from ``Settings``; routing (which targets a topic
has) happens before, in ``publish``'s caller (the topic registry or the escalation
engine), so that the targets are part of the durable intent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from vigil.notify.interface import Channel, Notification, Target
from vigil.notify.silences import Silence
from vigil.notify.stages import (
    Context,
    Dedup,
    Flap,
    Group,
    Item,
    Marks,
    Multi,
    RateLimit,
    RetryPolicy,
    Send,
    Silences,
    Stage,
)
from vigil.state.notifylog import Delivery, Intent, NotificationLog, record_intents

log = logging.getLogger(__name__)

# ``Connection.info`` key of a transaction-scoped memo of topics and their subscriptions,
# set by ``Escalations`` around a burst of incidents and read by ``Topics.targets_in``.
TOPIC_MEMO = "vigil.notify.topic-memo"


@dataclass(frozen=True, slots=True)
class Settings:
    group_wait: float = 0.0  # seconds a new notification waits for others of its group
    group_interval: float = 0.0  # seconds between two sends of one group to one target
    repeat_interval: float = 3600.0  # an identical notification is not resent within this
    flap_threshold: int = 5  # state changes …
    flap_window: float = 600.0  # … within this many seconds = flapping (0 threshold: off)
    # Per receiver (channel and endpoint: a webhook URL, a routing key): Slack posts 1
    # message a second per webhook with short bursts (api.slack.com/docs/rate-limits);
    # PagerDuty's Events API takes 120 events a minute per integration key (PagerDuty's
    # support, community.pagerduty.com), answering 429 past it. A delivery over the
    # limit waits for its token (rescheduled, no attempt spent) instead of burning its
    # retries on 429s.
    rates: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "slack": (1.0, 5.0),
            "msteams": (1.0, 5.0),
            "pagerduty": (2.0, 120.0),
        }
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    send_timeout: float = 10.0
    per_receiver: int = 32  # sends at once to one receiver (channel and host)
    lease: float = 120.0  # a claimed delivery is another node's again after this
    batch: int = 500


def build(
    settings: Settings,
    channels: Mapping[str, Channel],
    silences: Callable[[str], list[Silence]],
) -> Stage:
    return Multi(
        [
            Group(settings.group_interval),
            Dedup(settings.repeat_interval),
            Silences(silences),
            Flap(settings.flap_threshold, settings.flap_window),
            RateLimit(settings.rates),
            Send(channels, settings.retry, settings.send_timeout, settings.per_receiver),
        ]
    )


def intents_for(
    tenant: str, notification: Notification, targets: Sequence[Target], now: float, wait: float
) -> list[Intent]:
    payload = notification.to_json()
    return [
        Intent(
            tenant=tenant,
            notification_key=notification.key,
            target_id=target.id or target.name,
            channel=target.channel,
            target_name=target.name,
            target=target.to_json(),
            group_key=notification.group or notification.key,
            kind=notification.kind,
            severity=notification.severity,
            payload=payload,
            due_ms=int((now + wait) * 1000),
        )
        for target in targets
    ]


class Notifier:
    def __init__(
        self,
        log_: NotificationLog,
        channels: Mapping[str, Channel],
        silences: Callable[[str], list[Silence]] = lambda tenant: [],
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log_
        self.settings = settings or Settings()
        self.clock = clock
        self.channels = channels
        self.pipeline = build(self.settings, channels, silences)
        self.marks = Marks(log_)

    def record(
        self, conn: Connection, tenant: str, notification: Notification, targets: Sequence[Target]
    ) -> int:
        """Record the intents inside the caller's transaction (blocking)."""
        now = self.clock()
        intents = intents_for(tenant, notification, targets, now, self.settings.group_wait)
        return record_intents(conn, intents, int(now * 1000))

    def record_many(
        self, conn: Connection, batch: Sequence[tuple[str, Notification, Sequence[Target]]]
    ) -> int:
        """Several notifications' intents in one insert, in the caller's transaction."""
        now = self.clock()
        intents = [
            i
            for tenant, note, targets in batch
            for i in intents_for(tenant, note, targets, now, self.settings.group_wait)
        ]
        return record_intents(conn, intents, int(now * 1000))

    async def publish(
        self, tenant: str, notification: Notification, targets: Sequence[Target]
    ) -> int:
        """Record one delivery per target (durably, before any send); how many were new."""
        now = self.clock()
        intents = intents_for(tenant, notification, targets, now, self.settings.group_wait)
        return await asyncio.to_thread(self.log.record, intents, int(now * 1000))

    async def flush(
        self, now: float | None = None, more: Callable[[], None] | None = None
    ) -> dict[str, int]:
        """Claim the due deliveries and run them through the stages; counts by outcome.
        ``more`` is called when the claim took a whole batch (more are probably due), so
        that the caller can start the next flush now rather than at its next tick."""
        now = self.clock() if now is None else now
        claimed = await asyncio.to_thread(
            self.log.claim, int(now * 1000), int(self.settings.lease * 1000), self.settings.batch
        )
        if more is not None and len(claimed) >= self.settings.batch:
            more()
        ctx = Context(now, self.log, self.settings.lease, marks=self.marks)
        items = [_item(d) for d in claimed]
        await self.pipeline(ctx, items)
        return ctx.counts

    def listing(self, tenant: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        """What was sent, held or failed, to whom and why (no endpoints: names only)."""
        rows = self.log.recent(tenant, status, limit)
        tries = self.log.attempts_of(d.id for d in rows)
        return [
            {
                "id": d.id,
                "notification": d.notification_key,
                "target": d.target_name,
                "channel": d.channel,
                "group": d.group_key,
                "kind": d.kind,
                "severity": d.severity,
                "subject": d.payload.get("subject", ""),
                "status": d.status,
                "reason": d.reason,
                "attempts": tries.get(d.id, []),
                "created": d.created_ms / 1000,
                "updated": d.updated_ms / 1000,
            }
            for d in rows
        ]


def _item(delivery: Delivery) -> Item:
    target = Target.from_json(delivery.target)
    return Item(delivery, Notification.from_json(delivery.payload), target)
