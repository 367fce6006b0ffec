"""The notification log: every delivery (one notification to one target) and its attempts.

It is also the outbox. A delivery is inserted as ``pending`` before anything is sent; its
``key`` (tenant, notification key, target id) is unique, so recording the same intent
twice is a no-op — that is what decides dedup across restarts and nodes. ``claim`` moves
due deliveries to ``sending`` under a lease (one UPDATE … WHERE status = 'pending', so on
PostgreSQL row locks, not luck, decide which node gets a row; SQLite serializes writers);
a lease that runs out (the node died mid-send) makes the row claimable again, so only
unsent deliveries are resent. ``finish`` records the outcome and the attempt.

Statuses: pending → sending → sent | failed | held | grouped, or back to pending with a
later ``due_ms`` (retry backoff, group interval, rate limit). Blocking: call from threads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
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
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from vigil.state.db import METADATA, Migrations
from vigil.state.rows import from_row

STATUSES = ("pending", "sending", "sent", "failed", "held", "grouped")

deliveries = Table(
    "notify_deliveries",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("notification_key", String(256), nullable=False),
    Column("target_id", String(512), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("target_name", String(512), nullable=False),  # redacted: safe to list
    Column("target", Text, nullable=False),  # JSON with the endpoint (secret-bearing)
    Column("group_key", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # the Notification as JSON
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_ms", BigInteger, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Index("ix_notify_deliveries_due", "status", "due_ms"),
    Index("ix_notify_deliveries_group", "tenant", "target_id", "group_key", "created_ms"),
)

attempts = Table(
    "notify_attempts",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, nullable=False, index=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("outcome", String(16), nullable=False),  # ok | retry | fail
    Column("status", Integer, nullable=True),
    Column("detail", Text, nullable=False, default=""),
)


def _create(conn: Connection) -> None:
    deliveries.create(conn, checkfirst=True)
    attempts.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("notify_0001_log", _create)]


@dataclass(frozen=True, slots=True)
class Intent:
    """One delivery to record: a notification (payload) to one target."""

    tenant: str
    notification_key: str
    target_id: str
    channel: str
    target_name: str
    target: dict[str, Any]
    group_key: str
    kind: str
    severity: str
    payload: dict[str, Any]
    due_ms: int

    @property
    def key(self) -> str:
        return f"{self.tenant}\x1f{self.notification_key}\x1f{self.target_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed delivery (see ``NotificationLog.finish``)."""

    delivery_id: int
    status: str
    now_ms: int
    reason: str = ""
    due_ms: int | None = None
    attempt: tuple[str, int | None, str] | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    key: str
    tenant: str
    notification_key: str
    target_id: str
    channel: str
    target_name: str
    target: dict[str, Any]
    group_key: str
    kind: str
    severity: str
    payload: dict[str, Any]
    status: str
    reason: str
    attempts: int
    created_ms: int
    due_ms: int
    updated_ms: int


def _delivery(row: Any) -> Delivery:
    return from_row(Delivery, row, json=("target", "payload"))


def _row(intent: Intent, now_ms: int) -> dict[str, Any]:
    return {
        "key": intent.key,
        "tenant": intent.tenant,
        "notification_key": intent.notification_key,
        "target_id": intent.target_id,
        "channel": intent.channel,
        "target_name": intent.target_name,
        "target": orjson.dumps(intent.target).decode(),
        "group_key": intent.group_key,
        "kind": intent.kind,
        "severity": intent.severity,
        "payload": orjson.dumps(intent.payload).decode(),
        "status": "pending",
        "reason": "",
        "attempts": 0,
        "created_ms": now_ms,
        "due_ms": intent.due_ms,
        "updated_ms": now_ms,
    }


