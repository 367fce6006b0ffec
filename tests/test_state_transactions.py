"""The SQLite state engine's transactions are real transactions: a released savepoint
goes with its enclosing transaction, DDL is transactional, a read sees one snapshot, and
a read-then-write transaction is not interleaved with another writer (Python's sqlite3
module, left to itself, begins a transaction only before INSERT/UPDATE/DELETE, so none of
this held: see state/db.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, insert, inspect, select, text, update

from vigil.state.db import log_groups, open_state


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_state(str(tmp_path / "state.db"))
    yield eng
    eng.dispose()


class Boom(Exception):
    pass


def _groups(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(log_groups.c.name).order_by(log_groups.c.name)).scalars())


def _group(name: str) -> dict[str, object]:
    return {"tenant": "t", "name": name, "created_ms": 1, "origin": "api", "tags": "{}"}


def test_released_savepoint_rolls_back_with_its_transaction(engine: Engine) -> None:
    # The shape of Escalations._open_in: a read, an insert under a savepoint (released),
    # then more writes, then a failure: nothing of it may stay.
    def fails() -> None:
        with engine.begin() as conn:
            conn.execute(select(log_groups).where(log_groups.c.name == "a")).first()
            with conn.begin_nested():
                conn.execute(insert(log_groups).values(_group("a")))
            conn.execute(insert(log_groups).values(_group("b")))
            raise Boom

    with pytest.raises(Boom):
        fails()
    assert _groups(engine) == []


def test_savepoint_first_then_rollback(engine: Engine) -> None:
    # The savepoint is the transaction's first statement (no read before it).
    with engine.connect() as conn, conn.begin() as tx:
        with conn.begin_nested():
            conn.execute(insert(log_groups).values(_group("a")))
        tx.rollback()
    assert _groups(engine) == []


def test_rolled_back_savepoint_keeps_the_rest(engine: Engine) -> None:
    def fails(conn: Connection) -> None:
        with conn.begin_nested():
            conn.execute(insert(log_groups).values(_group("b")))
            raise Boom

    with engine.begin() as conn:
        conn.execute(insert(log_groups).values(_group("a")))
        with pytest.raises(Boom):
            fails(conn)
    assert _groups(engine) == ["a"]


def test_ddl_is_transactional(engine: Engine) -> None:
    # Migrations run in one transaction: a failing one leaves no half-made table.
    def fails() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE half_made (x INTEGER)")
            raise Boom

    with pytest.raises(Boom):
        fails()
    assert "half_made" not in inspect(engine).get_table_names()


def test_a_read_sees_one_snapshot(engine: Engine) -> None:
    with engine.connect() as reader:
        before = reader.execute(select(func.count()).select_from(log_groups)).scalar()
        # A writer commits meanwhile; WAL lets it (the reader holds no write lock).
        with engine.begin() as writer:
            writer.execute(insert(log_groups).values(_group("a")))
        again = reader.execute(select(func.count()).select_from(log_groups)).scalar()
    assert before == again == 0
    assert _groups(engine) == ["a"]


def test_read_then_write_is_not_interleaved(engine: Engine) -> None:
    """Two read-modify-write transactions on one row: the second cannot commit between
    the first's read and its write (no lost update), and neither fails for the lock."""
    with engine.begin() as conn:
        conn.execute(insert(log_groups).values({**_group("n"), "retention_days": 0}))
    row = (log_groups.c.tenant == "t") & (log_groups.c.name == "n")
    read_done = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def increment(after_read: threading.Event | None, done: threading.Event | None) -> None:
        try:
            with engine.begin() as conn:
                value = conn.execute(select(log_groups.c.retention_days).where(row)).scalar_one()
                if after_read is not None:
                    after_read.set()
                    # The other increment runs now; it must wait for this transaction.
                    # (Bounded wait: reaching the timeout is the passing case.)
                    assert second_done is not None
                    assert not second_done.wait(0.3), "a writer committed inside our read"
                conn.execute(update(log_groups).where(row).values(retention_days=value + 1))
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            if done is not None:
                done.set()

    first = threading.Thread(target=increment, args=(read_done, None))
    first.start()
    assert read_done.wait(10)
    second = threading.Thread(target=increment, args=(None, second_done))
    second.start()
    first.join(10)
    second.join(10)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(select(log_groups.c.retention_days).where(row)).scalar_one() == 2


def test_an_open_read_does_not_block_writers(engine: Engine) -> None:
    with engine.connect() as reader:
        reader.execute(select(log_groups)).all()  # its transaction is open
        with engine.begin() as writer:  # would wait busy_timeout and fail if it were not
            writer.execute(insert(log_groups).values(_group("a")))
    assert _groups(engine) == ["a"]


def test_pragmas_still_apply(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.execute(text("SELECT 1")).scalar() == 1
