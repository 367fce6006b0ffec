"""One module per channel, all behind ``vigil.notify.interface.Channel``; ``build`` maps
every target kind to the channel that serves it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vigil.notify.channels.apprise_channel import AppriseChannel
from vigil.notify.channels.email import EmailChannel, SmtpSettings
from vigil.notify.channels.http import Poster, new_client
from vigil.notify.channels.msteams import TeamsChannel
from vigil.notify.channels.pagerduty import EVENTS_URL, PagerDutyChannel
from vigil.notify.channels.slack import SlackChannel
from vigil.notify.channels.webhook import WebhookChannel
from vigil.notify.interface import Channel


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    smtp: SmtpSettings | None = None
    pagerduty_events_url: str = EVENTS_URL
    timeout: float = 10.0
    slack_interactive: bool = False  # a Slack signing secret is set: action buttons


def build(
    settings: ChannelSettings,
    extra: Mapping[str, Channel] | None = None,
    client: Poster | None = None,
    clock: Callable[[], float] | None = None,
) -> dict[str, Channel]:
    def pool() -> Poster:
        # A pool per channel (and receiver host, inside it): the pipeline sends at most 32
        # at once per channel and host, and a pool no busier than that never queues.
        return client or new_client(settings.timeout)

    kw = {"clock": clock} if clock is not None else {}
    channels: list[Channel] = [
        EmailChannel(settings.smtp),
        SlackChannel(pool(), interactive=settings.slack_interactive),
        PagerDutyChannel(settings.pagerduty_events_url, pool(), **kw),
        WebhookChannel(pool(), **kw),
        TeamsChannel(pool()),
        AppriseChannel(),
    ]
    out: dict[str, Channel] = {kind: ch for ch in channels for kind in ch.kinds}
    out.update(extra or {})
    return out
