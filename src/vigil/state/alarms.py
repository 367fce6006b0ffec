"""Alarms, their states and history, and anomaly detectors in the state database.

* ``alarms``: one row per (tenant, name): the kind, the definition as the normalized
  boto3-shaped JSON the API accepted, and the state (value, reason, reason data, times,
  composite suppression) — written on definition changes and on transitions only.
* ``alarm_history``: StateUpdate / ConfigurationUpdate / Action items, kept 14 days
  (``prune``); an Action item is also the durable record of an ``AlarmEvent`` for the
  notification pillar: ``delivered`` turns true once the event sink took it.
* ``anomaly_detectors``: one row per detector (tenant + id), definition as JSON.

Blocking (SQLAlchemy): call from worker threads. Each method is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
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
    delete,
    or_,
    select,
    update,
)

from vigil.state.db import METADATA, Migrations

HISTORY_DAYS = 14

alarms = Table(
    "alarms",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),  # MetricAlarm | CompositeAlarm
    Column("spec", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("reason_data", Text, nullable=True),
    Column("state_updated_ms", BigInteger, nullable=False),
    Column("state_transitioned_ms", BigInteger, nullable=False),
    Column("extra", Text, nullable=False, default="{}"),  # suppression timers
)

alarm_history = Table(
    "alarm_history",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("item_type", String(24), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("delivered", Boolean, nullable=False, default=True),
    Index("alarm_history_by_time", "tenant", "timestamp_ms"),
)

anomaly_detectors = Table(
    "anomaly_detectors",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)


def _create(conn: Connection) -> None:
    for table in (alarms, alarm_history, anomaly_detectors):
        table.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("alarms_0001_tables", _create)]


@dataclass(slots=True)
class StoredAlarm:
    tenant: str
    name: str
    kind: str
    spec: dict[str, Any]
    updated_ms: int
    state: str
    reason: str
    reason_data: str | None
    state_updated_ms: int
    state_transitioned_ms: int
    extra: dict[str, Any]


@dataclass(slots=True)
class HistoryItem:
    tenant: str
    name: str
    kind: str
    timestamp_ms: int
    item_type: str  # StateUpdate | ConfigurationUpdate | Action
    summary: str
    data: dict[str, Any]
    delivered: bool = True
    id: int | None = None


class AlarmStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- alarms ---------------------------------------------------------------------

    def load(self) -> list[StoredAlarm]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(alarms)).mappings().all()
        return [
            StoredAlarm(
                r["tenant"],
                r["name"],
                r["kind"],
                orjson.loads(r["spec"]),
                r["updated_ms"],
                r["state"],
                r["reason"],
                r["reason_data"],
                r["state_updated_ms"],
                r["state_transitioned_ms"],
                orjson.loads(r["extra"] or "{}"),
            )
            for r in rows
        ]

    def put(self, alarm: StoredAlarm, history: Sequence[HistoryItem]) -> None:
        """Create or replace a definition (the state columns as given)."""
        row = _row(alarm)
        with self._engine.begin() as conn:
            done = conn.execute(
                update(alarms)
                .where(alarms.c.tenant == alarm.tenant, alarms.c.name == alarm.name)
                .values(**row)
            )
            if not done.rowcount:
                conn.execute(alarms.insert().values(**row))
            _insert_history(conn, history)

    def put_many(self, new: Sequence[StoredAlarm]) -> None:
        """Insert alarms that do not exist yet, in one transaction."""
        if new:
            with self._engine.begin() as conn:
                conn.execute(alarms.insert(), [_row(a) for a in new])

    def delete(self, tenant: str, names: Iterable[str]) -> None:
        names = list(names)
        with self._engine.begin() as conn:
            conn.execute(delete(alarms).where(alarms.c.tenant == tenant, alarms.c.name.in_(names)))

    def save_states(self, changed: Sequence[StoredAlarm], history: Sequence[HistoryItem]) -> None:
        """Transitions of one evaluation round, in one transaction."""
        if not changed and not history:
            return
        with self._engine.begin() as conn:
            if changed:
                # one executemany: a first round over many alarms changes every one
                statement = (
                    update(alarms)
                    .where(alarms.c.tenant == bindparam("k_tenant"))
                    .where(alarms.c.name == bindparam("k_name"))
                    .values(
                        state=bindparam("v_state"),
                        reason=bindparam("v_reason"),
                        reason_data=bindparam("v_reason_data"),
                        state_updated_ms=bindparam("v_updated"),
                        state_transitioned_ms=bindparam("v_transitioned"),
                        extra=bindparam("v_extra"),
                    )
                )
                conn.execute(
                    statement,
                    [
                        {
                            "k_tenant": a.tenant,
                            "k_name": a.name,
                            "v_state": a.state,
                            "v_reason": a.reason,
                            "v_reason_data": a.reason_data,
                            "v_updated": a.state_updated_ms,
                            "v_transitioned": a.state_transitioned_ms,
                            "v_extra": orjson.dumps(a.extra).decode(),
                        }
                        for a in changed
                    ],
                )
            _insert_history(conn, history)

    def set_actions_enabled(self, tenant: str, names: Sequence[str], specs: Sequence[str]) -> None:
        with self._engine.begin() as conn:
            for name, spec in zip(names, specs, strict=True):
                conn.execute(
                    update(alarms)
                    .where(alarms.c.tenant == tenant, alarms.c.name == name)
                    .values(spec=spec)
                )

    # --- history --------------------------------------------------------------------

    def history(
        self,
        tenant: str,
        name: str | None,
        kinds: Sequence[str],
        item_type: str | None,
        start_ms: int | None,
        end_ms: int | None,
        after: tuple[int, int] | None,
        limit: int,
        newest_first: bool,
    ) -> list[HistoryItem]:
        h = alarm_history.c
        where = [h.tenant == tenant, h.kind.in_(list(kinds))]
        if name is not None:
            where.append(h.name == name)
        if item_type is not None:
            where.append(h.item_type == item_type)
        if start_ms is not None:
            where.append(h.timestamp_ms >= start_ms)
        if end_ms is not None:
            where.append(h.timestamp_ms <= end_ms)
        if after is not None:
            stamp, ident = after
            if newest_first:
                where.append(
                    or_(h.timestamp_ms < stamp, and_(h.timestamp_ms == stamp, h.id < ident))
                )
            else:
                where.append(
                    or_(h.timestamp_ms > stamp, and_(h.timestamp_ms == stamp, h.id > ident))
                )
        order = (h.timestamp_ms.desc(), h.id.desc()) if newest_first else (h.timestamp_ms, h.id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(alarm_history).where(*where).order_by(*order).limit(limit)
            ).mappings()
            return [_item(r) for r in rows]

    def undelivered(self) -> list[HistoryItem]:
        h = alarm_history.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(alarm_history).where(h.delivered.is_(False)).order_by(h.id)
            ).mappings()
            return [_item(r) for r in rows]

    def mark_delivered(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._engine.begin() as conn:
            conn.execute(
                update(alarm_history)
                .where(alarm_history.c.id.in_(list(ids)))
                .values(delivered=True)
            )

    def prune(self, now_ms: int) -> int:
        cutoff = now_ms - HISTORY_DAYS * 86_400_000
        with self._engine.begin() as conn:
            done = conn.execute(
                delete(alarm_history).where(
                    alarm_history.c.timestamp_ms < cutoff, alarm_history.c.delivered.is_(True)
                )
            )
            return int(done.rowcount or 0)

    # --- anomaly detectors ------------------------------------------------------------

    def detectors(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(anomaly_detectors)).mappings().all()
        return [(r["tenant"], r["id"], orjson.loads(r["spec"])) for r in rows]

    def put_detector(self, tenant: str, ident: str, spec: dict[str, Any], now_ms: int) -> None:
        text = orjson.dumps(spec).decode()
        with self._engine.begin() as conn:
            done = conn.execute(
                update(anomaly_detectors)
                .where(anomaly_detectors.c.tenant == tenant, anomaly_detectors.c.id == ident)
                .values(spec=text)
            )
            if not done.rowcount:
                conn.execute(
                    anomaly_detectors.insert().values(
                        tenant=tenant, id=ident, spec=text, created_ms=now_ms
                    )
                )

    def delete_detector(self, tenant: str, ident: str) -> bool:
        with self._engine.begin() as conn:
            done = conn.execute(
                delete(anomaly_detectors).where(
                    anomaly_detectors.c.tenant == tenant, anomaly_detectors.c.id == ident
                )
            )
            return bool(done.rowcount)


def _row(alarm: StoredAlarm) -> dict[str, Any]:
    return {
        "tenant": alarm.tenant,
        "name": alarm.name,
        "kind": alarm.kind,
        "spec": orjson.dumps(alarm.spec).decode(),
        "updated_ms": alarm.updated_ms,
        "state": alarm.state,
        "reason": alarm.reason,
        "reason_data": alarm.reason_data,
        "state_updated_ms": alarm.state_updated_ms,
        "state_transitioned_ms": alarm.state_transitioned_ms,
        "extra": orjson.dumps(alarm.extra).decode(),
    }


def _insert_history(conn: Connection, items: Sequence[HistoryItem]) -> None:
    """Insert history items; Action items one by one (their ids mark delivery), the rest
    in one executemany (a first round over many alarms writes one per alarm)."""
    plain = [i for i in items if i.item_type != "Action"]
    if plain:
        conn.execute(alarm_history.insert(), [_history_row(i) for i in plain])
    for item in items:
        if item.item_type == "Action":
            result = conn.execute(alarm_history.insert().values(**_history_row(item)))
            key = result.inserted_primary_key
            item.id = int(key[0]) if key is not None else None


def _history_row(item: HistoryItem) -> dict[str, Any]:
    return {
        "tenant": item.tenant,
        "name": item.name,
        "kind": item.kind,
        "timestamp_ms": item.timestamp_ms,
        "item_type": item.item_type,
        "summary": item.summary,
        "data": orjson.dumps(item.data).decode(),
        "delivered": item.delivered,
    }


def _item(r: Any) -> HistoryItem:
    return HistoryItem(
        r["tenant"],
        r["name"],
        r["kind"],
        r["timestamp_ms"],
        r["item_type"],
        r["summary"],
        orjson.loads(r["data"]),
        bool(r["delivered"]),
        r["id"],
    )
