"""The long tail through the apprise library: any apprise URL (Telegram, Discord,
Opsgenie, Matrix, ntfy, json://, …) as a target's endpoint.

apprise answers only success or failure, not why, so every failure is treated as
retryable (a page is never dropped on a guess); an URL apprise cannot parse is not. Its
own logging is raised to ERROR while sending because it names the URL it posts to, and
that URL carries the service's token. Blocking: runs in a worker thread.

apprise is imported, with its plugins, at the first send, not with vigil: it costs ~1 s
of start-up and ~14 MB of memory that a server without an apprise target never needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from types import ModuleType

from vigil.notify.interface import Notification, SendOutcome, Target

# apprise's NotifyType names, by notification kind
_NOTIFY_TYPE = {
    "trigger": "FAILURE",
    "resolve": "SUCCESS",
    "acknowledge": "WARNING",
    "message": "INFO",
}

logging.getLogger("apprise").setLevel(logging.ERROR)
# apprise posts with requests; urllib3 logs each request's path (the token) at DEBUG.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)


@functools.cache
def _apprise() -> ModuleType:
    """apprise with its plugins loaded. apprise imports plugins on first use, and one of
    them imports the deprecated ``imghdr`` (a DeprecationWarning on Python 3.11-3.12):
    load them all at once, warnings silenced. (Two first sends at once may both load
    them; loading is idempotent.)"""
    import apprise
    from apprise.plugins import N_MGR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        N_MGR.load_modules()  # type: ignore[no-untyped-call]
    return apprise


class AppriseChannel:
    kinds: tuple[str, ...] = ("apprise",)

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        return await asyncio.to_thread(self._send, target, notification)

    def _send(self, target: Target, notification: Notification) -> SendOutcome:
        apprise = _apprise()
        client = apprise.Apprise()
        if not client.add(target.endpoint):
            return SendOutcome(ok=False, retryable=False, detail="apprise cannot use this URL")
        body = notification.body_for("apprise")
        links = "\n".join(f"{k}: {v}" for k, v in notification.links.items())
        ok = client.notify(
            body=body + ("\n\n" + links if links else ""),
            title=notification.subject,
            notify_type=getattr(apprise.NotifyType, _NOTIFY_TYPE.get(notification.kind, "INFO")),
        )
        if ok:
            return SendOutcome.sent()
        return SendOutcome(ok=False, retryable=True, detail="apprise reported a failure")
