"""The pipeline's stages, each small and with the time passed in (``Context.now``).

A stage takes the deliveries still in flight and returns those that go on; a delivery it
decides (grouped, held, rescheduled, sent, failed) it records through ``Context.finish``
and drops. Alertmanager's notify package is the model: stages composed in one builder
(``pipeline.build``), a per-target fan-out at the end so that one slow or dead receiver
never delays the others.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from vigil.notify.interface import Channel, Notification, SendOutcome, Target
from vigil.notify.mutes import PREFIX as MUTE_PREFIX
from vigil.notify.mutes import reason as mute_reason
from vigil.notify.silences import Silence, silencing
from vigil.state.notifylog import Delivery, NotificationLog, Outcome

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Item:
    delivery: Delivery
    notification: Notification
    target: Target
    note: str = ""  # reason recorded with a successful send (e.g. "flapping-notice")

    @property
    def labels(self) -> dict[str, str]:
        n = self.notification
        return {
            **n.attributes,
            "alarm": n.group,
            "severity": n.severity,
            "kind": n.kind,
            "topic": n.topic_arn,
            "channel": self.target.channel,
            "alarm_name": str(n.details.get("AlarmName", "")),
        }


class Marks:
    """The group commit of outcomes, shared by every flush of one notifier: ``mark``
    returns once the outcome is committed; outcomes that arrive while a commit runs go
    together in the next one. So a send is marked within one commit's time of its end,
    a thousand sends do not cost a thousand transactions, and flushes running side by
    side do not wait on each other's SQLite write lock (four writers took turns through
    SQLite's busy handler, which sleeps; measured by bench/notify_fanout.py)."""

    def __init__(self, log_: NotificationLog) -> None:
        self.log = log_
        self._queued: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def mark(self, outcome: Outcome) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one loop in the server; tests run several in turn
            self._loop, self._queued, self._writer = loop, [], None
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._commit())
        await done

    async def _commit(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await asyncio.to_thread(self.log.finish_many, [o for o, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


@dataclass(slots=True)
class Context:
    """One pass: its time, the log, and where outcomes are committed (``Marks``)."""

    now: float
    log: NotificationLog
    lease: float = math.inf  # seconds the claim holds (``Settings.lease``)
    claimed: float = field(default_factory=time.monotonic)
    marks: Marks | None = None  # shared by the notifier's flushes; None: its own
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.marks is None:
            self.marks = Marks(self.log)

    @property
    def now_ms(self) -> int:
        return int(self.now * 1000)

    async def finish(
        self,
        item: Item,
        status: str,
        reason: str = "",
        due: float | None = None,
        attempt: tuple[str, int | None, str] | None = None,
    ) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        due_ms = None if due is None else math.ceil(due * 1000)
        assert self.marks is not None
        await self.marks.mark(
            Outcome(item.delivery.id, status, self.now_ms, reason, due_ms, attempt)
        )


class Stage(Protocol):
    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]: ...


@dataclass(slots=True)
class Multi:
    """Stages in order; each gets what the previous let through."""

    stages: Sequence[Stage]

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        for stage in self.stages:
            if not items:
                break
            items = await stage(ctx, items)
        return items


@dataclass(slots=True)
class Group:
    """Deliveries of one group to one target claimed together collapse into the newest
    (the group's current state); after a send, the next waits ``interval`` seconds."""

    interval: float = 0.0

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        groups: dict[tuple[str, str, str], list[Item]] = {}
        for item in items:
            d = item.delivery
            groups.setdefault((d.tenant, d.target_id, d.group_key), []).append(item)
        out = []
        for (tenant, target_id, group), members in groups.items():
            members.sort(key=lambda i: (i.delivery.created_ms, i.delivery.id))
            newest = members[-1]
            for older in members[:-1]:
                await ctx.finish(older, "grouped", f"grouped into delivery {newest.delivery.id}")
            if self.interval > 0:
                last = await asyncio.to_thread(ctx.log.last_sent, tenant, target_id, group)
                if last is not None and last[0] / 1000 + self.interval > ctx.now:
                    await ctx.finish(
                        newest, "pending", "group interval", last[0] / 1000 + self.interval
                    )
                    continue
            out.append(newest)
        return out


@dataclass(slots=True)
class Dedup:
    """A notification identical (kind, subject, body, incident) to the last one this
    target got for its group within ``repeat_interval`` seconds is held as a duplicate."""

    repeat_interval: float = 3600.0

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        if self.repeat_interval <= 0:
            return items
        keys = [(i.delivery.tenant, i.delivery.target_id, i.delivery.group_key) for i in items]
        sent = await asyncio.to_thread(ctx.log.last_sent_many, keys)
        out = []
        for item, key in zip(items, keys, strict=True):
            n = item.notification
            last = sent.get(key)
            if last is not None and ctx.now - last[0] / 1000 < self.repeat_interval:
                before = Notification.from_json(last[1])
                same = (before.kind, before.subject, before.message, before.incident_id)
                if same == (n.kind, n.subject, n.message, n.incident_id):
                    await ctx.finish(item, "held", "duplicate of the last notification sent")
                    continue
            out.append(item)
        return out


@dataclass(slots=True)
class Silences:
    """Active silences that match hold the delivery back (recorded with the silence id);
    an active alarm mute rule defers it to the end of the mute (``notify.mutes``).
    The ``alarm_name`` label is the alarm's name (``details["AlarmName"]``).
    """

    source: Callable[[str], list[Silence]]  # tenant → its silences

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        out = []
        by_tenant: dict[str, list[Silence]] = {}
        for item in items:
            tenant = item.delivery.tenant
            if tenant not in by_tenant:
                by_tenant[tenant] = await asyncio.to_thread(self.source, tenant)
            hit = silencing(by_tenant[tenant], item.labels, ctx.now)
            if hit is not None and hit.defers:
                # A mute rule: kept, and tried again when the mute ends (notify.mutes).
                until = hit.until(ctx.now)
                await ctx.finish(
                    item,
                    "pending",
                    mute_reason(hit.id.removeprefix(MUTE_PREFIX)),
                    until if until is not None else ctx.now + 3600,
                )
                continue
            if hit is not None:
                await ctx.finish(item, "held", f"silenced by {hit.id}")
                continue
            out.append(item)
        return out


@dataclass(slots=True)
class Flap:
    """A group whose state changed ``threshold`` times within ``window`` seconds is
    flapping: the first such change goes out once as a FLAPPING notice, the rest are held
    until the changes slow down. Only alarm state changes (trigger/resolve) count."""

    threshold: int = 5
    window: float = 600.0

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        if self.threshold <= 0:
            return items
        out = []
        since = int((ctx.now - self.window) * 1000)
        for item in items:
            d = item.delivery
            if d.kind not in ("trigger", "resolve"):
                out.append(item)
                continue
            changes = await asyncio.to_thread(
                ctx.log.count_since, d.tenant, d.target_id, d.group_key, since
            )
            if changes < self.threshold:
                out.append(item)
                continue
            notices = await asyncio.to_thread(
                ctx.log.count_since, d.tenant, d.target_id, d.group_key, since, "flapping-notice"
            )
            if notices:
                await ctx.finish(item, "held", "flapping")
                continue
            n = item.notification
            item.notification = replace(
                n,
                subject=f"FLAPPING: {n.subject}",
                message=(
                    f"{n.group or n.subject} changed state {changes} times in "
                    f"{self.window / 60:g} minutes; further changes are held until it "
                    f"settles.\n\n{n.message}"
                ),
                structured={},
            )
            item.note = "flapping-notice"
            out.append(item)
        return out


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class RateLimit:
    """A token bucket per receiver (channel and endpoint, which is what the services
    limit: two subscriptions to one Slack webhook share its limit): ``rates`` maps a
    channel kind to (per second, burst); over the limit, the delivery is rescheduled to
    when a token is free."""

    rates: Mapping[str, tuple[float, float]]
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        out = []
        for item in items:
            rate = self.rates.get(item.target.channel)
            if rate is None:
                out.append(item)
                continue
            per_second, burst = rate
            key = f"{item.target.channel}\x1f{item.target.endpoint}"  # memory only
            bucket = self._buckets.setdefault(key, _Bucket(burst, ctx.now))
            bucket.tokens = min(burst, bucket.tokens + (ctx.now - bucket.at) * per_second)
            bucket.at = ctx.now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                out.append(item)
                continue
            wait = (1 - bucket.tokens) / per_second
            await ctx.finish(item, "pending", "rate limited", ctx.now + wait)
        return out


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base: float = 5.0  # seconds before the second attempt; doubles each time
    cap: float = 600.0

    def delay(self, attempt: int, outcome: SendOutcome) -> float:
        backoff = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        if outcome.retry_after is not None:
            return max(backoff, min(self.cap, float(outcome.retry_after)))
        return backoff


@dataclass(slots=True)
class Send:
    """The end of the pipeline: every delivery sent concurrently (a per-receiver
    fan-out), at most ``per_receiver`` at a time to one receiver (channel and host), each
    with its own timeout counted from when it is sent, not while it waits its turn; the
    outcome decides sent, retry later, or failed. A slow receiver holds only its own
    turns."""

    channels: Mapping[str, Channel]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 10.0
    per_receiver: int = 32
    # Shared by the flushes running at once (the server starts one beside those still
    # sending): the bound is per receiver, not per flush, or four flushes would send 128
    # at once to one receiver and wait in the HTTP pool past their timeout (measured).
    _turns: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None  # the turns' (tests run several)

    async def __call__(self, ctx: Context, items: list[Item]) -> list[Item]:
        if self._loop is not asyncio.get_running_loop():
            self._loop, self._turns = asyncio.get_running_loop(), {}
        await asyncio.gather(*(self._one(ctx, item, self._turns) for item in items))
        return []

    async def _one(self, ctx: Context, item: Item, turns: dict[str, asyncio.Semaphore]) -> None:
        channel = self.channels.get(item.target.channel)
        if channel is None:
            await ctx.finish(item, "failed", f"no channel for {item.target.channel!r}")
            return
        receiver = _receiver(item.target)
        turn = turns.setdefault(receiver, asyncio.Semaphore(self.per_receiver))
        async with turn:
            if time.monotonic() + self.timeout > ctx.claimed + ctx.lease:
                # Waited its turn so long that the claim could lapse before the send
                # ends, and another flush or node may claim it meanwhile: give it back
                # unsent rather than risk a second send.
                await ctx.finish(item, "pending", "claim lapsing before its turn", ctx.now)
                return
            outcome = await guarded(channel.send(item.target, item.notification), self.timeout)
        attempt_no = item.delivery.attempts + 1
        if outcome.ok:
            await ctx.finish(
                item, "sent", item.note, attempt=("ok", outcome.status, outcome.detail)
            )
            return
        log.warning(
            "notification %d to %s failed (attempt %d): %s",
            item.delivery.id,
            item.target.name,
            attempt_no,
            outcome.detail,
        )
        if outcome.retryable and attempt_no < self.retry.max_attempts:
            due = ctx.now + self.retry.delay(attempt_no, outcome)
            await ctx.finish(
                item,
                "pending",
                f"retrying: {outcome.detail}",
                due,
                attempt=("retry", outcome.status, outcome.detail),
            )
            return
        why = "gave up after retries" if outcome.retryable else "not retryable"
        await ctx.finish(
            item,
            "failed",
            f"{why}: {outcome.detail}",
            attempt=("fail", outcome.status, outcome.detail),
        )


def _receiver(target: Target) -> str:
    """Who answers a target's sends: the URL's host, else the channel (e.g. PagerDuty)."""
    endpoint = target.endpoint
    if "://" in endpoint:
        return target.channel + ":" + endpoint.split("://", 1)[1].split("/", 1)[0]
    return target.channel


async def guarded(call: Awaitable[SendOutcome], timeout: float) -> SendOutcome:
    """The channel's outcome, a retryable timeout, or a retryable error (never raises)."""
    try:
        return await asyncio.wait_for(call, timeout)
    except TimeoutError:
        return SendOutcome(ok=False, retryable=True, detail=f"timed out after {timeout:g} s")
    except ValueError as exc:
        return SendOutcome(ok=False, retryable=False, detail=f"unusable target: {exc}")
    except Exception as exc:  # a channel bug must not stop the others
        log.exception("channel raised")
        return SendOutcome(ok=False, retryable=True, detail=f"channel error: {type(exc).__name__}")
