"""The staged pipeline over the durable notification log (SQLite state DB), time passed
in. The channel here is a scripted one (the pipeline's own seam: each real channel's
classification of replies is the conformance test's job, with real receivers)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from vigil.notify.interface import Notification, SendOutcome, Target
from vigil.notify.pipeline import Notifier, Settings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.notify.silences import Silence, SilenceError
from vigil.notify.stages import RetryPolicy
from vigil.state.db import open_state
from vigil.state.notifylog import Intent, NotificationLog

T0 = 1_796_000_000.0


class Scripted:
    """Answers scripted outcomes per endpoint (default: sent); records every send."""

    kinds: tuple[str, ...] = ("webhook", "slack")

    def __init__(self) -> None:
        self.script: dict[str, deque[SendOutcome]] = defaultdict(deque)
        self.sent: list[tuple[str, Notification]] = []
        self.hang: set[str] = set()

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        if target.endpoint in self.hang:
            await asyncio.Event().wait()  # a dead receiver: never answers
        self.sent.append((target.endpoint, notification))
        queue = self.script[target.endpoint]
        return queue.popleft() if queue else SendOutcome.sent(200)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_state(str(tmp_path / "state.db"))


def _notifier(engine: Engine, channel: Scripted, clock: Clock, **settings: object) -> Notifier:
    base = {"flap_threshold": 0, "rates": {}}
    return Notifier(
        NotificationLog(engine),
        {"webhook": channel, "slack": channel},
        settings=Settings(**{**base, **settings}),  # type: ignore[arg-type]
        clock=clock,
    )


def _note(key: str, group: str = "g", kind: str = "trigger", subject: str = "s") -> Notification:
    return Notification(key=key, subject=subject, message=f"m {key}", kind=kind, group=group)  # type: ignore[arg-type]


A = Target("webhook", "http://a.test/hook", "sub-a")
B = Target("webhook", "http://b.test/hook", "sub-b")


def _statuses(n: Notifier) -> dict[int, tuple[str, str]]:
    return {d["id"]: (d["status"], d["reason"]) for d in n.listing("default", None, 100)}


def test_same_key_is_recorded_and_sent_once(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock)
    assert asyncio.run(n.publish("default", _note("k1"), [A, B])) == 2
    assert asyncio.run(n.publish("default", _note("k1"), [A, B])) == 0
    assert asyncio.run(n.flush()) == {"sent": 2}
    assert asyncio.run(n.flush()) == {}
    assert asyncio.run(n.publish("default", _note("k1"), [A])) == 0  # sent: still a no-op
    assert sorted(e for e, _ in ch.sent) == [A.endpoint, B.endpoint]


def test_restart_resends_only_unsent(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, lease=60.0)
    asyncio.run(n.publish("default", _note("k1"), [A]))
    asyncio.run(n.publish("default", _note("k2", group="h"), [A]))
    asyncio.run(n.flush())  # both sent
    asyncio.run(n.publish("default", _note("k3", group="i"), [A]))
    # A node claims k3 and dies before sending (its lease is held, nothing sent).
    crashed = NotificationLog(engine, node="crashed")
    assert len(crashed.claim(int(clock.now * 1000), 60_000)) == 1
    # A new process on the same state: nothing to do until the dead node's lease runs out …
    again = _notifier(engine, ch, clock, lease=60.0)
    assert asyncio.run(again.flush()) == {}
    clock.now += 61
    # … then exactly the unsent delivery goes out, once.
    assert asyncio.run(again.flush()) == {"sent": 1}
    assert [note.key for _, note in ch.sent] == ["k1", "k2", "k3"]


def test_retry_on_retryable_with_backoff_then_gives_up(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, retry=RetryPolicy(max_attempts=3, base=5.0))
    bad = SendOutcome(ok=False, retryable=True, status=503, detail="HTTP 503")
    ch.script[A.endpoint].extend([bad, bad, bad])
    asyncio.run(n.publish("default", _note("k1"), [A]))
    assert asyncio.run(n.flush()) == {"pending": 1}
    clock.now += 4.9
    assert asyncio.run(n.flush()) == {}  # backoff 5 s not over
    clock.now += 0.2
    assert asyncio.run(n.flush()) == {"pending": 1}  # second try; next backoff 10 s
    clock.now += 10.1
    assert asyncio.run(n.flush()) == {"failed": 1}
    [row] = n.listing("default", None, 10)
    assert row["status"] == "failed"
    assert row["reason"].startswith("gave up after retries")
    assert [a["outcome"] for a in row["attempts"]] == ["retry", "retry", "fail"]


def test_retry_after_and_no_retry_on_4xx(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock)
    ch.script[A.endpoint].append(SendOutcome(False, True, 429, "HTTP 429", retry_after=30.0))
    ch.script[B.endpoint].append(SendOutcome(False, False, 404, "HTTP 404"))
    asyncio.run(n.publish("default", _note("k1"), [A, B]))
    assert asyncio.run(n.flush()) == {"pending": 1, "failed": 1}
    clock.now += 29
    assert asyncio.run(n.flush()) == {}
    clock.now += 1.1
    assert asyncio.run(n.flush()) == {"sent": 1}
    assert len([e for e, _ in ch.sent if e == B.endpoint]) == 1  # 404: never retried


def test_group_collapses_to_newest_and_waits_interval(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, group_wait=30.0, group_interval=300.0)
    asyncio.run(n.publish("default", _note("k1", subject="ALARM"), [A]))
    clock.now += 10
    asyncio.run(n.publish("default", _note("k2", subject="OK", kind="resolve"), [A]))
    assert asyncio.run(n.flush()) == {}  # group wait
    clock.now += 30
    assert asyncio.run(n.flush()) == {"grouped": 1, "sent": 1}
    assert [note.subject for _, note in ch.sent] == ["OK"]
    clock.now += 1
    asyncio.run(n.publish("default", _note("k3", subject="ALARM again"), [A]))
    clock.now += 30
    assert asyncio.run(n.flush()) == {"pending": 1}  # group interval: 300 s after the send
    clock.now += 300
    assert asyncio.run(n.flush()) == {"sent": 1}


def test_dedup_holds_identical_repeat(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, repeat_interval=3600.0)
    asyncio.run(n.publish("default", _note("k1"), [A]))
    asyncio.run(n.flush())
    clock.now += 60
    same = Notification(key="k2", subject="s", message="m k1", kind="trigger", group="g")
    asyncio.run(n.publish("default", same, [A]))
    assert asyncio.run(n.flush()) == {"held": 1}
    assert "duplicate" in n.listing("default", "held", 1)[0]["reason"]


def test_silences_hold_and_are_listed(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    silences = [
        Silence("maint", {"alarm": "~db-.*"}, starts=T0, ends=T0 + 3600),
        # every day 02:00-03:00 in Berlin
        Silence(
            "nightly", {"severity": "info"}, cron="0 2 * * *", duration_s=3600, tz="Europe/Berlin"
        ),
    ]
    n = Notifier(
        NotificationLog(engine),
        {"webhook": ch},
        silences=lambda tenant: silences,
        settings=Settings(flap_threshold=0, rates={}),
        clock=clock,
    )
    asyncio.run(n.publish("default", _note("k1", group="db-main"), [A]))
    asyncio.run(n.publish("default", _note("k2", group="web"), [A]))
    assert asyncio.run(n.flush()) == {"held": 1, "sent": 1}
    assert n.listing("default", "held", 5)[0]["reason"] == "silenced by maint"


def test_recurring_window_in_its_time_zone() -> None:
    s = Silence("nightly", {}, cron="0 2 * * *", duration_s=3600, tz="Europe/Berlin")
    # 2026-07-01 00:30 UTC is 02:30 in Berlin (summer time): inside the window
    assert s.active(1_782_865_800.0)
    assert not s.active(1_782_865_800.0 + 3600)  # 03:30 Berlin
    assert s.active(1_782_865_800.0 - 1800)  # 02:00 exactly
    with pytest.raises(SilenceError):
        Silence("bad", {}, cron="not cron", duration_s=60).check()
    with pytest.raises(SilenceError):
        Silence("bad", {}, cron="0 2 * * *", duration_s=60, tz="Mars/Olympus").check()


def test_flapping_sends_one_notice_then_holds(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, flap_threshold=4, flap_window=600.0, repeat_interval=0)
    kinds = ["trigger", "resolve"] * 4
    for i, kind in enumerate(kinds):
        asyncio.run(n.publish("default", _note(f"k{i}", kind=kind, subject=kind), [A]))
        asyncio.run(n.flush())
        clock.now += 30
    subjects = [note.subject for _, note in ch.sent]
    assert subjects == ["trigger", "resolve", "trigger", "FLAPPING: resolve"]
    held = n.listing("default", "held", 10)
    assert [h["reason"] for h in held] == ["flapping"] * 4
    # once it settles (no changes for the window), a change goes out again
    clock.now += 700
    asyncio.run(n.publish("default", _note("k9", kind="trigger", subject="calm"), [A]))
    asyncio.run(n.flush())
    assert ch.sent[-1][1].subject == "calm"


def test_rate_limit_reschedules(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, rates={"slack": (1.0, 2.0)})
    s = Target("slack", "http://hooks.test/x", "sub-s")
    for i in range(3):
        asyncio.run(n.publish("default", _note(f"k{i}", group=f"g{i}"), [s]))
    assert asyncio.run(n.flush()) == {"sent": 2, "pending": 1}
    clock.now += 1.0
    assert asyncio.run(n.flush()) == {"sent": 1}


def test_dead_receiver_does_not_delay_others(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    ch.hang.add(B.endpoint)
    n = _notifier(engine, ch, clock, send_timeout=0.3)
    asyncio.run(n.publish("default", _note("k1"), [A, B]))
    started = time.monotonic()
    counts = asyncio.run(n.flush())
    assert time.monotonic() - started < 2.0
    assert counts == {"sent": 1, "pending": 1}
    [row] = n.listing("default", "pending", 5)
    assert "timed out" in row["reason"]


def test_two_nodes_claim_disjoint(engine: Engine) -> None:
    log1, log2 = NotificationLog(engine, "n1"), NotificationLog(engine, "n2")
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock)
    for i in range(200):
        asyncio.run(n.publish("default", _note(f"k{i}", group=f"g{i}"), [A]))
    got: dict[str, list[int]] = {}

    def claim(log: NotificationLog) -> None:
        ids: list[int] = []
        for _ in range(20):
            ids += [d.id for d in log.claim(int(clock.now * 1000), 60_000, limit=10)]
        got[log.node] = ids

    threads = [threading.Thread(target=claim, args=(lg,)) for lg in (log1, log2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(got["n1"]) & set(got["n2"])
    assert len(got["n1"]) + len(got["n2"]) == 200


class Slow(Scripted):
    """A receiver that takes ``delay`` seconds to answer (real time: the send's own)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        await asyncio.sleep(self.delay)
        return await super().send(target, notification)


def test_a_claim_that_would_lapse_before_its_turn_goes_back_unsent(engine: Engine) -> None:
    # Two at a time to the receiver, 1 s each, a 2.5 s claim and a 2 s send timeout: the
    # first two go out (0.5 s of slack for the stages before Send, on a loaded machine:
    # 0.1 s was too little); the others, after waiting 1 s for their turn, would still be
    # sending when the claim lapses (another flush or node could claim them and send
    # them again), so they go back, unsent and without an attempt.
    ch, clock = Slow(1.0), Clock()
    n = _notifier(engine, ch, clock, lease=2.5, send_timeout=2.0, per_receiver=2)
    for i in range(5):
        asyncio.run(n.publish("default", _note(f"k{i}", group=f"g{i}"), [A]))
    assert asyncio.run(n.flush()) == {"sent": 2, "pending": 3}
    assert len(ch.sent) == 2
    pending = n.listing("default", "pending", 10)
    assert {p["reason"] for p in pending} == {"claim lapsing before its turn"}
    assert all(p["attempts"] == [] for p in pending)
    ch.delay = 0.0
    assert asyncio.run(n.flush()) == {"sent": 3}  # due at once, sent once each
    assert sorted(note.key for _, note in ch.sent) == [f"k{i}" for i in range(5)]


def test_a_full_claim_asks_for_the_next_flush(engine: Engine) -> None:
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, batch=10)
    for i in range(25):
        asyncio.run(n.publish("default", _note(f"k{i}", group=f"g{i}"), [A]))
    asked: list[int] = []

    async def flushes() -> None:
        counts = [await n.flush(more=lambda: asked.append(1)) for _ in range(3)]
        assert counts == [{"sent": 10}, {"sent": 10}, {"sent": 5}]

    asyncio.run(flushes())
    assert asked == [1, 1]  # the third claim was not full: nothing more was due


