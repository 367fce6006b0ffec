"""The long tail through the apprise library: any apprise URL (Telegram, Discord,
Opsgenie, Matrix, ntfy, json://, …) as a target's endpoint.

apprise answers only success or failure, not why, so every failure is treated as
retryable (a page is never dropped on a guess); an URL apprise cannot parse is not. Its
own logging is raised to ERROR while sending because it names the URL it posts to, and
that URL carries the service's token. Blocking: runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

import apprise
from apprise.plugins import N_MGR

from vigil.notify.interface import Notification, SendOutcome, Target

_NOTIFY_TYPE = {
    "trigger": apprise.NotifyType.FAILURE,
    "resolve": apprise.NotifyType.SUCCESS,
    "acknowledge": apprise.NotifyType.WARNING,
    "message": apprise.NotifyType.INFO,
}

logging.getLogger("apprise").setLevel(logging.ERROR)
# apprise posts with requests; urllib3 logs each request's path (the token) at DEBUG.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)


def _load_plugins() -> None:
    """apprise imports its plugins on first use, and one of them imports the deprecated
    ``imghdr`` (a DeprecationWarning on Python 3.11-3.12): load them once, up front."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        N_MGR.load_modules()  # type: ignore[no-untyped-call]


_load_plugins()


class AppriseChannel:
    kinds: tuple[str, ...] = ("apprise",)

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        return await asyncio.to_thread(self._send, target, notification)

    def _send(self, target: Target, notification: Notification) -> SendOutcome:
        client = apprise.Apprise()
        if not client.add(target.endpoint):
            return SendOutcome(ok=False, retryable=False, detail="apprise cannot use this URL")
        body = notification.body_for("apprise")
        links = "\n".join(f"{k}: {v}" for k, v in notification.links.items())
        ok = client.notify(
            body=body + ("\n\n" + links if links else ""),
            title=notification.subject,
            notify_type=_NOTIFY_TYPE.get(notification.kind, apprise.NotifyType.INFO),
        )
        if ok:
            return SendOutcome.sent()
        return SendOutcome(ok=False, retryable=True, detail="apprise reported a failure")
