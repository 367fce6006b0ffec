"""The notify pillar: SNS topics and subscriptions (the SNS API), the notification
pipeline and its channels, incidents with escalation and acknowledgement, on-call
schedules and silences (``/api/v1/notify…``, ``/api/v1/incidents…``).

It consumes alarm state changes through ``core.alarm_sinks``, recording each one's
publishes or incident durably before it returns; the ``notify`` task (every
``notify_interval`` seconds) runs due escalation steps and flushes the durable outbox.
Built after the alarms pillar; its sink is registered at build time, before any pillar
starts, so the events the alarms pillar redelivers at start reach it. ``build`` does no
I/O; the signing and link keys are read from state (made once) at start, or by the
first redelivered event if that comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.api.aws.mute_rules import MuteRuleService
from vigil.api.aws.sns import SnsService
from vigil.api.aws.widget_image import WidgetImageService
from vigil.api.notify_v1 import OPEN_PREFIX, NotifyApi
from vigil.notify.channels.email import SmtpSettings
from vigil.notify.loglines import LogLines, catalog_filters
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.pillar import Core, Pillar
from vigil.render.image import drawer
from vigil.state.logs import LogsCatalog
from vigil.tasks import Task


@dataclass(eq=False)
class NotifyPillar(Pillar):
    parts: NotifyParts | None = None


def build(core: Core) -> NotifyPillar:
    cfg = core.config
    if cfg.smtp_url:
        SmtpSettings.from_url(cfg.smtp_url, cfg.smtp_from)  # a bad URL fails the start
    settings = NotifySettings(
        public_url=cfg.public_url or f"http://{cfg.host}:{cfg.port}",
        smtp_url=cfg.smtp_url,
        smtp_from=cfg.smtp_from,
        pagerduty_events_url=cfg.pagerduty_events_url,
        slack_api_url=cfg.slack_api_url,
        pagerduty_webhook_secret=cfg.pagerduty_webhook_secret,
        slack_signing_secret=cfg.slack_signing_secret,
        tick_interval=cfg.notify_interval,
        public_links=cfg.public_url is not None,
    )
    # No I/O here: the signing and link keys are read from state (made once) at start.
    parts = NotifyParts(
        core.state,
        settings,
        clock=lambda: core.clock() / 1e9,
        draw=drawer(
            core.store,
            cfg.metric_retention,
            core.clock,
            cfg.metric_search_limit,
            core.metric_functions,  # the server's metric math: anomaly bands in graphs
        ),
        lines=LogLines(core.store, catalog_filters(LogsCatalog(core.state))),
    )
    # ``deliver`` returns once the event's notifications or incident are in the durable
    # outbox: only then does the alarms pillar mark the event delivered (a crash between
    # the two redelivers it; the outbox key makes the second recording a no-op). It loads
    # the keys first: the alarms pillar redelivers from its start, before this one's.
    core.alarm_sinks.append(parts.deliver)

    async def step() -> None:
        # Links in messages point at the main port as bound, unless --public-url says.
        if cfg.public_url is None and "http" in core.addresses:
            parts.set_public_url(f"http://{core.addresses['http']}")
        await parts.step()

    return NotifyPillar(
        name="notify",
        routes=NotifyApi(parts).routes(),
        aws_services=[
            SnsService(parts.topics),
            MuteRuleService(parts.silences, parts.log, core.state, parts.clock),
            # GetMetricWidgetImage: the renderer that draws notification graphs.
            WidgetImageService(
                core.store,
                cfg.metric_retention,
                core.clock,
                cfg.metric_search_limit,
                core.metric_functions,
            ),
        ],
        open_paths=(OPEN_PREFIX,),
        tasks=[Task("notify", step, cfg.notify_interval)],
        on_start=[parts.start],
        on_stop=[parts.close],
        parts=parts,
    )
