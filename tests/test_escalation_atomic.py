"""Opening an incident and recording its first page are one transaction on the embedded
SQLite state: if writing the first deliveries fails (or the process dies before the
commit), no incident stays open without its page, and the alarm's next attempt opens it
and pages exactly once. The failure is injected at the boundary where the escalation
writes its deliveries (``Notifier.record`` / ``record_many``, the outbox write inside the
caller's transaction); everything else is real: SQLite state, the pipeline, the webhook
channel posting to a local HTTP receiver, on the injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.notify_receivers import HttpReceiver
from tests.notify_stack import T0, Clock
from vigil.notify.interface import Notification
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.state.db import open_state
from vigil.state.incidents import incident_events, incidents
from vigil.state.notifylog import deliveries


class Crash(Exception):
    """The process failing between the incident's insert and the commit."""


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def _note(alarm: str) -> Notification:
    return Notification(
        key=f"alarm/{alarm}/1",
        subject=f'ALARM: "{alarm}"',
        message="Threshold crossed",
        kind="trigger",
        severity="critical",
        group=alarm,
    )


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _failing(real: Callable[..., int], when: str) -> Callable[..., int]:
    def record(*args: Any, **kwargs: Any) -> int:
        if when == "after":
            real(*args, **kwargs)  # the outbox rows are written, then the crash
        raise Crash(f"crash {when} writing the first deliveries")

    return record


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("alarms", [1, 3], ids=["open", "open_many"])
def test_no_incident_without_its_first_page(
    tmp_path: Path, http: HttpReceiver, monkeypatch: pytest.MonkeyPatch, when: str, alarms: int
) -> None:
    names = [f"HighLatency-{i}" for i in range(alarms)]
    hook = f"webhook:{http.url}/hook"

    async def scenario() -> None:
        clock = Clock(T0)
        engine = open_state(str(tmp_path / "state.db"))
        parts = NotifyParts(engine, NotifySettings(pipeline=Settings(rates={})), clock=clock)
        await parts.start()
        requests = [("default", name, _note(name), None, [hook]) for name in names]

        async def open_all() -> list[bool]:
            if alarms == 1:
                _, opened = await parts.escalations.open(*requests[0])
                return [opened]
            return [opened for _, opened in await parts.escalations.open_many(requests)]

        try:
            with monkeypatch.context() as patch:
                notifier = parts.notifier
                patch.setattr(notifier, "record", _failing(notifier.record, when))
                patch.setattr(notifier, "record_many", _failing(notifier.record_many, when))
                with pytest.raises(Crash):
                    await open_all()
            # Nothing of the failed open is left: no open incident without its page, no
            # orphan deliveries, no timeline lines.
            assert _count(engine, incidents) == 0
            assert _count(engine, deliveries) == 0
            assert _count(engine, incident_events) == 0
            assert await parts.escalations.list("default", None) == []

            # The alarm's retry opens the incidents and pages exactly once each.
            clock.now += 1
            assert await open_all() == [True] * alarms
            assert (await parts.tick())["sent"] == alarms
            clock.now += 3600
            await parts.tick()
            assert len(await parts.escalations.list("default", "open")) == alarms
            pages = sorted(r.json()["subject"] for r in http.received if r.path == "/hook")
            assert pages == sorted(f'ALARM: "{n}"' for n in names)
            # A further trigger of the same alarms attaches: still one page each.
            assert await open_all() == [False] * alarms
            await parts.tick()
            assert len([r for r in http.received if r.path == "/hook"]) == alarms
        finally:
            await parts.close()
            engine.dispose()

    asyncio.run(scenario())
