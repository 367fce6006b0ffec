"""The writer's flushes of ``metrics`` are written as Compact parts (m0203): a flush of
100,000 rows is ~12 MB, over ClickHouse's default 10 MB for a Wide part, and a Wide part's
two files per column made the insert spend a third more CPU here (bench/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from tests.test_metric_rollups import _batch
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

TENANT = "parts"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("parts") / "ch"))
    migrate(s)
    yield s
    s.close()


def test_a_flush_over_ten_megabytes_is_one_compact_part(store: ClickHouseStore) -> None:
    rows = _batch(7, TENANT, n=2_000)
    flush = pa.concat_tables([rows] * 60).combine_chunks()
    store.command("SYSTEM STOP MERGES metrics")
    try:
        store.insert("metrics", flush, dedup_token="one-flush")
        parts = store.query_sync(
            "SELECT part_type, rows, data_uncompressed_bytes FROM system.parts"
            " WHERE database = currentDatabase() AND table = 'metrics' AND active"
        ).rows
    finally:
        store.command("SYSTEM START MERGES metrics")
    assert [(p[0], p[1]) for p in parts] == [("Compact", 120_000)]
    assert parts[0][2] > 10 << 20  # the default would have made it Wide
    # and it reads back whole
    total = store.query_sync(
        "SELECT count(), sum(value) FROM metrics WHERE tenant = {t:String}", {"t": TENANT}
    ).rows[0]
    assert total[0] == 120_000
    assert total[1] == pytest.approx(60 * sum(rows.column("value").to_pylist()))
