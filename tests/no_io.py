"""A state engine and a store that refuse every use, for a while: the pillar contract's
``build(core)`` does no I/O (``vigil.pillar``), checked against the real engine and store
(an SQLAlchemy event and the store's entry points replaced on the instance), so what is
refused is what would have reached the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from vigil.store.clickhouse import ClickHouseStore

# Every read, command and insert of ClickHouseStore goes through one of these.
_STORE_ENTRY_POINTS = ("query_sync", "_query_arrow_sync", "command", "insert")


class IoRefused(AssertionError):
    pass


@contextmanager
def refused_io(state: Engine, store: ClickHouseStore | None = None) -> Iterator[None]:
    """Inside: opening a state connection, running a statement on one, or any store query,
    command or insert raises ``IoRefused``."""

    def refuse_state(*_: Any, **__: Any) -> None:
        raise IoRefused("state database used")

    def refuse_store(name: str) -> Any:
        def refuse(*_: Any, **__: Any) -> None:
            raise IoRefused(f"store used: {name}")

        return refuse

    event.listen(state, "engine_connect", refuse_state)
    event.listen(state, "before_cursor_execute", refuse_state)
    if store is not None:
        for name in _STORE_ENTRY_POINTS:
            setattr(store, name, refuse_store(name))
    try:
        yield
    finally:
        event.remove(state, "engine_connect", refuse_state)
        event.remove(state, "before_cursor_execute", refuse_state)
        if store is not None:
            for name in _STORE_ENTRY_POINTS:
                delattr(store, name)  # the class's methods again
