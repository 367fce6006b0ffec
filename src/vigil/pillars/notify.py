"""The notify pillar: SNS topics (the AWS API), channels, the notification pipeline,
incidents and escalation, on-call schedules, silences (``vigil.notify``), their
``/api/v1`` routes and one-click links, and the periodic notify pass.

Its parts are made at start (they read the ack-link and signing keys from state); the
routes and the SNS service are filled in then, before the runtime serves them. The
alarms pillar hands its events to ``NotifyPillar.parts.alarms`` (its ``publish`` is the
``AlarmEventSink``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from vigil.api.aws.interface import AwsService
from vigil.api.aws.sns import SnsService
from vigil.api.notify_v1 import NotifyApi
from vigil.notify.channels.email import SmtpSettings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.pillar import Core, Pillar
from vigil.tasks import Task


@dataclass(eq=False)
class NotifyPillar(Pillar):
    parts: NotifyParts | None = None
    _routes: list[BaseRoute] = field(default_factory=list)
    _services: list[AwsService] = field(default_factory=list)


def settings_of(core: Core) -> NotifySettings:
    cfg = core.config
    if cfg.smtp_url:
        SmtpSettings.from_url(cfg.smtp_url, cfg.smtp_from)  # a bad URL fails the start
    return NotifySettings(
        public_url=cfg.public_url or f"http://{cfg.host}:{cfg.port}",
        smtp_url=cfg.smtp_url,
        smtp_from=cfg.smtp_from,
        pagerduty_events_url=cfg.pagerduty_events_url,
        slack_api_url=cfg.slack_api_url,
        pagerduty_webhook_secret=cfg.pagerduty_webhook_secret,
        tick_interval=cfg.notify_interval,
    )


def build(core: Core) -> NotifyPillar:
    cfg = core.config
    routes: list[BaseRoute] = []
    services: list[AwsService] = []
    pillar = NotifyPillar(name="notify", routes=routes, aws_services=services)

    async def start() -> None:
        parts = await asyncio.to_thread(
            NotifyParts, core.state, settings_of(core), lambda: core.clock() / 1e9
        )
        pillar.parts = parts
        routes.extend(NotifyApi(parts).routes())
        services.append(SnsService(parts.topics))

    async def stop() -> None:
        if pillar.parts is not None:
            await pillar.parts.close()

    async def notify_pass() -> None:
        parts = pillar.parts
        assert parts is not None
        if cfg.public_url is None and "http" in core.addresses:
            # Links in messages use the address the main port was bound to (port 0 …).
            parts.set_public_url(f"http://{core.addresses['http']}")
        await parts.pass_once()

    pillar.on_start = [start]
    pillar.on_stop = [stop]
    pillar.tasks = [Task("notify", notify_pass, cfg.notify_interval)]
    return pillar
