"""Rollups and series by catch-up (vigil.store.metric_rollups) against a real embedded store:
the derived tables equal what the raw rows say, an interrupted catch-up is finished
exactly once, and series are found by their own dimensions."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from vigil.model.metrics import MetricColumns, PointKind
from vigil.query.metricdata import MetricSpec, exact_series
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.interface import Rows, StoreError
from vigil.store.metric_rollups import MetricRollups
from vigil.store.migrations import migrate

T0 = 1_800_000_000 - 1_800_000_000 % 86400


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("rollups") / "ch"))
    migrate(s)
    yield s
    s.close()


def _points(tenant: str, offset: int = 0) -> MetricColumns:
    """Samples, statistic sets and histograms of two series over three 5-minute buckets,
    plus high-resolution samples."""
    cols = MetricColumns()
    for i in range(30):
        ts = (T0 + offset + i * 37) * 10**9
        for host in ("a", "b"):
            common: dict[str, Any] = {
                "tenant": tenant,
                "namespace": "NS",
                "name": "Latency",
                "dimensions": [("host", host)],
                "unit": "Milliseconds",
                "timestamp": ts,
            }
            cols.add(**common, kind=PointKind.SAMPLE, value=float(i % 7) + 0.5, count=2.0)
            if i % 5 == 0:
                cols.add(**common, kind=PointKind.STATS, value=40.0, count=4.0, min=10.0, max=10.0)
            if i % 6 == 0:
                cols.add(
                    **common,
                    kind=PointKind.HISTOGRAM,
                    value=33.0,
                    count=6.0,
                    min=1.0,
                    max=20.0,
                    bounds=[5.0, 10.0],
                    buckets=[1, 3, 2],
                )
        cols.add(
            tenant=tenant,
            namespace="NS",
            name="Fast",
            dimensions=[],
            unit="Count",
            timestamp=(T0 + offset + i) * 10**9,
            kind=PointKind.SAMPLE,
            value=float(i),
            resolution=1,
        )
    return cols


def _totals(store: ClickHouseStore, table: str, tenant: str) -> list[tuple[Any, ...]]:
    raw = "sum(if(kind = 0, value * count, value))" if table == "metrics" else "sum(sum)"
    low = "min(if(kind = 0, value, if(isNaN(min), inf, min)))" if table == "metrics" else "min(min)"
    where = " AND resolution = 1" if table == "metrics_hr" else ""
    source = "metrics" if table == "metrics_hr" else table
    if table == "metrics_hr":
        raw = "sum(if(kind = 0, value * count, value))"
        low = "min(if(kind = 0, value, if(isNaN(min), inf, min)))"
    rows = store.query_sync(
        f"SELECT name, series_id, sum(count), {raw}, {low} FROM {source}"
        f" WHERE tenant = {{t:String}}{where} GROUP BY name, series_id ORDER BY name, series_id",
        {"t": tenant},
    ).rows
    return [tuple(r) for r in rows]


def _sketch_weight(store: ClickHouseStore, table: str, tenant: str) -> float:
    rows = store.query_sync(
        f"SELECT sum(arraySum(sketch.2)) FROM {table} WHERE tenant = {{t:String}}", {"t": tenant}
    ).rows
    return float(rows[0][0])


def test_catch_up_rolls_up_every_kind_of_point(store: ClickHouseStore) -> None:
    rollups = MetricRollups(store)
    rollups.recover()
    store.insert("metrics", _points("every").to_arrow())
    rollups.catch_up()
    raw = _totals(store, "metrics", "every")
    assert _totals(store, "metric_rollup_5m", "every") == raw
    assert _totals(store, "metric_rollup_1h", "every") == raw
    # The 1-minute rollup holds the high-resolution points only.
    assert _totals(store, "metric_rollup_1m", "every") == _totals(store, "metrics_hr", "every")
    # Sketches weigh every sample, histogram bucket and equal-valued statistic set.
    samples = 30 * 2 * 2.0 + 30  # Latency (weight 2) and Fast
    sets = 6 * 2 * 4.0
    histograms = 5 * 2 * 6.0
    assert _sketch_weight(store, "metric_rollup_5m", "every") == samples + sets + histograms
    assert _sketch_weight(store, "metric_rollup_1h", "every") == samples + sets + histograms
    series = store.query_sync(
        "SELECT name, max(dimensions), groupUniqArrayArray(units), sum(points),"
        " toUnixTimestamp64Nano(min(first_seen)), toUnixTimestamp64Nano(max(last_seen))"
        " FROM metric_series WHERE tenant = 'every' GROUP BY name, series_id ORDER BY name, 2",
    ).rows
    assert [tuple(r) for r in series] == [
        ("Fast", {}, ["Count"], 30, T0 * 10**9, (T0 + 29) * 10**9),
        ("Latency", {"host": "a"}, ["Milliseconds"], 41, T0 * 10**9, (T0 + 29 * 37) * 10**9),
        ("Latency", {"host": "b"}, ["Milliseconds"], 41, T0 * 10**9, (T0 + 29 * 37) * 10**9),
    ]
    rollups.close()


def test_later_catch_ups_add_only_new_blocks(store: ClickHouseStore) -> None:
    rollups = MetricRollups(store)
    rollups.recover()
    for offset in (0, 600, 0):  # the third batch lands again in buckets already rolled up
        store.insert("metrics", _points("later", offset).to_arrow())
        rollups.catch_up()
        rollups.catch_up()  # nothing new: a no-op
    assert _totals(store, "metric_rollup_5m", "later") == _totals(store, "metrics", "later")
    assert _totals(store, "metric_rollup_1h", "later") == _totals(store, "metrics", "later")
    points = store.query_sync(
        "SELECT sum(points) FROM metric_series WHERE tenant = 'later' AND name = 'Fast'"
    ).rows
    assert points[0][0] == 90
    rollups.close()


class _CrashingStore:
    """The real store, until the n-th command: that one fails as if the process died."""

    def __init__(self, store: ClickHouseStore, fail_at: int) -> None:
        self._store = store
        self._left = fail_at

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._left -= 1
        if self._left == 0:
            raise StoreError("simulated crash")
        self._store.command(sql, parameters)

    def query_sync(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        return self._store.query_sync(sql, parameters, timeout=timeout)


# A catch-up's commands: intent, new series, 1-minute rollup, feed, done.
@pytest.mark.parametrize("fail_at", [2, 3, 4, 5], ids=["series", "1m", "feed", "done"])
def test_an_interrupted_catch_up_is_finished_exactly_once(
    store: ClickHouseStore, fail_at: int
) -> None:
    tenant = f"crash{fail_at}"
    first = MetricRollups(store)
    first.recover()
    first.catch_up()  # everything before this test
    store.insert("metrics", _points(tenant).to_arrow())
    crashing = MetricRollups(_CrashingStore(store, fail_at))  # type: ignore[arg-type]
    crashing.recover()
    with pytest.raises(StoreError):
        crashing.catch_up()
    # A restart: the next process reads the progress and finishes the range.
    store.insert("metrics", _points(tenant, 900).to_arrow())
    restarted = MetricRollups(store)
    restarted.recover()
    restarted.catch_up()
    raw = _totals(store, "metrics", tenant)
    assert _totals(store, "metric_rollup_5m", tenant) == raw
    assert _totals(store, "metric_rollup_1h", tenant) == raw
    assert _totals(store, "metric_rollup_1m", tenant) == _totals(store, "metrics_hr", tenant)
    points = store.query_sync(
        "SELECT name, sum(points) FROM metric_series WHERE tenant = {t:String}"
        " GROUP BY name ORDER BY name",
        {"t": tenant},
    ).rows
    assert [tuple(r) for r in points] == [("Fast", 60), ("Latency", 164)]
    for r in (first, crashing, restarted):
        r.close()


def test_a_series_is_found_by_its_own_dimensions(store: ClickHouseStore) -> None:
    """Activity rows carry no dimensions: a series without dimensions must not be confused
    with the activity of another series of the same metric."""
    cols = MetricColumns()
    for dims, value in (([("host", "x")], 1.0), ([], 2.0), ([("host", "y")], 3.0)):
        cols.add(
            tenant="dims",
            namespace="NS",
            name="M",
            dimensions=dims,
            unit="None",
            timestamp=T0 * 10**9,
            kind=PointKind.SAMPLE,
            value=value,
        )
    store.insert("metrics", cols.to_arrow())
    rollups = MetricRollups(store)
    rollups.recover()
    rollups.catch_up()

    def value_of(dims: tuple[tuple[str, str], ...]) -> float:
        found = asyncio.run(exact_series(store, "dims", MetricSpec("NS", "M", dims)))
        assert found is not None
        ref, dimensions = found
        assert dimensions == dict(dims)
        rows = store.query_sync(
            "SELECT sum(value) FROM metrics WHERE series_id = {id:UInt64}", {"id": ref.series_id}
        ).rows
        return float(rows[0][0])

    assert value_of(()) == 2.0
    assert value_of((("host", "x"),)) == 1.0
    assert value_of((("host", "y"),)) == 3.0
    assert asyncio.run(exact_series(store, "dims", MetricSpec("NS", "M", (("host", "z"),)))) is None
    assert not math.isnan(value_of(()))
    rollups.close()
