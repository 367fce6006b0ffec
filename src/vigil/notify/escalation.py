"""Incidents and escalation on durable timers, with acknowledgement.

An alarm entering ALARM opens an incident (one per alarm episode; further triggers attach
to the open one). The incident freezes its chain of steps when it opens — the policy's
levels, each repeated as the level says, each with the delay before the next step — and
runs step 0 at once. Each step records its notifications in the outbox *in the same
transaction* that advances the incident (next step index, next due time, new token), so a
crash leaves either both or neither: a step is never lost nor doubled, and with several
nodes the conditional update (``WHERE token = <the token read>``) under a row lock lets
exactly one node run it. ``tick(now)`` runs the due steps. Acknowledge and resolve change
the token too, so a timer that fires after them finds nothing to do.

Acknowledge and resolve send ``acknowledge``/``resolve`` notifications to the targets
this incident already notified whose channel wants them (PagerDuty, webhooks): PagerDuty
gets trigger, acknowledge and resolve under one dedup_key (the incident id).

Targets of a level: a topic ARN (its confirmed subscriptions, filter policies applied),
``oncall:<schedule>`` (whoever is on call then), or ``<protocol>:<endpoint>`` directly.
Blocking (state): the public methods run their work in worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from vigil.notify.interface import Notification, Target, redact
from vigil.notify.keys import NotifyKeys
from vigil.notify.pipeline import TOPIC_MEMO, Notifier
from vigil.state.incidents import (
    Incident,
    add_event,
    events_of,
    incident,
    incident_events,
    incidents,
    new_token,
    policies,
)
from vigil.state.notifylog import notified_targets

ACK_CHANNELS = ("pagerduty", "webhook")
RESOLVE_CHANNELS = ("pagerduty", "webhook")
MAX_LEVELS = 20
MAX_REPEAT = 10

Resolver = Callable[[Connection, str, str, Notification], list[Target]]
# (tenant, alarm key, notification, policy name, targets when there is no policy)
OpenRequest = tuple[str, str, Notification, str | None, Sequence[str]]


class EscalationError(ValueError):
    """A policy that cannot be used, or an incident that is not there."""


class AlreadyHandled(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"the incident is already {status}")
        self.status = status


def check_levels(levels: Any) -> list[dict[str, Any]]:
    """A policy's levels, checked: ``[{"targets": [...], "delay": s, "repeat": n}]``."""
    if not isinstance(levels, list) or not levels or len(levels) > MAX_LEVELS:
        raise EscalationError(f"levels must be a list of 1-{MAX_LEVELS} levels")
    out = []
    for i, level in enumerate(levels):
        if not isinstance(level, dict):
            raise EscalationError(f"level {i} must be an object")
        targets = level.get("targets")
        if (
            not isinstance(targets, list)
            or not targets
            or not all(isinstance(t, str) and t for t in targets)
        ):
            raise EscalationError(f"level {i}: targets must be a non-empty list of strings")
        delay = level.get("delay", 0)
        repeat = level.get("repeat", 0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise EscalationError(f"level {i}: delay must be seconds >= 0")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
            raise EscalationError(f"level {i}: repeat must be 0-{MAX_REPEAT}")
        out.append({"targets": list(targets), "delay": float(delay), "repeat": repeat})
    return out


def chain_of(levels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Levels flattened into steps: each level once plus its repeats."""
    return [
        {"level": i, "round": r, "targets": level["targets"], "delay": level["delay"]}
        for i, level in enumerate(levels)
        for r in range(1 + level.get("repeat", 0))
    ]


class Escalations:
    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        resolve_targets: Resolver,
        keys: NotifyKeys,
        public_url: str,
        clock: Callable[[], float] = time.time,
        link_ttl: float = 7 * 86400.0,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.resolve_targets = resolve_targets
        self.keys = keys  # the ack-link key: keys.get().ack_links
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.link_ttl = link_ttl

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    # --- policies --------------------------------------------------------------------

    async def put_policy(self, tenant: str, name: str, levels: Any) -> list[dict[str, Any]]:
        checked = check_levels(levels)

        def write() -> None:
            with self.engine.begin() as conn:
                conn.execute(
                    policies.delete().where(policies.c.tenant == tenant, policies.c.name == name)
                )
                conn.execute(
                    insert(policies).values(
                        tenant=tenant,
                        name=name,
                        levels=orjson.dumps(checked).decode(),
                        updated_ms=self._ms(),
                    )
                )

        await asyncio.to_thread(write)
        return checked

    async def policies(self, tenant: str) -> dict[str, list[dict[str, Any]]]:
        def read() -> dict[str, list[dict[str, Any]]]:
            with self.engine.connect() as conn:
                rows = conn.execute(select(policies).where(policies.c.tenant == tenant))
                return {r.name: orjson.loads(r.levels) for r in rows}

        return await asyncio.to_thread(read)

    async def delete_policy(self, tenant: str, name: str) -> bool:
        def delete() -> bool:
            with self.engine.begin() as conn:
                result = conn.execute(
                    policies.delete().where(policies.c.tenant == tenant, policies.c.name == name)
                )
                return bool(result.rowcount)

        return await asyncio.to_thread(delete)

    # --- incidents -------------------------------------------------------------------

    async def open(
        self,
        tenant: str,
        alarm_key: str,
        notification: Notification,
        policy: str | None,
        default_targets: Sequence[str],
    ) -> tuple[Incident, bool]:
        """Open the alarm's incident and run its first step, or attach to the open one."""
        return await asyncio.to_thread(
            self._open, tenant, alarm_key, notification, policy, list(default_targets)
        )

    async def open_many(self, requests: Sequence[OpenRequest]) -> list[tuple[Incident, bool]]:
        """``open`` for several alarms in one transaction (a burst of alarm events)."""
        return await asyncio.to_thread(self._open_many, list(requests))

    def _open(
        self,
        tenant: str,
        alarm_key: str,
        notification: Notification,
        policy: str | None,
        default_targets: list[str],
    ) -> tuple[Incident, bool]:
        return self._open_many([(tenant, alarm_key, notification, policy, default_targets)])[0]

    def _open_many(self, requests: list[OpenRequest]) -> list[tuple[Incident, bool]]:
        now = self._ms()
        with self.engine.begin() as conn:
            conn.info[TOPIC_MEMO] = {}
            try:
                if len(requests) == 1:
                    return [self._open_in(conn, now, *requests[0])]
                return self._open_batch(conn, now, requests)
            finally:
                conn.info.pop(TOPIC_MEMO, None)

    def _open_batch(
        self, conn: Connection, now: int, requests: list[OpenRequest]
    ) -> list[tuple[Incident, bool]]:
        """A burst of alarms in a few statements (bench/notify_fanout.py: 1,000 alarms
        took ~11 statements each one by one): one read of the open incidents, one insert
        of the new ones, one of their deliveries, one of their history lines. If another
        node opened one of them meanwhile (a unique-key conflict), the burst is done one
        by one instead, as a single open is."""
        open_: dict[tuple[str, str], Incident] = {}
        keys: dict[str, list[str]] = {}
        for tenant, alarm_key, *_ in requests:
            keys.setdefault(tenant, []).append(alarm_key)
        for tenant, names in keys.items():
            for at in range(0, len(names), 500):
                rows = conn.execute(
                    select(incidents).where(
                        incidents.c.tenant == tenant, incidents.c.open_key.in_(names[at : at + 500])
                    )
                )
                for row in rows:
                    open_[(tenant, row.open_key)] = incident(row)
        levels_of: dict[tuple[str, str | None], list[dict[str, Any]] | None] = {}
        results: list[tuple[Incident, bool]] = []
        fresh: list[tuple[Incident, dict[str, Any], str]] = []
        events: list[dict[str, Any]] = []
        for tenant, alarm_key, note, policy, defaults in requests:
            current = open_.get((tenant, alarm_key))
            if current is not None:
                events.append(_event(current.id, now, "repeat", note.subject))
                results.append((current, False))
                continue
            if (tenant, policy) not in levels_of:
                levels_of[(tenant, policy)] = self._levels(conn, tenant, policy)
            levels = levels_of[(tenant, policy)]
            name = policy or ""
            if levels is None:
                levels = [{"targets": list(defaults), "delay": 0.0, "repeat": 0}]
                name = ""
            inc = self._new_incident(tenant, alarm_key, note, name, chain_of(levels), now)
            open_[(tenant, alarm_key)] = inc
            fresh.append((inc, inc.chain[0], name))
            results.append((inc, True))
        if fresh:
            try:
                with conn.begin_nested():
                    conn.execute(insert(incidents), [_incident_row(i) for i, _, _ in fresh])
            except IntegrityError:
                return [self._open_in(conn, now, *request) for request in requests]
            batch = []
            for inc, first, name in fresh:
                note = self._step_notification(inc, first, 0, now)
                targets: list[Target] = []
                for ref in first["targets"]:
                    targets += self.resolve_targets(conn, inc.tenant, ref, note)
                targets = _unique(targets)
                batch.append((inc.tenant, note, targets))
                events.append(_event(inc.id, now, "opened", f"policy {name or '(alarm actions)'}"))
                events.append(_event(inc.id, now, "step", _step_text(first, len(targets))))
            self.notifier.record_many(conn, batch)
        if events:
            conn.execute(insert(incident_events), events)
        return results

    def _new_incident(
        self,
        tenant: str,
        alarm_key: str,
        note: Notification,
        policy: str,
        chain: list[dict[str, Any]],
        now: int,
    ) -> Incident:
        first = chain[0]
        return Incident(
            id=uuid.uuid4().hex[:16],
            tenant=tenant,
            alarm_key=alarm_key,
            status="open",
            severity=note.severity,
            title=note.subject,
            policy=policy,
            chain=chain,
            step=1,
            next_due_ms=now + int(first["delay"] * 1000) if len(chain) > 1 else None,
            token=new_token(),
            context=note.to_json(),
            opened_ms=now,
            acknowledged_ms=None,
            acknowledged_by=None,
            resolved_ms=None,
        )

    def _open_in(
        self,
        conn: Connection,
        now: int,
        tenant: str,
        alarm_key: str,
        notification: Notification,
        policy: str | None,
        default_targets: Sequence[str],
    ) -> tuple[Incident, bool]:
        """Open the incident with its first step already run (one insert, its outbox
        rows, its two history lines), or attach to the open one."""
        for _ in range(3):
            current = self._open_incident(conn, tenant, alarm_key)
            if current is not None:
                add_event(conn, current.id, now, "repeat", notification.subject)
                return current, False
            levels = self._levels(conn, tenant, policy)
            if levels is None:
                levels = [{"targets": list(default_targets), "delay": 0.0, "repeat": 0}]
                policy = ""
            chain = chain_of(levels)
            first = chain[0]
            due = now + int(first["delay"] * 1000) if len(chain) > 1 else None
            inc = Incident(
                id=uuid.uuid4().hex[:16],
                tenant=tenant,
                alarm_key=alarm_key,
                status="open",
                severity=notification.severity,
                title=notification.subject,
                policy=policy or "",
                chain=chain,
                step=1,
                next_due_ms=due,
                token=new_token(),
                context=notification.to_json(),
                opened_ms=now,
                acknowledged_ms=None,
                acknowledged_by=None,
                resolved_ms=None,
            )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(incidents).values(
                            id=inc.id,
                            tenant=tenant,
                            alarm_key=alarm_key,
                            open_key=alarm_key,
                            status="open",
                            severity=inc.severity,
                            title=inc.title,
                            policy=inc.policy,
                            chain=orjson.dumps(chain).decode(),
                            step=inc.step,
                            next_due_ms=due,
                            token=inc.token,
                            context=orjson.dumps(inc.context).decode(),
                            opened_ms=now,
                        )
                    )
            except IntegrityError:
                continue  # another node opened it meanwhile: attach to that one
            count = self._send_step(conn, inc, first, 0, now)
            conn.execute(
                insert(incident_events),
                [
                    {
                        "incident_id": inc.id,
                        "at_ms": now,
                        "kind": "opened",
                        "detail": f"policy {policy or '(alarm actions)'}",
                    },
                    {
                        "incident_id": inc.id,
                        "at_ms": now,
                        "kind": "step",
                        "detail": _step_text(first, count),
                    },
                ],
            )
            return inc, True
        raise RuntimeError("could not open or find the incident")

    def _levels(
        self, conn: Connection, tenant: str, name: str | None
    ) -> list[dict[str, Any]] | None:
        if not name:
            return None
        text = conn.execute(
            select(policies.c.levels).where(policies.c.tenant == tenant, policies.c.name == name)
        ).scalar()
        return None if text is None else list(orjson.loads(text))

    @staticmethod
    def _open_incident(conn: Connection, tenant: str, alarm_key: str) -> Incident | None:
        row = conn.execute(
            select(incidents).where(incidents.c.tenant == tenant, incidents.c.open_key == alarm_key)
        ).first()
        return None if row is None else incident(row)

    @staticmethod
    def _get(
        conn: Connection, tenant: str, incident_id: str, lock: bool = False
    ) -> Incident | None:
        query = select(incidents).where(incidents.c.tenant == tenant, incidents.c.id == incident_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return None if row is None else incident(row)

    def _run_step(self, conn: Connection, inc: Incident, now_ms: int) -> bool:
        """Run the incident's next step inside ``conn``'s transaction; False if stale."""
        if inc.status != "open" or inc.step >= len(inc.chain):
            return False
        step = inc.chain[inc.step]
        following = inc.step + 1
        due = now_ms + int(step["delay"] * 1000) if following < len(inc.chain) else None
        moved = conn.execute(
            update(incidents)
            .where(
                incidents.c.id == inc.id,
                incidents.c.token == inc.token,
                incidents.c.status == "open",
            )
            .values(step=following, next_due_ms=due, token=new_token())
        )
        if moved.rowcount != 1:
            return False  # a stale timer: acknowledged, resolved or run by another node
        count = self._send_step(conn, inc, step, inc.step, now_ms)
        add_event(conn, inc.id, now_ms, "step", _step_text(step, count))
        return True

    def _send_step(
        self, conn: Connection, inc: Incident, step: dict[str, Any], index: int, now_ms: int
    ) -> int:
        """Record the step's notifications in the outbox; how many."""
        note = self._step_notification(inc, step, index, now_ms)
        targets: list[Target] = []
        for ref in step["targets"]:
            targets += self.resolve_targets(conn, inc.tenant, ref, note)
        return self.notifier.record(conn, inc.tenant, note, _unique(targets))

    def _step_notification(
        self, inc: Incident, step: dict[str, Any], index: int, now_ms: int
    ) -> Notification:
        base = Notification.from_json(inc.context)
        key = f"esc/{inc.id}/{index}"
        subject = base.subject
        if step["level"] > 0 or step["round"] > 0:
            again = f", repeat {step['round']}" if step["round"] else ""
            subject = f"[escalated: level {step['level'] + 1}{again}] {subject}"[:100]
        return replace(
            base,
            key=key,
            subject=subject,
            kind="trigger",
            group=base.group or inc.alarm_key,
            incident_id=inc.id,
            links={**base.links, "ack": self.ack_link(inc.tenant, inc.id)},
            details={
                **base.details,
                "MessageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inc.tenant}/{key}")),
                "Timestamp": _iso(now_ms),
                "escalation_level": step["level"] + 1,
            },
        )

    async def tick(self, now: float | None = None, limit: int = 100) -> int:
        """Run every step due at ``now``; how many ran."""
        now_ms = int((self.clock() if now is None else now) * 1000)
        return await asyncio.to_thread(self._tick, now_ms, limit)

    def _tick(self, now_ms: int, limit: int) -> int:
        with self.engine.connect() as conn:
            due = conn.execute(
                select(incidents.c.tenant, incidents.c.id)
                .where(incidents.c.status == "open", incidents.c.next_due_ms <= now_ms)
                .order_by(incidents.c.next_due_ms)
                .limit(limit)
            ).all()
        ran = 0
        for tenant, inc_id in due:
            with self.engine.begin() as conn:
                inc = self._get(conn, tenant, inc_id, lock=True)
                if inc is None or inc.next_due_ms is None or inc.next_due_ms > now_ms:
                    continue
                ran += self._run_step(conn, inc, now_ms)
        return ran

    async def acknowledge(self, tenant: str, incident_id: str, by: str) -> Incident:
        return await asyncio.to_thread(
            self._close, tenant, incident_id, "acknowledged", by, ("open",)
        )

    async def resolve(self, tenant: str, incident_id: str, by: str) -> Incident:
        return await asyncio.to_thread(
            self._close, tenant, incident_id, "resolved", by, ("open", "acknowledged")
        )

    async def resolve_alarm(self, tenant: str, alarm_key: str, by: str) -> Incident | None:
        """Resolve the alarm's open (or acknowledged) incident, if it has one."""

        def find() -> str | None:
            with self.engine.connect() as conn:
                inc = self._open_incident(conn, tenant, alarm_key)
                return None if inc is None else inc.id

        inc_id = await asyncio.to_thread(find)
        if inc_id is None:
            return None
        try:
            return await self.resolve(tenant, inc_id, by)
        except AlreadyHandled:
            return None

    def _close(
        self, tenant: str, incident_id: str, status: str, by: str, allowed: tuple[str, ...]
    ) -> Incident:
        now = self._ms()
        with self.engine.begin() as conn:
            inc = self._get(conn, tenant, incident_id, lock=True)
            if inc is None:
                raise EscalationError(f"no incident {incident_id}")
            if inc.status not in allowed:
                raise AlreadyHandled(inc.status)
            values: dict[str, Any] = {"status": status, "next_due_ms": None, "token": new_token()}
            if status == "acknowledged":
                values.update(acknowledged_ms=now, acknowledged_by=by)
            else:
                values.update(resolved_ms=now, open_key=None)
            conn.execute(
                update(incidents)
                .where(incidents.c.id == inc.id, incidents.c.token == inc.token)
                .values(values)
            )
            add_event(conn, inc.id, now, status, f"by {by}")
            kind = "acknowledge" if status == "acknowledged" else "resolve"
            wanted = ACK_CHANNELS if kind == "acknowledge" else RESOLVE_CHANNELS
            base = Notification.from_json(inc.context)
            word = "Acknowledged" if kind == "acknowledge" else "Resolved"
            note = replace(
                base,
                key=f"esc/{inc.id}/{kind}",
                kind=kind,  # type: ignore[arg-type]
                subject=f"{word}: {base.subject}"[:100],
                message=f"{word} by {by}.\n\n{base.message}",
                group=base.group or inc.alarm_key,
                incident_id=inc.id,
                details={
                    **base.details,
                    "MessageId": str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/esc/{inc.id}/{kind}")
                    ),
                    "Timestamp": _iso(now),
                },
            )
            known = notified_targets(conn, tenant, f"esc/{inc.id}/", wanted)
            self.notifier.record(conn, tenant, note, [Target.from_json(t) for t in known])
            closed = self._get(conn, tenant, inc.id)
            assert closed is not None
            return closed

    async def list(self, tenant: str, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            where = [incidents.c.tenant == tenant]
            if status:
                where.append(incidents.c.status == status)
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(incidents)
                    .where(*where)
                    .order_by(incidents.c.opened_ms.desc())
                    .limit(limit)
                )
                return [self.describe(incident(r)) for r in rows]

        return await asyncio.to_thread(read)

    async def get(self, tenant: str, incident_id: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            with self.engine.connect() as conn:
                inc = self._get(conn, tenant, incident_id)
                if inc is None:
                    return None
                return {**self.describe(inc), "history": events_of(conn, inc.id)}

        return await asyncio.to_thread(read)

    async def tenant_of(self, incident_id: str) -> str | None:
        """The tenant of an incident by its id (ids are unique across tenants)."""

        def read() -> str | None:
            with self.engine.connect() as conn:
                found = conn.execute(
                    select(incidents.c.tenant).where(incidents.c.id == incident_id)
                ).scalar()
                return None if found is None else str(found)

        return await asyncio.to_thread(read)

    @staticmethod
    def describe(inc: Incident) -> dict[str, Any]:
        return {
            "id": inc.id,
            "alarm": inc.alarm_key,
            "status": inc.status,
            "severity": inc.severity,
            "title": inc.title,
            "policy": inc.policy,
            "step": inc.step,
            "steps": len(inc.chain),
            "next_step_at": None if inc.next_due_ms is None else inc.next_due_ms / 1000,
            "opened": inc.opened_ms / 1000,
            "acknowledged": None if inc.acknowledged_ms is None else inc.acknowledged_ms / 1000,
            "acknowledged_by": inc.acknowledged_by,
            "resolved": None if inc.resolved_ms is None else inc.resolved_ms / 1000,
        }

    # --- signed one-click links ------------------------------------------------------

    def ack_link(self, tenant: str, incident_id: str) -> str:
        expires = int(self.clock() + self.link_ttl)
        sig = self._sign(tenant, incident_id, expires)
        return (
            f"{self.public_url}/notify/ack/{incident_id}"
            f"?tenant={quote(tenant, safe='')}&expires={expires}&sig={sig}"
        )

    def _sign(self, tenant: str, incident_id: str, expires: int) -> str:
        text = f"ack\n{tenant}\n{incident_id}\n{expires}".encode()
        return hmac.new(self.keys.get().ack_links, text, hashlib.sha256).hexdigest()

    def check_link(self, tenant: str, incident_id: str, expires: str, sig: str) -> str | None:
        """None if the link is genuine and current, else why it is refused."""
        try:
            until = int(expires)
        except ValueError:
            return "malformed link"
        if not hmac.compare_digest(self._sign(tenant, incident_id, until), sig):
            return "invalid signature"
        if until < self.clock():
            return "link expired"
        return None


def _event(incident_id: str, at_ms: int, kind: str, detail: str) -> dict[str, Any]:
    return {"incident_id": incident_id, "at_ms": at_ms, "kind": kind, "detail": detail}


def _incident_row(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.id,
        "tenant": inc.tenant,
        "alarm_key": inc.alarm_key,
        "open_key": inc.alarm_key,
        "status": "open",
        "severity": inc.severity,
        "title": inc.title,
        "policy": inc.policy,
        "chain": orjson.dumps(inc.chain).decode(),
        "step": inc.step,
        "next_due_ms": inc.next_due_ms,
        "token": inc.token,
        "context": orjson.dumps(inc.context).decode(),
        "opened_ms": inc.opened_ms,
    }


def _step_text(step: dict[str, Any], count: int) -> str:
    again = f" (repeat {step['round']})" if step["round"] else ""
    return f"level {step['level'] + 1}{again}: {count} notification(s) to " + ", ".join(
        _shown(ref) for ref in step["targets"]
    )


def _shown(ref: str) -> str:
    """A target reference as incident timelines show it: a URL's path and query (where
    webhook, Slack and PagerDuty secrets live) replaced by a digest (interface.redact)."""
    channel, _, endpoint = ref.partition(":")
    return redact(channel, endpoint) if "://" in endpoint else ref


def _unique(targets: list[Target]) -> list[Target]:
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.id or target.name, target)
    return list(seen.values())


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
