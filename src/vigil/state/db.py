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
from typing import Any

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
        engine._connection_cls = _SQLiteConnection  # see _sqlite_begin
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    migrate_state(engine)
    return engine


# SQLite transactions (SQLAlchemy's SQLite dialect docs, "Transactions with SQLite and the
# sqlite3 driver"). Python's sqlite3 module, in its legacy mode (the default before
# Python 3.16; the ``autocommit`` attribute that replaces it needs 3.12, vigil runs on
# 3.11), begins a transaction only before INSERT/UPDATE/DELETE/REPLACE. So a SAVEPOINT
# before the first write opened a transaction of its own, and its RELEASE committed for
# good: Escalations' incident insert (under a savepoint) survived the failure of the
# deliveries written after it, an incident open without its page. DDL (migrations) and
# the reads before a write ran outside any transaction too. The dialect's recipe: the
# driver emits no BEGIN at all (isolation_level None), SQLAlchemy's begin event does.


def _sqlite_connect(dbapi_conn: Any, _record: object) -> None:
    dbapi_conn.isolation_level = None  # sqlite3 emits no BEGIN; _sqlite_begin does
    cursor = dbapi_conn.cursor()
    # Outside any transaction (journal_mode cannot change inside one): the connection is
    # new and in autocommit. WAL lets readers run beside the writer; synchronous=FULL
    # keeps every commit durable; busy_timeout waits for the write lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class _SQLiteConnection(Connection):
    """A connection that knows whether SQLAlchemy began its transaction by itself
    (autobegin: the first statement of ``with engine.connect()``, vigil's read-only
    blocks: none of them commits) or was asked to (``engine.begin()``/``conn.begin()``,
    every write)."""

    autobegun = False

    def _autobegin(self) -> None:
        self.autobegun = True
        try:
            super()._autobegin()
        finally:
            self.autobegun = False


def _sqlite_begin(conn: Connection) -> None:
    """``BEGIN IMMEDIATE`` for the transactions the code begins (the writes), a deferred
    ``BEGIN`` for the autobegun reads.

    vigil's write transactions read before they write (the open incident, the due step
    "FOR UPDATE", which SQLite ignores, the delivery keys already recorded, the
    migrations' table checks), from several threads (``asyncio.to_thread``) and possibly
    several processes on one file. In a deferred transaction the write lock is taken at
    the first write; if another connection committed after this one's first read, WAL
    answers SQLITE_BUSY_SNAPSHOT at once, which busy_timeout does not retry ("database
    is locked"), and the read-then-write would be stale anyway. IMMEDIATE takes the write
    lock at BEGIN (waiting up to busy_timeout), so a write transaction's reads and writes
    are one serial unit, as the row locks they were written for on PostgreSQL make them.
    Writers were serialised by SQLite already (one writer at a time); what changes is
    that the lock now covers the reads before the first write (tests/
    test_state_transactions.py). Reads keep WAL's concurrency: a deferred BEGIN is a
    snapshot that neither waits for the writer nor blocks it, and a read of several
    statements now sees one state of the database."""
    autobegun = isinstance(conn, _SQLiteConnection) and conn.autobegun
    conn.exec_driver_sql("BEGIN" if autobegun else "BEGIN IMMEDIATE")


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
