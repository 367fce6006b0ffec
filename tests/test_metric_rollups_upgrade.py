"""A data directory whose rollups were kept by views on ``metrics`` (m0200 and before)
upgrades to the batch rollups (m0201): the views go, the data stays, new inserts are
summarized once (not by the old views and the new rows both).

Its own module: chDB opens one store path per process, and test_metric_rollups.py keeps its
store open for its whole module."""

from __future__ import annotations

from pathlib import Path

from tests.test_metric_rollups import _batch, _totals
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import all_migrations, migrate


def test_upgrade_of_a_data_directory_with_the_views(tmp_path: Path) -> None:
    s = ClickHouseStore("chdb://" + str(tmp_path / "ch"))
    try:
        s.command(
            "CREATE TABLE IF NOT EXISTS vigil_migrations (id String, description String,"
            " applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY id"
        )
        for m in all_migrations():
            if m.id != "0201":
                for statement in m.statements:
                    s.command(statement)
                s.command(
                    "INSERT INTO vigil_migrations (id, description) VALUES ({i:String}, '')",
                    {"i": m.id},
                )
        old = _batch(9, "upgrade", 100)
        s._insert_table("metrics", old, "old")  # as the old version did: the views summarize
        before = _totals(s, "upgrade")
        assert migrate(s) == ["0201"]
        new = _batch(10, "upgrade", 100)
        s.insert("metrics", new)
        after = _totals(s, "upgrade")
        points = float(sum(new.column("count").to_pylist()))
        assert after == [before[0] + points, before[1] + points, before[2] + new.num_rows]
        views = s.query_sync(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
            " AND engine = 'MaterializedView' AND name LIKE 'metric%' ORDER BY name"
        ).rows
        assert [v[0] for v in views] == [
            "metric_rollup_input_1h_mv",
            "metric_rollup_input_1m_mv",
            "metric_rollup_input_5m_mv",
            "metric_rollup_input_series_mv",
        ]
    finally:
        s.close()
