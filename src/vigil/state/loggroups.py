"""Log groups and streams: the registry that ingest fills and the logs API reads.

``LogGroupRegistry.ensure`` records groups and streams seen at ingest (once each; a cache
keeps the hot path free of database calls). Retention is per group, in days; ``None`` means
the server-wide default. Thread-safe; blocking methods are meant for worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Insert

from vigil.state.db import log_groups, log_streams


@dataclass(frozen=True, slots=True)
class LogGroup:
    tenant: str
    name: str
    created_ms: int
    retention_days: int | None
    origin: str
    kms_key_id: str | None = None


class LogGroupRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def _insert_ignore(self, table: object) -> Insert:
        dialect = self._engine.dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        return module.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]

    def unknown(self, streams: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """The (tenant, group, stream) triples not yet recorded; cheap, no I/O."""
        return {s for s in streams if s not in self._known}

    def ensure(self, streams: Iterable[tuple[str, str, str]], origin: str = "ingest") -> None:
        """Record groups and streams; existing ones are left as they are."""
        missing = self.unknown(streams)
        if not missing:
            return
        now = int(time.time() * 1000)
        groups = {(t, g) for t, g, _ in missing}
        with self._engine.begin() as conn:
            conn.execute(
                self._insert_ignore(log_groups),
                [
                    {"tenant": t, "name": g, "created_ms": now, "origin": origin, "tags": "{}"}
                    for t, g in sorted(groups)
                ],
            )
            conn.execute(
                self._insert_ignore(log_streams),
                [
                    {"tenant": t, "log_group": g, "name": s, "created_ms": now}
                    for t, g, s in sorted(missing)
                ],
            )
        with self._lock:
            self._known |= missing

    def forget(self, tenant: str, group: str) -> None:
        """Drop cache entries of a deleted group so that new data recreates it."""
        with self._lock:
            self._known = {k for k in self._known if not (k[0] == tenant and k[1] == group)}

    def groups(self, tenant: str | None = None) -> list[LogGroup]:
        query = select(log_groups).order_by(log_groups.c.tenant, log_groups.c.name)
        if tenant is not None:
            query = query.where(log_groups.c.tenant == tenant)
        with self._engine.connect() as conn:
            return [
                LogGroup(r.tenant, r.name, r.created_ms, r.retention_days, r.origin, r.kms_key_id)
                for r in conn.execute(query)
            ]

    def get(self, tenant: str, name: str) -> LogGroup | None:
        query = select(log_groups).where(
            and_(log_groups.c.tenant == tenant, log_groups.c.name == name)
        )
        with self._engine.connect() as conn:
            r = conn.execute(query).first()
        return (
            None
            if r is None
            else LogGroup(r.tenant, r.name, r.created_ms, r.retention_days, r.origin, r.kms_key_id)
        )

    def set_retention(self, tenant: str, name: str, days: int | None) -> bool:
        """Set (or clear, with None) a group's retention; False if the group does not exist."""
        with self._engine.begin() as conn:
            result = conn.execute(
                log_groups.update()
                .where(and_(log_groups.c.tenant == tenant, log_groups.c.name == name))
                .values(retention_days=days)
            )
        return bool(result.rowcount)