def test_one_server_pass_drains_a_burst_larger_than_a_batch(engine: Engine) -> None:
    # The server runs NotifyParts.step once a second; a claim that comes back full starts
    # the next flush at once, so 95 deliveries at 10 a batch go out in one pass.
    ch = Scripted()
    parts = NotifyParts(
        engine,
        NotifySettings(pipeline=Settings(batch=10, rates={}, flap_threshold=0)),
        clock=Clock(),
        extra_channels={"webhook": ch},
    )

    async def burst() -> None:
        for i in range(95):
            await parts.notifier.publish("default", _note(f"k{i}", group=f"g{i}"), [A])
        await parts.step(max_flushes=3)
        await parts.settled()
        await parts.close()

    asyncio.run(burst())
    assert len(ch.sent) == 95
    assert len(parts.notifier.listing("default", "sent", 200)) == 95


def test_rate_limit_is_per_receiver_and_pagerduty_has_its_documented_one(engine: Engine) -> None:
    assert Settings().rates["pagerduty"] == (2.0, 120.0)  # 120 events a minute per key
    ch, clock = Scripted(), Clock()
    n = _notifier(engine, ch, clock, rates={"slack": (1.0, 2.0)})
    # Two subscriptions to one Slack webhook: one receiver, one limit between them.
    s1 = Target("slack", "http://hooks.test/x", "sub-1")
    s2 = Target("slack", "http://hooks.test/x", "sub-2")
    for i in range(2):
        asyncio.run(n.publish("default", _note(f"k{i}", group=f"g{i}"), [s1, s2]))
    assert asyncio.run(n.flush()) == {"sent": 2, "pending": 2}


def _intent(key: str, channel: str | None = "webhook") -> Intent:
    return Intent(
        tenant="default",
        notification_key=key,
        target_id="t1",
        channel=channel,  # type: ignore[arg-type]  # None: a row the table refuses
        target_name="t1",
        target={"url": "http://x"},
        group_key="g",
        kind="firing",
        severity="critical",
        payload={},
        due_ms=0,
    )


def test_a_delivery_the_table_refuses_fails_the_transaction_not_the_page(engine: Engine) -> None:
    """A key recorded by another node is a no-op; any other refusal raises (was skipped:
    an incident would have opened with one page fewer and no error)."""
    log = NotificationLog(engine)
    assert log.record([_intent("k1")], 0) == 1
    # the same key again, with a new one: the first is a no-op, the second is recorded
    assert log.record([_intent("k1"), _intent("k2")], 1) == 1
    with pytest.raises(IntegrityError):
        log.record([_intent("k1"), _intent("k3", channel=None)], 2)
    keys = {d.notification_key for d in log.claim(10, 60_000)}
    assert keys == {"k1", "k2"}  # k3 was not recorded, and said so
