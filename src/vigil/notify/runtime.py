"""The notify pillar's parts, assembled once: notification log, channels, pipeline,
topics, escalation. The server (or a test) builds ``NotifyParts`` from the state engine
and ``NotifySettings``, serves the SNS API and the ``/api/v1`` routes over it, and runs
``tick(now)`` periodically (every ``tick_interval`` seconds): due escalation steps first
(their notifications join the outbox in the same transaction), then the outbox flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine

from vigil.notify import channels as channels_
from vigil.notify.channels.email import SmtpSettings
from vigil.notify.channels.pagerduty import EVENTS_URL
from vigil.notify.channels.sns_http import SnsHttpChannel
from vigil.notify.interface import Channel
from vigil.notify.pipeline import Notifier, Settings
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
    tick_interval: float = 1.0
    pipeline: Settings = field(default_factory=Settings)


class NotifyParts:
    def __init__(
        self,
        engine: Engine,
        settings: NotifySettings | None = None,
        clock: Callable[[], float] = time.time,
        extra_channels: Mapping[str, Channel] | None = None,
        node: str | None = None,
    ) -> None:
        self.settings = s = settings or NotifySettings()
        self.clock = clock
        smtp = SmtpSettings.from_url(s.smtp_url, s.smtp_from) if s.smtp_url else None
        chs = channels_.build(
            channels_.ChannelSettings(smtp=smtp, pagerduty_events_url=s.pagerduty_events_url),
            clock=clock,
        )
        sns_http = SnsHttpChannel()
        chs.update({kind: sns_http for kind in sns_http.kinds})
        chs.update(extra_channels or {})
        self.channels: dict[str, Channel] = chs
        self.log = NotificationLog(engine, node)
        self.notifier = Notifier(self.log, chs, settings=s.pipeline, clock=clock)
        self.topics = Topics(TopicStore(engine), self.notifier, s.public_url, clock)

    async def tick(self, now: float | None = None) -> dict[str, int]:
        """One pass: due deliveries through the pipeline. Returns counts by outcome."""
        return await self.notifier.flush(now)
