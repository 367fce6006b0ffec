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

Opening incidents is escopen.py (``IncidentOpening``, a base of ``Escalations``); the
policies' checks and chains escpolicy.py; incident rows and timeline texts esctext.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Engine, insert, select, update

from vigil.notify.escopen import IncidentOpening, OpenRequest, Resolver
from vigil.notify.escpolicy import (
    MAX_LEVELS,
    MAX_REPEAT,
    EscalationError,
    chain_of,
    check_levels,
)
from vigil.notify.esctext import iso, step_text, unique
from vigil.notify.interface import Notification, Target
from vigil.notify.keys import NotifyKeys
from vigil.notify.pipeline import Notifier
from vigil.state.incidents import (
    Incident,
    add_event,
    events_of,
    incident,
    incidents,
    new_token,
    policies,
)
from vigil.state.notifylog import notified_targets

# The names this module answered before the opening, the policies' checks and the rows
# and texts moved to modules of their own (escopen, escpolicy, esctext).
__all__ = [
    "ACK_CHANNELS",
    "MAX_LEVELS",
    "MAX_REPEAT",
    "RESOLVE_CHANNELS",
    "AlreadyHandled",
    "EscalationError",
    "Escalations",
    "OpenRequest",
    "Resolver",
    "chain_of",
    "check_levels",
]

ACK_CHANNELS = ("pagerduty", "webhook")
RESOLVE_CHANNELS = ("pagerduty", "webhook")


class AlreadyHandled(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"the incident is already {status}")
        self.status = status


class Escalations(IncidentOpening):
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
        add_event(conn, inc.id, now_ms, "step", step_text(step, count))
        return True

    def _send_step(
        self, conn: Connection, inc: Incident, step: dict[str, Any], index: int, now_ms: int
    ) -> int:
        """Record the step's notifications in the outbox; how many."""
        note = self._step_notification(inc, step, index, now_ms)
        targets: list[Target] = []
        for ref in step["targets"]:
            targets += self.resolve_targets(conn, inc.tenant, ref, note)
        return self.notifier.record(conn, inc.tenant, note, unique(targets))

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
                "Timestamp": iso(now_ms),
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
                    "Timestamp": iso(now),
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