def record_intents(conn: Connection, intents: Sequence[Intent], now_ms: int) -> int:
    """Insert the deliveries not yet recorded (inside the caller's transaction, so an
    escalation step and its deliveries commit together); returns how many were new."""
    if not intents:
        return 0
    keys = [i.key for i in intents]
    known = set(conn.execute(select(deliveries.c.key).where(deliveries.c.key.in_(keys))).scalars())
    fresh = [i for i in intents if i.key not in known]
    if not fresh:
        return 0
    # All at once under a savepoint; if a concurrent node recorded one of the keys
    # meanwhile, one at a time, so that its rows are no-ops instead of failing the
    # caller's transaction.
    try:
        with conn.begin_nested():
            conn.execute(insert(deliveries), [_row(i, now_ms) for i in fresh])
        return len(fresh)
    except IntegrityError:
        pass
    added = 0
    for intent in fresh:
        try:
            with conn.begin_nested():
                conn.execute(insert(deliveries).values(_row(intent, now_ms)))
            added += 1
        except IntegrityError:
            # Only "another node recorded this key" is a no-op; any other refusal (a NOT
            # NULL, a CHECK) would be a page silently never sent: the caller's
            # transaction fails instead.
            exists = select(deliveries.c.id).where(deliveries.c.key == intent.key)
            if conn.execute(exists).first() is None:
                raise
    return added


