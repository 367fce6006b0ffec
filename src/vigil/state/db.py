"""The state database: engine, tables and id-based migrations.

Tables are SQLAlchemy Core ``Table`` objects on ``METADATA``; every module that owns state
declares its tables on ``METADATA`` and adds a migration to ``MIGRATIONS`` (an id
and a function of a connection). Applied ids live in ``state_migrations``; a migration runs
once, in id order. Engines are thread-safe; call blocking methods from worker threads
(``asyncio.to_thread``), never on the event loop with a remote database.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
)

METADATA = MetaData()

state_migrations = Table(
    "state_migrations",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("applied_ms", BigInteger, nullable=False),
)

log_groups = Table(
    "log_groups",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=True),
    Column("origin", String(16), nullable=False),  # "api" or "ingest"
    Column("tags", Text, nullable=False, default="{}"),
    # CreateLogGroup's kmsKeyId, answered back by DescribeLogGroups (migration
    # logs_0002_kms_key_id adds it to databases made before it).
    Column("kms_key_id", String(256), nullable=True),
)

log_streams = Table(
    "log_streams",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("log_group", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
)


def _m0001(conn: Connection) -> None:
    for table in (log_groups, log_streams):
        table.create(conn, checkfirst=True)


Migrations = list[tuple[str, Callable[[Connection], None]]]
MIGRATIONS: Migrations = [("0001_log_groups", _m0001)]

# Modules that own state tables; each defines ``MIGRATIONS`` (ids prefixed by its pillar).
STATE_MODULES = (
    "vigil.state.db",
    "vigil.state.sampling",
    "vigil.state.logs",
    "vigil.state.alarms",
    "vigil.state.notifylog",
    "vigil.state.topics",
    "vigil.state.incidents",
    "vigil.state.dashboards",
    "vigil.state.xray_groups",
    "vigil.state.insight_rules",
)


def all_migrations() -> Migrations:
    """Every module's migrations, in id order (ids are unique across modules)."""
    found: Migrations = []
    for name in STATE_MODULES:
        found.extend(importlib.import_module(name).MIGRATIONS)
    ids = [migration_id for migration_id, _ in found]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"duplicate state migration ids: {sorted(ids)}")
    return sorted(found, key=lambda m: m[0])


def state_url(value: str) -> str:
    """``--state``: a SQLAlchemy URL, or a file path meaning SQLite."""
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).resolve())


def open_state(url: str) -> Engine:
    url = state_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate_state(engine)
    return engine


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run beside the writer; synchronous=FULL keeps every commit durable.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def migrate_state(engine: Engine) -> list[str]:
    with engine.begin() as conn:
        state_migrations.create(conn, checkfirst=True)
        applied = set(conn.execute(select(state_migrations.c.id)).scalars())
        done = []
        for migration_id, apply in all_migrations():
            if migration_id in applied:
                continue
            apply(conn)
            conn.execute(
                state_migrations.insert().values(
                    id=migration_id, applied_ms=int(time.time() * 1000)
                )
            )
            done.append(migration_id)
    return done
