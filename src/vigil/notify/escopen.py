"""Opening incidents (Escalations' part): an alarm entering ALARM opens its incident with
the first step already run — the incident's insert, its outbox rows and its two timeline
lines in the caller's one transaction, so a failure leaves neither (the incident's insert
is under a savepoint only so that a unique-key conflict, another node opening it first,
can attach instead) — or attaches to the one already open. One alarm, or a burst of them
in a few statements. Blocking: the public coroutines run their work in worker threads.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from vigil.notify.escpolicy import chain_of
from vigil.notify.esctext import event_row, incident_row, step_text, unique
from vigil.notify.interface import Notification, Target
from vigil.notify.pipeline import TOPIC_MEMO, Notifier
from vigil.state.incidents import (
    Incident,
    add_event,
    incident,
    incident_events,
    incidents,
    new_token,
    policies,
)

Resolver = Callable[[Connection, str, str, Notification], list[Target]]
# (tenant, alarm key, notification, policy name, targets when there is no policy)
OpenRequest = tuple[str, str, Notification, str | None, Sequence[str]]


class IncidentOpening:
    """Escalations' opening half; the class using it provides the engine, the notifier,
    the target resolver, the clock and the steps' notifications."""

    engine: Engine
    notifier: Notifier
    resolve_targets: Resolver

    def _ms(self) -> int:
        raise NotImplementedError

    def _step_notification(
        self, inc: Incident, step: dict[str, Any], index: int, now_ms: int
    ) -> Notification:
        raise NotImplementedError

    def _send_step(
        self, conn: Connection, inc: Incident, step: dict[str, Any], index: int, now_ms: int
    ) -> int:
        raise NotImplementedError

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
                events.append(event_row(current.id, now, "repeat", note.subject))
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
                    conn.execute(insert(incidents), [incident_row(i) for i, _, _ in fresh])
            except IntegrityError:
                return [self._open_in(conn, now, *request) for request in requests]
            batch = []
            for inc, first, name in fresh:
                note = self._step_notification(inc, first, 0, now)
                targets: list[Target] = []
                for ref in first["targets"]:
                    targets += self.resolve_targets(conn, inc.tenant, ref, note)
                targets = unique(targets)
                batch.append((inc.tenant, note, targets))
                events.append(
                    event_row(inc.id, now, "opened", f"policy {name or '(alarm actions)'}")
                )
                events.append(event_row(inc.id, now, "step", step_text(first, len(targets))))
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
                        "detail": step_text(first, count),
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
