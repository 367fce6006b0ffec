"""The notify pillar's parts, assembled once: notification log, channels, pipeline,
topics, escalation, schedules, silences, the alarm-event consumer.

The server (or a test) builds ``NotifyParts`` from the state engine and
``NotifySettings`` (no I/O), awaits ``start()`` (it reads the signing and link keys from
state, making them once: ``keys``; nothing that signs or checks a link works before),
serves the SNS API and the ``/api/v1`` routes over it, and runs ``step`` as a periodic
task (every ``tick_interval`` seconds: queued alarm events, due escalation
steps — their notifications join the outbox in the same transaction — and an outbox
flush beside the ones still running). Tests call ``tick(now)``, the same work awaited
in full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from vigil.notify import channels as channels_
from vigil.notify.alarms import AlarmNotifier, AlarmStateChange
from vigil.notify.channels.email import EmailChannel, SmtpSettings
from vigil.notify.channels.http import new_client, post
from vigil.notify.channels.pagerduty import EVENTS_URL
from vigil.notify.channels.sns_http import SnsHttpChannel
from vigil.notify.escalation import Escalations
from vigil.notify.graph import Draw, Graphs
from vigil.notify.interface import Channel, Notification, Target
from vigil.notify.keys import NotifyKeys
from vigil.notify.loglines import LogLines
from vigil.notify.oncall import Schedules, contact_target
from vigil.notify.pipeline import Notifier, Settings
from vigil.notify.signing import Signer
from vigil.notify.silencestore import SilenceStore
from vigil.notify.topics import Topics
from vigil.state.notifylog import NotificationLog
from vigil.state.topics import TopicStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    public_url: str = "http://127.0.0.1:8080"  # --public-url: base of links in messages
    smtp_url: str | None = None  # --smtp-url smtp[s]://user:pass@host:port
    smtp_from: str = "vigil@localhost"  # --smtp-from
    pagerduty_events_url: str = EVENTS_URL  # --pagerduty-events-url
    slack_api_url: str | None = None  # --slack-api-url (Slack Web API base; reserved)
    pagerduty_webhook_secret: str | None = None  # --pagerduty-webhook-secret (V3 webhooks)
    slack_signing_secret: str | None = None  # --slack-signing-secret (interactive buttons)
    tick_interval: float = 1.0
    pipeline: Settings = field(default_factory=Settings)
    # --public-url was given: receivers' servers (Slack, Teams, PagerDuty) can fetch
    # images from vigil, so notifications carry a signed link to the alarm's graph.
    public_links: bool = False


class NotifyParts:
    def __init__(
        self,
        engine: Engine,
        settings: NotifySettings | None = None,
        clock: Callable[[], float] = time.time,
        extra_channels: Mapping[str, Channel] | None = None,
        node: str | None = None,
        draw: Draw | None = None,
        lines: LogLines | None = None,
    ) -> None:
        self.settings = s = settings or NotifySettings()
        self.clock = clock
        smtp = SmtpSettings.from_url(s.smtp_url, s.smtp_from) if s.smtp_url else None
        chs = channels_.build(
            channels_.ChannelSettings(
                smtp=smtp,
                pagerduty_events_url=s.pagerduty_events_url,
                slack_interactive=bool(s.slack_signing_secret),
            ),
            clock=clock,
        )
        self.engine = engine
        # Empty until start(): the signer, graph links and ack links read them at use.
        self.keys = NotifyKeys()
        self.signer = Signer(self.keys, s.public_url)
        # draw: (tenant, MetricWidget) → PNG from the store; None turns graphs off.
        self.graphs = Graphs(self.keys, s.public_url, s.public_links, draw, clock)
        sns_http = SnsHttpChannel(signer=self.signer)
        email = EmailChannel(smtp, self.signer, self.graphs.for_notification)
        chs.update({kind: email for kind in email.kinds})
        chs.update({kind: sns_http for kind in sns_http.kinds})
        chs.update(extra_channels or {})
        self.channels: dict[str, Channel] = chs
        self.log = NotificationLog(engine, node)
        self.silences = SilenceStore(engine, clock)
        self.notifier = Notifier(
            self.log, chs, silences=self.silences.all, settings=s.pipeline, clock=clock
        )
        self.topics = Topics(TopicStore(engine), self.notifier, s.public_url, clock)
        self.schedules = Schedules(engine, clock)
        self.escalations = Escalations(
            engine,
            self.notifier,
            self._resolve,
            self.keys,
            s.public_url,
            clock,
        )
        # lines: the alarm window's top log lines from the store; None: none.
        self.alarms = AlarmNotifier(self.topics, self.escalations, s.public_url, self.graphs, lines)
        self._flushes: set[asyncio.Task[dict[str, int]]] = set()
        self._max_flushes = 4
        self._flush_wanted = False  # a full claim found more due while at the bound
        self._closing = False
        # Slack's response_url answers (message updates after a button click).
        self._slack_client = new_client(2.5)

    async def start(self) -> None:
        """Read (or make, once) the keys from state; a second call does nothing."""
        await self.keys.load(self.engine)

    @property
    def started(self) -> bool:
        return self.keys.loaded

    async def deliver(self, event: AlarmStateChange) -> None:
        """The alarm-event sink (``AlarmNotifier.deliver``), keys loaded first: the alarms
        pillar starts first and redelivers undelivered events from its start, before this
        pillar's own start (their incidents' ack links and graph links are signed)."""
        await self.start()
        await self.alarms.deliver(event)

    def set_public_url(self, url: str) -> None:
        """The base of links in messages, once the listener's address is known."""
        url = url.rstrip("/")
        self.topics.public_url = url
        self.escalations.public_url = url
        self.alarms.public_url = url
        self.signer.public_url = url
        self.graphs.public_url = url

    def _resolve(self, conn: Connection, tenant: str, ref: str, note: Notification) -> list[Target]:
        """An escalation level's target: a topic ARN, ``oncall:<schedule>``, or
        ``<protocol>:<endpoint>``."""
        if ref.startswith("arn:"):
            return self.topics.targets_in(conn, tenant, ref, note)
        if ref.startswith("oncall:"):
            return self.schedules.targets_in(conn, tenant, ref.removeprefix("oncall:"))
        return [contact_target(ref, "direct")]

    async def step(self, max_flushes: int = 4) -> None:
        """One pass of the server's periodic task: queued alarm events and due escalation
        steps, then an outbox flush started beside those still running (at most
        ``max_flushes``; they claim disjoint rows), so that a receiver that takes its
        whole timeout does not hold back the next pass's notifications or escalations.
        A flush whose claim took a whole batch starts the next one at once (and, past
        ``max_flushes``, as soon as one ends), so a burst drains at the senders' pace,
        not one batch per pass (a 3,000-delivery burst waited ~6 passes, measured)."""
        self._max_flushes = max_flushes
        try:
            await self.alarms.drain()
            await self.escalations.tick()
        finally:
            self._start_flush()

    def _start_flush(self) -> None:
        if self._closing:
            return
        if len(self._flushes) >= self._max_flushes:
            self._flush_wanted = True
            return
        self._flush_wanted = False
        task = asyncio.create_task(self.notifier.flush(more=self._start_flush))
        self._flushes.add(task)
        task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Task[dict[str, int]]) -> None:
        self._flushes.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("notify flush failed", exc_info=task.exception())
        elif self._flush_wanted and not self._closing:
            self._start_flush()

    async def settled(self) -> None:
        """Wait until no flush is running (those started meanwhile included)."""
        while self._flushes:
            await asyncio.gather(*list(self._flushes), return_exceptions=True)

    async def respond_slack(self, response_url: str, message: dict[str, Any]) -> None:
        """Replace a clicked Slack message (its ``response_url``); a failure is logged,
        never raised: the incident is already updated."""
        outcome = await post(self._slack_client, response_url, orjson.dumps(message))
        if not outcome.ok:
            log.warning("Slack response_url update failed: %s", outcome.detail)

    async def close(self) -> None:
        """Cancel the flushes still running (their claims lapse and are retried)."""
        self._closing = True
        for task in self._flushes:
            task.cancel()
        await asyncio.gather(*self._flushes, return_exceptions=True)
        self._flushes.clear()
        await self._slack_client.aclose()

    async def tick(self, now: float | None = None) -> dict[str, int]:
        """One pass: queued alarm events, due escalation steps (into the outbox), then due
        deliveries through the pipeline. Counts by outcome (``steps``: steps run)."""
        await self.alarms.drain()
        steps = await self.escalations.tick(now)
        counts = await self.notifier.flush(now)
        return {**counts, "steps": steps} if steps else counts