class NotificationLog:
    def __init__(self, engine: Engine, node: str | None = None) -> None:
        self.engine = engine
        self.node = node or uuid.uuid4().hex[:16]

    def record(self, intents: Sequence[Intent], now_ms: int) -> int:
        with self.engine.begin() as conn:
            return record_intents(conn, intents, now_ms)

    def claim(self, now_ms: int, lease_ms: int, limit: int = 500) -> list[Delivery]:
        """Take up to ``limit`` due deliveries (and those whose sender's lease ran out)."""
        token = f"{self.node}:{uuid.uuid4().hex[:12]}"
        due = or_(
            and_(deliveries.c.status == "pending", deliveries.c.due_ms <= now_ms),
            and_(deliveries.c.status == "sending", deliveries.c.lease_until_ms < now_ms),
        )
        with self.engine.begin() as conn:
            ids = (
                select(deliveries.c.id)
                .where(due)
                .order_by(deliveries.c.due_ms, deliveries.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            # The WHERE is repeated so that a row another node claimed meanwhile is skipped.
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids.scalar_subquery()), due)
                .values(
                    status="sending",
                    lease_owner=token,
                    lease_until_ms=now_ms + lease_ms,
                    updated_ms=now_ms,
                )
            )
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.lease_owner == token, deliveries.c.status == "sending")
                .order_by(deliveries.c.created_ms, deliveries.c.id)
            )
            return [_delivery(row) for row in rows]

    def finish(
        self,
        delivery_id: int,
        status: str,
        now_ms: int,
        reason: str = "",
        due_ms: int | None = None,
        attempt: tuple[str, int | None, str] | None = None,
    ) -> None:
        """Set the outcome (``pending`` with ``due_ms`` reschedules); ``attempt`` =
        (outcome, status code, detail) is appended to the attempts."""
        self.finish_many([Outcome(delivery_id, status, now_ms, reason, due_ms, attempt)])

    def finish_many(self, outcomes: Sequence[Outcome]) -> None:
        """Several outcomes in one transaction (the pipeline's group commit)."""
        for o in outcomes:
            if o.status not in STATUSES:
                raise ValueError(f"unknown delivery status {o.status!r}")
        # One executemany per shape of UPDATE (with or without a new due time, with or
        # without an attempt), not one statement per outcome: a burst's marks were ~0.5 s
        # of SQLAlchemy compiling per 250 rows (bench/notify_fanout.py).
        shapes: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
        for o in outcomes:
            shapes.setdefault((o.due_ms is not None, o.attempt is not None), []).append(
                {
                    "b_id": o.delivery_id,
                    "b_status": o.status,
                    "b_reason": o.reason,
                    "b_now": o.now_ms,
                    "b_due": o.due_ms,
                }
            )
        with self.engine.begin() as conn:
            for (due, tried_), rows in shapes.items():
                values: dict[str, Any] = {
                    "status": bindparam("b_status"),
                    "reason": bindparam("b_reason"),
                    "updated_ms": bindparam("b_now"),
                    "lease_owner": None,
                    "lease_until_ms": None,
                }
                if due:
                    values["due_ms"] = bindparam("b_due")
                if tried_:
                    values["attempts"] = deliveries.c.attempts + 1
                conn.execute(
                    update(deliveries).where(deliveries.c.id == bindparam("b_id")).values(values),
                    rows,
                )
            tried = [o for o in outcomes if o.attempt is not None]
            if tried:
                conn.execute(
                    insert(attempts),
                    [
                        {
                            "delivery_id": o.delivery_id,
                            "at_ms": o.now_ms,
                            "outcome": o.attempt[0],
                            "status": o.attempt[1],
                            "detail": o.attempt[2],
                        }
                        for o in tried
                        if o.attempt is not None
                    ],
                )

    def release(self, tenant: str, reason: str, now_ms: int) -> int:
        """Make the pending deliveries held back for ``reason`` due now (a deleted alarm
        mute rule unmutes at once); how many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.tenant == tenant,
                        deliveries.c.status == "pending",
                        deliveries.c.reason == reason,
                        deliveries.c.due_ms > now_ms,
                    )
                    .values(due_ms=now_ms)
                ).rowcount
            )

    def last_sent_many(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[int, dict[str, Any]]]:
        """``last_sent`` for many (tenant, target id, group) at once."""
        wanted = set(keys)
        out: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}
        if not wanted:
            return out
        groups = sorted({g for _, _, g in wanted})
        with self.engine.connect() as conn:
            for i in range(0, len(groups), 500):
                rows = conn.execute(
                    select(
                        deliveries.c.tenant,
                        deliveries.c.target_id,
                        deliveries.c.group_key,
                        deliveries.c.updated_ms,
                        deliveries.c.payload,
                    )
                    .where(
                        deliveries.c.group_key.in_(groups[i : i + 500]),
                        deliveries.c.status == "sent",
                    )
                    .order_by(deliveries.c.updated_ms, deliveries.c.id)
                )
                for tenant, target_id, group, updated, payload in rows:
                    key = (tenant, target_id, group)
                    if key in wanted:
                        out[key] = (updated, orjson.loads(payload))
        return out

    def last_sent(
        self, tenant: str, target_id: str, group_key: str
    ) -> tuple[int, dict[str, Any]] | None:
        """(updated_ms, payload) of the last delivery sent to this target for this group."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(deliveries.c.updated_ms, deliveries.c.payload)
                .where(
                    deliveries.c.tenant == tenant,
                    deliveries.c.target_id == target_id,
                    deliveries.c.group_key == group_key,
                    deliveries.c.status == "sent",
                )
                .order_by(deliveries.c.updated_ms.desc(), deliveries.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else (row.updated_ms, orjson.loads(row.payload))

    def count_since(
        self,
        tenant: str,
        target_id: str,
        group_key: str,
        since_ms: int,
        reason: str | None = None,
    ) -> int:
        """State changes (trigger and resolve deliveries) recorded for this target and
        group since ``since_ms`` (optionally only those whose reason is ``reason``)."""
        where = [
            deliveries.c.tenant == tenant,
            deliveries.c.target_id == target_id,
            deliveries.c.group_key == group_key,
            deliveries.c.created_ms >= since_ms,
            deliveries.c.kind.in_(["trigger", "resolve"]),
        ]
        if reason is not None:
            where.append(deliveries.c.reason == reason)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(*where)).scalar_one())

    def recent(
        self,
        tenant: str,
        status: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Delivery]:
        where = [deliveries.c.tenant == tenant]
        if status:
            where.append(deliveries.c.status == status)
        if before_id is not None:
            where.append(deliveries.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries).where(*where).order_by(deliveries.c.id.desc()).limit(limit)
            )
            return [_delivery(row) for row in rows]

    def attempts_of(self, delivery_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        ids = list(delivery_ids)
        out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if not ids:
            return out
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attempts).where(attempts.c.delivery_id.in_(ids)).order_by(attempts.c.id)
            )
            for row in rows:
                out[row.delivery_id].append(
                    {
                        "at_ms": row.at_ms,
                        "outcome": row.outcome,
                        "status": row.status,
                        "detail": row.detail,
                    }
                )
        return out


def notified_targets(
    conn: Connection, tenant: str, key_prefix: str, channels: Sequence[str]
) -> list[dict[str, Any]]:
    """The targets (as recorded) of the deliveries whose notification key starts with
    ``key_prefix`` on these channels, once each: who an incident has notified so far."""
    rows = conn.execute(
        select(deliveries.c.target_id, deliveries.c.target)
        .where(
            deliveries.c.tenant == tenant,
            deliveries.c.notification_key.startswith(key_prefix, autoescape=True),
            deliveries.c.channel.in_(list(channels)),
        )
        .order_by(deliveries.c.id)
    )
    seen: dict[str, dict[str, Any]] = {}
    for target_id, target in rows:
        seen.setdefault(target_id, orjson.loads(target))
    return list(seen.values())
