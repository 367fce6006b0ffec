"""Rollups and series rows computed from each insert (``vigil.store.rollups``) against the
SQL of the views they replace (m0200's rollup views, m0001's series view), run on the same
raw rows in the same store; replays, refused batches and the upgrade of a data directory
that still has the views: ``test_metric_rollups_upgrade.py``."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from vigil.model.metrics import METRIC_SCHEMA
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.interface import StoreError
from vigil.store.migrations import migrate
from vigil.store.migrations.m0001_core import METRIC_SERIES_MV
from vigil.store.migrations.m0200_metric_rollups import _cascade, _view

NAN = float("nan")
NOW_S = 1_800_000_000  # inside every retention: rows are far from their TTLs' reach
LEVELS = ("1m", "5m", "1h")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    # The one embedded store of this test module (chDB opens one path per process).
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("rollups") / "ch"))
    migrate(s)
    yield s
    s.close()


def _row(rng: random.Random, tenant: str) -> dict[str, Any]:
    kind = rng.choice((0, 0, 0, 1, 1, 2, 2))
    dims = rng.choice(
        (
            [],
            [("host", "a")],
            [("host", "b")],
            [("host", "a,b"), ("z", "")],
            [("a", "1"), ("b", "2")],
            [("a", "12"), ("b", "")],
            [("ключ", "значение")],
        )
    )
    row: dict[str, Any] = {
        "tenant": tenant,
        "namespace": rng.choice(("App", "Other")),
        "name": rng.choice(("Latency", "Errors")),
        "dimensions": dims,
        "unit": rng.choice(("Milliseconds", "Count")),
        "timestamp": (NOW_S + rng.randrange(0, 3 * 3600)) * 10**9 + rng.randrange(10**9),
        "start_time": 0,
        "resolution": rng.choice((1, 60)),
        "kind": kind,
        "value": 0.0,
        "count": 1.0,
        "min": 0.0,
        "max": 0.0,
        "bounds": [],
        "buckets": [],
        "metric_type": "cloudwatch",
        "stream_id": 0,
        "cumulative": 0.0,
    }
    if kind == 0:
        row["value"] = rng.choice((0.0, 1.0, -2.5, 1e-300, 12345.678, rng.uniform(-100, 1e6)))
        row["count"] = float(rng.choice((1, 1, 3)))
    elif kind == 1:
        count = float(rng.randint(1, 5))
        if rng.random() < 0.5:  # all values equal: enters the sketch
            v = rng.uniform(-10, 10)
            row.update(value=v * count, count=count, min=v, max=v)
        else:
            lo, hi = sorted((rng.uniform(0, 10), rng.uniform(10, 20)))
            row.update(value=(lo + hi) / 2 * count, count=count, min=lo, max=hi)
    else:
        bounds = sorted(rng.sample(range(1, 1000), rng.randint(0, 4)))
        buckets = [rng.choice((0, 0, 1, 7)) for _ in range(len(bounds) + 1)]
        if rng.random() < 0.1:
            buckets.append(3)  # malformed: no sketch entries, still counted
        count = float(sum(buckets))
        row.update(
            bounds=[float(b) for b in bounds],
            buckets=buckets,
            count=count,
            value=count * 50.5,
            min=rng.choice((NAN, 0.5)),
            max=rng.choice((NAN, 2000.0)),
        )
    return row


def _batch(seed: int, tenant: str, n: int = 400) -> pa.Table:
    rng = random.Random(seed)
    rows = [_row(rng, tenant) for _ in range(n)]
    return pa.Table.from_pylist(rows, schema=METRIC_SCHEMA)


_KEYS = "tenant, namespace, name, series_id, unit, timestamp"


def _merged(store: ClickHouseStore, source: str, tenant: str) -> list[tuple[Any, ...]]:
    return _tuples(
        store,
        f"SELECT {_KEYS}, sum(count), sum(sum), min(min), max(max), sumMap(sketch)"
        f" FROM ({source}) WHERE tenant = {{t:String}} GROUP BY {_KEYS} ORDER BY {_KEYS}",
        {"t": tenant},
    )


def _tuples(store: ClickHouseStore, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query_sync(sql, parameters).rows]


def _view_select(create_view: str) -> str:
    """The SELECT of a CREATE MATERIALIZED VIEW … AS SELECT statement."""
    return create_view[create_view.index(" AS\n") + 4 :]


def _reference(level: str) -> str:
    if level == "1m":
        return _view_select(_view("1m", 60, "WHERE resolution = 1"))
    five = _view_select(_view("5m", 300))
    if level == "5m":
        return five
    return _view_select(_cascade("1h", 3600, "metric_rollup_5m")).replace(
        "FROM metric_rollup_5m", f"FROM ({five}) AS metric_rollup_5m"
    )


def _assert_same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:6] == w[:6]
        for a, b in zip(g[6:10], w[6:10], strict=True):
            assert a == b or math.isclose(a, b, rel_tol=1e-12), (g, w)
        assert list(g[10][0]) == list(w[10][0]), (g, w)  # sketch keys: exact
        for a, b in zip(g[10][1], w[10][1], strict=True):
            assert math.isclose(a, b, rel_tol=1e-12), (g, w)


def _series(store: ClickHouseStore, source: str, tenant: str) -> list[tuple[Any, ...]]:
    return _tuples(
        store,
        "SELECT tenant, namespace, name, series_id, any(dimensions),"
        " arraySort(groupUniqArrayArray(units)), min(first_seen), max(last_seen), sum(points)"
        f" FROM ({source}) WHERE tenant = {{t:String}}"
        " GROUP BY tenant, namespace, name, series_id ORDER BY series_id",
        {"t": tenant},
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_the_views_they_replace(store: ClickHouseStore, seed: int) -> None:
    tenant = f"views-{seed}"
    table = _batch(seed, tenant)
    store.insert("metrics", table.slice(0, 150))  # two inserts: rows merge across them
    store.insert("metrics", table.slice(150))
    for level in LEVELS:
        got = _merged(store, f"SELECT * FROM metric_rollup_{level}", tenant)
        assert got, level
        _assert_same(got, _merged(store, _reference(level), tenant))
    got = _series(store, "SELECT * FROM metric_series", tenant)
    assert len(got) > 5
    assert got == _series(store, _view_select(METRIC_SERIES_MV), tenant)
    # series ids are the raw rows' own (the same hash over the same types)
    raw = store.query_sync(
        "SELECT DISTINCT series_id FROM metrics WHERE tenant = {t:String} ORDER BY series_id",
        {"t": tenant},
    ).rows
    assert [r[3] for r in got] == [r[0] for r in raw]


def _totals(store: ClickHouseStore, tenant: str) -> list[float]:
    out = []
    for table in ("metric_rollup_5m", "metric_rollup_1h"):
        rows = store.query_sync(
            f"SELECT sum(count) FROM {table} WHERE tenant = {{t:String}}", {"t": tenant}
        ).rows
        out.append(float(rows[0][0]))
    rows = store.query_sync(
        "SELECT sum(points) FROM metric_series WHERE tenant = {t:String}", {"t": tenant}
    ).rows
    out.append(float(rows[0][0]))
    return out


def test_a_replayed_batch_is_not_counted_twice(store: ClickHouseStore) -> None:
    table = _batch(7, "replay")
    points = float(sum(table.column("count").to_pylist()))
    store.insert("metrics", table, dedup_token="wal-0.0-0.100")
    store.insert("metrics", table, dedup_token="wal-0.0-0.100")  # the replay
    assert _totals(store, "replay") == [points, points, table.num_rows]
    store.insert("metrics", table, dedup_token="wal-0.100-0.200")  # another write
    assert _totals(store, "replay") == [2 * points, 2 * points, 2 * table.num_rows]


def test_a_value_without_sketch_key_refuses_the_whole_batch(store: ClickHouseStore) -> None:
    table = _batch(8, "refused", 20)
    values = table.column("value").to_pylist()
    kinds = table.column("kind").to_pylist()
    values[kinds.index(0)] = float("inf")
    bad = table.set_column(
        table.schema.get_field_index("value"), "value", pa.array(values, pa.float64())
    )
    with pytest.raises(StoreError):
        store.insert("metrics", bad)
    rows = store.query_sync("SELECT count() FROM metrics WHERE tenant = 'refused'").rows
    assert rows[0][0] == 0


def test_dimension_maps_get_equal_codes_exactly_when_equal() -> None:
    """Maps are coded from their key bytes, item bytes and lengths read in place: the
    same bytes split differently (between pairs, or between a key and its value) are
    different maps; slices of a larger array are read at their own offsets."""
    from vigil.store.rollups import _dimension_codes

    maps = [
        [("a", "bc")],
        [("ab", "c")],
        [("a", "b"), ("c", "")],
        [("a", "bc")],
        [("a", "b"), ("c", "d")],
        [("ab", ""), ("c", "d")],
        [],
        [("ключ", "значение")],
        [("a", "b"), ("cd", "")],
        [],
        [("ab", "c")],
    ]
    rng = random.Random(5)
    for _ in range(200):
        maps.append(
            [(rng.choice("ab"), rng.choice(["", "a", "ab"])) for _ in range(rng.randint(0, 3))]
        )
    array = pa.array(maps, pa.map_(pa.string(), pa.string()))
    for start, stop in ((0, len(maps)), (1, 9), (3, len(maps))):
        part = array.slice(start, stop - start)
        codes = list(_dimension_codes(part))
        want = [tuple(m) for m in maps[start:stop]]
        for i in range(len(want)):
            for j in range(len(want)):
                assert (codes[i] == codes[j]) == (want[i] == want[j]), (want[i], want[j])
