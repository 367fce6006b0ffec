"""Incidents, escalation policies, on-call schedules, silences, and notify's secrets.

An incident is one alarm episode. It keeps a frozen copy of its escalation chain (the
policy as it was when the incident opened: editing the policy later changes new
incidents only), the next step's index and due time, and a token that changes with every
step, acknowledgement and resolution: a timer holding an old token is a no-op. At most
one incident per alarm is open: ``open_key`` is the alarm key while open, NULL after,
under a unique constraint (NULLs are distinct in SQLite and PostgreSQL alike).
Blocking: call from worker threads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from vigil.state.db import METADATA, Migrations
from vigil.state.rows import from_row

policies = Table(
    "notify_policies",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("levels", Text, nullable=False),  # JSON list of levels
    Column("updated_ms", BigInteger, nullable=False),
)

incidents = Table(
    "notify_incidents",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("alarm_key", String(512), nullable=False),
    Column("open_key", String(512), nullable=True),
    Column("status", String(16), nullable=False),  # open | acknowledged | resolved
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("policy", String(256), nullable=False),
    Column("chain", Text, nullable=False),  # JSON: the frozen steps
    Column("step", Integer, nullable=False),  # index of the next step to run
    Column("next_due_ms", BigInteger, nullable=True),
    Column("token", String(64), nullable=False),
    Column("context", Text, nullable=False),  # JSON: the notification the steps send
    Column("opened_ms", BigInteger, nullable=False),
    Column("acknowledged_ms", BigInteger, nullable=True),
    Column("acknowledged_by", String(256), nullable=True),
    Column("resolved_ms", BigInteger, nullable=True),
    UniqueConstraint("tenant", "open_key", name="uq_notify_incidents_open"),
    Index("ix_notify_incidents_due", "status", "next_due_ms"),
)

incident_events = Table(
    "notify_incident_events",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False, index=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # opened | step | repeat | acknowledged | …
    Column("detail", Text, nullable=False),
)

schedules = Table(
    "notify_schedules",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON: time zone, rotations, overrides
    Column("updated_ms", BigInteger, nullable=False),
)

silences = Table(
    "notify_silences",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON: matchers, window, cron, zone, comment
    Column("created_ms", BigInteger, nullable=False),
)

notify_secrets = Table(
    "notify_secrets",
    METADATA,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def _create(conn: Connection) -> None:
    for table in (policies, incidents, incident_events, schedules, silences, notify_secrets):
        table.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("notify_0003_incidents", _create)]


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    tenant: str
    alarm_key: str
    status: str
    severity: str
    title: str
    policy: str
    chain: list[dict[str, Any]]
    step: int
    next_due_ms: int | None
    token: str
    context: dict[str, Any]
    opened_ms: int
    acknowledged_ms: int | None
    acknowledged_by: str | None
    resolved_ms: int | None


def incident(row: Any) -> Incident:
    return from_row(Incident, row, json=("chain", "context"))


def new_token() -> str:
    return secrets.token_hex(16)


def add_event(conn: Connection, incident_id: str, at_ms: int, kind: str, detail: str) -> None:
    conn.execute(
        insert(incident_events).values(
            incident_id=incident_id, at_ms=at_ms, kind=kind, detail=detail
        )
    )


def events_of(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(incident_events)
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.id)
    )
    return [{"at": r.at_ms / 1000, "kind": r.kind, "detail": r.detail} for r in rows]


def secret(engine: Engine, name: str) -> bytes:
    """A server-wide random secret (e.g. the ack-link key), made once, shared by nodes."""
    return bytes.fromhex(stored_text(engine, name, lambda: secrets.token_hex(32)))


def stored_text(engine: Engine, name: str, make: Callable[[], str]) -> str:
    """A server-wide value (e.g. a signing key), made by ``make`` once, shared by nodes."""
    with engine.begin() as conn:
        value = conn.execute(
            select(notify_secrets.c.value).where(notify_secrets.c.name == name)
        ).scalar()
        if value is not None:
            return str(value)
        try:
            with conn.begin_nested():
                conn.execute(insert(notify_secrets).values(name=name, value=make()))
        except IntegrityError:
            pass  # another node made it first
        return str(
            conn.execute(
                select(notify_secrets.c.value).where(notify_secrets.c.name == name)
            ).scalar_one()
        )
