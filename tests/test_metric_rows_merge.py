"""The aggregate read of ``statistic_series`` (``levels.fetch_aggregate_rows``: rows as
stored, merged per series and period in numpy by ``fetch.merge_rows``) against the store's
own GROUP BY (``levels.fetch_aggregates``), on random raw rows of every kind, unit and
resolution in one embedded store: every level, every aggregate statistic, with and
without a unit, and with raw reads over their row limit (grouped in the store instead)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import numpy as np
import pytest

from tests.test_metric_rollups import NOW_S, _batch
from vigil.query.metrics import levels
from vigil.query.metrics.fetch import aggregate_matrix, aggregate_vectors, fill_grids, merge_rows
from vigil.query.metrics.levels import RAW, ROLLUPS, Level, SeriesRef
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

TENANT = "merge"
STATS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
COLUMNS = {"SampleCount": ("c",), "Sum": ("c", "s"), "Average": ("c", "s")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("merge") / "ch"))
    migrate(s)
    table = _batch(11, TENANT, n=1500)
    for i in range(0, table.num_rows, 300):  # several inserts: unmerged rollup rows
        s.insert("metrics", table.slice(i, 300))
    yield s
    s.close()


def _refs(store: ClickHouseStore) -> list[SeriesRef]:
    rows = store.query_sync(
        "SELECT DISTINCT namespace, name, series_id FROM metrics WHERE tenant = {t:String}",
        {"t": TENANT},
    ).rows
    return [SeriesRef(ns, name, int(sid)) for ns, name, sid in rows]


@pytest.mark.parametrize("level", [RAW, *ROLLUPS], ids=lambda lv: lv.name)
@pytest.mark.parametrize("unit", [None, "Count"])
@pytest.mark.parametrize("max_rows", [3, 1_000_000], ids=["grouped", "as-stored"])
def test_rows_merged_in_numpy_equal_the_stores_group_by(
    store: ClickHouseStore, level: Level, unit: str | None, max_rows: int
) -> None:
    refs = _refs(store)
    assert len(refs) > 10
    period = max(level.resolution, 300)
    start = NOW_S - NOW_S % 3600
    end = start + 4 * 3600
    count = (end - start) // period
    order = np.array(sorted({r.series_id for r in refs}), dtype=np.uint64)

    async def both(stat: str) -> tuple[np.ndarray, np.ndarray]:
        table = await levels.fetch_aggregates(store, level, TENANT, refs, period, start, end, unit)
        ids = table.column("series_id").to_numpy().astype(np.uint64)
        b = table.column("b").to_numpy().astype(np.int64)
        cols = [table.column(c).to_numpy().astype(np.float64) for c in ("c", "s", "lo", "hi")]
        grids = {int(s): np.full(count, np.nan) for s in order}
        want = fill_grids(grids, ids, b, aggregate_vectors(stat, *cols))
        columns = COLUMNS.get(stat, ("c", "lo" if stat == "Minimum" else "hi"))
        tables = await levels.fetch_aggregate_rows(
            store, level, TENANT, refs, period, start, end, unit, columns, max_rows
        )
        got = aggregate_matrix(stat, merge_rows(tables, order, count, columns))
        return np.stack([want[int(s)] for s in order]), got

    for stat in STATS:
        want, got = asyncio.run(both(stat))
        assert (~np.isnan(want)).sum() > 0, stat
        assert np.array_equal(np.isnan(want), np.isnan(got)), stat
        for a, b in zip(want[~np.isnan(want)], got[~np.isnan(got)], strict=True):
            assert a == b or math.isclose(a, b, rel_tol=1e-12), (stat, a, b)
