"""Versioned schema of the telemetry store.

Each module ``mNNNN_<name>.py`` in this package defines ``MIGRATION``. Applied ids are kept in
the ``vigil_migrations`` table; at start-up every migration not applied yet runs, in id
order (those marked ``after_replay`` once the writer has replayed its log). The set of
applied ids (not a single version number) is what counts, so migrations
written on separate branches can land in any order. A migration is never edited once
released: change the schema with a new one. Statements must be idempotent (``IF NOT
EXISTS``) because a crash between a statement and its record re-runs the migration.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass

from vigil.store.interface import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    id: str
    description: str
    statements: tuple[str, ...]
    # Rebuilds of a table the writer inserts into run after the WAL replay: a rebuilt table
    # starts with an empty deduplication window, so a replay of the range that was being
    # inserted at a crash would store it twice if it came after the rebuild.
    after_replay: bool = False


def all_migrations() -> list[Migration]:
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(module.MIGRATION)
    found.sort(key=lambda m: m.id)
    ids = [m.id for m in found]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"duplicate migration ids: {ids}")
    return found


def migrate(store: Store, *, before_replay: bool = False) -> list[str]:
    """Apply pending migrations; returns the ids applied now. ``before_replay``: leave
    out those that must run after the writer's WAL replay (the server runs them next)."""
    store.command(
        "CREATE TABLE IF NOT EXISTS vigil_migrations (id String, description String,"
        " applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY id"
    )
    applied = {row[0] for row in store.query_sync("SELECT id FROM vigil_migrations").rows}
    done: list[str] = []
    for migration in all_migrations():
        if migration.id in applied or (before_replay and migration.after_replay):
            continue
        log.info("applying migration %s: %s", migration.id, migration.description)
        for statement in migration.statements:
            store.command(statement)
        store.command(
            "INSERT INTO vigil_migrations (id, description) VALUES ({id:String}, {d:String})",
            {"id": migration.id, "d": migration.description},
        )
        done.append(migration.id)
    ensure_dedup_window(store)
    return done


DEDUP_WINDOW = 1000


def ensure_dedup_window(store: Store) -> None:
    """Every MergeTree table keeps the ids of its last inserts, so that the writer's WAL
    replays (inserts with a deduplication token) are not stored twice. Applied to every
    table, whichever migration created it."""
    rows = store.query_sync(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
        " AND engine LIKE '%MergeTree'"
    ).rows
    for name, engine in rows:
        if "non_replicated_deduplication_window" not in engine:
            store.command(
                f"ALTER TABLE `{name}` MODIFY SETTING"
                f" non_replicated_deduplication_window = {DEDUP_WINDOW}"
            )
