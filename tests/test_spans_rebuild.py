"""Migration 0304 rebuilds ``spans`` with small granules: an existing store keeps every
span, its materialized views keep receiving inserts, and an interrupted rebuild re-runs
safely."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bench.traces_data import span_table

from tests.runtime import InProcessVigil
from tests.xray_helpers import xray_client
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import all_migrations, migrate
from vigil.store.migrations.m0304_spans_small_granules import MIGRATION as REBUILD

CONTENT = (
    "SELECT count(), sum(cityHash64(trace_id, span_id, parent_span_id, name, service,"
    " start_time, end_time, duration_ns, attributes, resource, events, links, segment,"
    " origin, annotations, http_url, fault, remote_service)) FROM spans"
)


def test_a_server_upgrades_a_data_directory(tmp_path: Path) -> None:
    """The server's start-up applies the rebuild (after its WAL replay) and sets the TTL.
    (First in the file: a process opens one chDB directory at a time, and the module's
    store opens at the next test.)"""
    data = tmp_path / "data"
    old = ClickHouseStore("chdb://" + str(data / "clickhouse"))
    try:
        migrate(old, before_replay=True)
        now = time.time_ns()
        old.insert("spans", span_table(np.random.default_rng(12), 200, now - 600 * 10**9, now))
    finally:
        old.close()
    server = InProcessVigil(data).start()
    try:
        xray = xray_client(server)
        found = xray.get_trace_summaries(StartTime=time.time() - 900, EndTime=time.time())
        assert len(found["TraceSummaries"]) == 100  # the first page
        graph = xray.get_service_graph(StartTime=time.time() - 900, EndTime=time.time())
        assert graph["Services"]
    finally:
        assert server.stop() == 0
    store = ClickHouseStore("chdb://" + str(data / "clickhouse"))
    try:
        engine = _engine(store)
        assert "index_granularity = 1024" in engine
        assert "TTL" in engine
        assert store.query_sync("SELECT count() FROM spans").rows[0][0] == 2000
    finally:
        store.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("rebuild") / "ch"))
    yield s
    s.close()


def _engine(store: ClickHouseStore) -> str:
    return str(
        store.query_sync(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase()"
            " AND name = 'spans'"
        ).rows[0][0]
    )


def _counts(store: ClickHouseStore) -> tuple[int, int, int]:
    """Rows of the three tables fed by views on spans."""
    row = store.query_sync(
        "SELECT (SELECT count() FROM trace_index), (SELECT count() FROM trace_summary),"
        " (SELECT count() FROM span_blocks)"
    ).rows[0]
    return int(row[0]), int(row[1]), int(row[2])


def test_an_existing_store_is_rebuilt_and_keeps_its_views(store: ClickHouseStore) -> None:
    # A store as the previous release left it: every migration but the rebuild.
    migrate(store, before_replay=True)
    assert "index_granularity = 1024" not in _engine(store)
    now = time.time_ns()
    rng = np.random.default_rng(11)
    for _ in range(3):
        store.insert("spans", span_table(rng, 500, now - 3600 * 10**9, now))
    before = store.query_sync(CONTENT).rows[0]
    views = _counts(store)

    assert migrate(store) == ["0304"]
    assert "index_granularity = 1024" in _engine(store)
    assert "non_replicated_deduplication_window" in _engine(store)
    assert store.query_sync(CONTENT).rows[0] == before
    assert _counts(store) == views
    assert not store.query_sync("EXISTS TABLE spans_rebuild").rows[0][0]
    # The views on spans follow the rebuilt table.
    store.insert("spans", span_table(rng, 100, now - 60 * 10**9, now))
    after = _counts(store)
    assert all(a > b for a, b in zip(after, views, strict=True)), (views, after)

    # Interrupted after the swap (old table not dropped, migration not recorded): the
    # whole sequence runs again and leaves one rebuilt table with the same spans.
    content = store.query_sync(CONTENT).rows[0]
    for statement in REBUILD.statements[:-1]:
        store.command(statement)
    store.command("DELETE FROM vigil_migrations WHERE id = '0304'")
    assert migrate(store) == ["0304"]
    assert store.query_sync(CONTENT).rows[0] == content
    assert "index_granularity = 1024" in _engine(store)
    assert not store.query_sync("EXISTS TABLE spans_rebuild").rows[0][0]


def test_the_rebuild_runs_after_the_replay() -> None:
    assert {m.id for m in all_migrations() if m.after_replay} == {"0304"}
