"""The public metric call for alarms (``vigil.query.metrics.windows``) against a real
embedded store: one statistic over N periods ending at t, one window at a time and many in
one statement.

Two kinds of checks: every metric statistic of the GetMetricData golden files
(tests/golden/metrics) asked again as a window must give GetMetricData's values (missing
periods as None), alone and batched; and direct cases with values worked out by hand
(percentiles, trimmed means, units, sample counts, missing periods and series, errors).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.golden.frame import duration, read
from tests.metrics_golden import T0, Metrics, query_of
from vigil.model.metrics import MetricColumns, PointKind
from vigil.query.metrics import (
    Fetch,
    MetricSpec,
    QueryError,
    align_start,
    exact_series,
    exact_series_many,
    get_metric_data,
    series_key,
)
from vigil.query.metrics.windows import (
    Datapoint,
    MetricStat,
    Window,
    statistic_windows,
    statistic_windows_batch,
)
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

GOLDEN = Path(__file__).parent / "golden" / "metrics"
# errors.test holds only requests GetMetricData refuses: no values to compare.
FILES = sorted(p for p in GOLDEN.glob("*.test") if p.stem != "errors")
NOW = T0 + 7200
LATENCY = MetricSpec("App", "Latency", (("Host", "a"),))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("windows") / "ch"))
    migrate(s)
    cols = MetricColumns()

    def add(metric: MetricSpec, offset: int, value: float, unit: str = "Milliseconds") -> None:
        cols.add(
            tenant="direct",
            namespace=metric.namespace,
            name=metric.name,
            dimensions=list(metric.dimensions),
            unit=unit,
            timestamp=(T0 + offset) * 10**9,
            resolution=60,
            metric_type="cloudwatch",
            kind=PointKind.SAMPLE,
            value=value,
            count=1.0,
        )

    # Period [0, 60): 1..100 ms; [60, 120): nothing; [120, 180): 5 ms and 2 s (two units).
    for v in range(1, 101):
        add(LATENCY, 10, float(v))
    add(LATENCY, 130, 5.0)
    add(LATENCY, 140, 2.0, unit="Seconds")
    # Another series of the same metric name: its data must not leak into LATENCY's.
    add(MetricSpec("App", "Latency", (("Host", "b"),)), 10, 1000.0)
    s.insert("metrics", cols.to_arrow())
    yield s
    s.close()


def fetch(store: ClickHouseStore, tenant: str = "direct", now: int = NOW) -> Fetch:
    return Fetch(store, MetricRetention(), tenant, now)


def window(statistic: str, periods: int = 3, end: int = T0 + 180, **kw: object) -> Window:
    return Window(MetricStat(LATENCY, statistic, **kw), 60, periods, end)  # type: ignore[arg-type]


def both(store: ClickHouseStore, w: Window) -> list[Datapoint]:
    """The window alone and batched (with a neighbour); both must agree."""
    f = fetch(store)
    alone = asyncio.run(statistic_windows(f, w.stat, w.period, w.periods, w.end))
    other = Window(MetricStat(LATENCY, "Sum"), 60, 1, T0 + 60)
    batched = asyncio.run(statistic_windows_batch(f, [other, w]))
    assert batched[1] == alone
    assert batched[0] == [Datapoint(T0, 5050.0, 100.0)]
    return alone


def test_aggregates_missing_periods_and_sample_counts(store: ClickHouseStore) -> None:
    # Without a unit, data of every unit counts (as GetMetricData without Unit).
    assert both(store, window("Average")) == [
        Datapoint(T0, 50.5, 100.0),
        Datapoint(T0 + 60, None, 0.0),
        Datapoint(T0 + 120, 3.5, 2.0),
    ]
    assert [p.value for p in both(store, window("Maximum"))] == [100.0, None, 5.0]
    assert [p.value for p in both(store, window("SampleCount"))] == [100.0, None, 2.0]


def test_percentiles_and_trimmed_means(store: ClickHouseStore) -> None:
    assert [p.value for p in both(store, window("p99"))] == [99.0, None, 5.0]
    assert [p.value for p in both(store, window("p50", periods=1, end=T0 + 60))] == [50.0]
    # tm90 drops the highest 10 %: the mean of 1..90.
    assert [p.value for p in both(store, window("tm90", periods=1, end=T0 + 60))] == [45.5]
    assert [p.value for p in both(store, window("PR(:10)", periods=1, end=T0 + 60))] == [10.0]
    assert [p.sample_count for p in both(store, window("p99"))] == [100.0, 0.0, 2.0]


def test_units_filter_the_data(store: ClickHouseStore) -> None:
    points = both(store, window("Sum", unit="Seconds"))
    assert points == [
        Datapoint(T0, None, 0.0),
        Datapoint(T0 + 60, None, 0.0),
        Datapoint(T0 + 120, 2.0, 1.0),
    ]
    assert [p.value for p in both(store, window("p99", unit="Milliseconds"))] == [99.0, None, 5.0]
    assert [p.value for p in both(store, window("Sum", unit="Bytes"))] == [None, None, None]


def test_window_ends_anywhere_and_missing_series(store: ClickHouseStore) -> None:
    # An end off the minute: periods [30, 90) (no data) and [90, 150) (5 ms and 2 s).
    assert [p.value for p in both(store, window("Sum", periods=2, end=T0 + 150))] == [
        None,
        7.0,
    ]
    assert [p.timestamp for p in both(store, window("Sum", periods=2, end=T0 + 150))] == [
        T0 + 30,
        T0 + 90,
    ]
    nothing = Window(MetricStat(MetricSpec("App", "Latency", (("Host", "z"),)), "p99"), 60, 2, T0)
    f = fetch(store)
    expected = [Datapoint(T0 - 120, None, 0.0), Datapoint(T0 - 60, None, 0.0)]
    assert asyncio.run(statistic_windows_batch(f, [nothing])) == [expected]
    assert asyncio.run(statistic_windows(f, nothing.stat, 60, 2, T0)) == expected
    assert asyncio.run(statistic_windows_batch(f, [])) == []


@pytest.mark.parametrize(
    ("statistic", "period", "periods", "message"),
    [
        ("p101", 60, 1, "not valid"),
        ("Mean", 60, 1, "not valid"),
        ("Sum", 45, 1, "multiple of 60"),
        ("Sum", 60, 0, "at least 1"),
    ],
)
def test_invalid_windows_are_refused(
    store: ClickHouseStore, statistic: str, period: int, periods: int, message: str
) -> None:
    f = fetch(store)
    w = Window(MetricStat(LATENCY, statistic), period, periods, T0 + 180)
    with pytest.raises(QueryError, match=message) as err:
        asyncio.run(statistic_windows_batch(f, [w]))
    assert err.value.code == "InvalidParameterValue"
    with pytest.raises(QueryError, match=message):
        asyncio.run(statistic_windows(f, w.stat, period, periods, w.end))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_windows_give_get_metric_data_values(store: ClickHouseStore, path: Path) -> None:
    """Every metric statistic of the golden files, as a window, alone and all batched."""
    tenant = "w_" + re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    blocks = read(path)
    loader = Metrics(store, tenant)
    cases = []
    for i, block in enumerate(blocks):
        if block.verb == "load":
            loader.load(block)
        elif block.verb == "eval":
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            if after is None or after.verb != "expect" or after.error is None:
                cases.append(block)
    if len(loader.points):
        store.insert("metrics", loader.points.to_arrow())
    # Windows grouped by the engine's clock ("at T" of the eval): one batch per clock.
    groups: dict[int, list[tuple[Window, list[tuple[int, float | None]]]]] = {}
    for case in cases:
        now = T0 + int(duration(case.at or "0"))
        f = Fetch(store, MetricRetention(), tenant, now)
        for line in case.body:
            query = query_of(line, case)
            if query.metric is None or query.period is None or query.stat is None:
                continue
            period = query.period
            start = align_start(T0 + int(case.options["start"]), f.now, period)
            periods = (T0 + int(case.options["end"]) - start) // period
            if periods < 1:
                continue
            end = start + periods * period
            asked = replace(query, id="q", return_data=True, label=None)
            (result,) = asyncio.run(get_metric_data(f, [asked], start, end))
            got = dict(zip(result.timestamps, result.values, strict=True))
            window = Window(MetricStat(query.metric, query.stat, query.unit), period, periods, end)
            want = [(start + j * period, got.get(start + j * period)) for j in range(periods)]
            groups.setdefault(now, []).append((window, want))
    assert groups, f"{path.name}: no metric statistic to ask"
    for now, asked_windows in groups.items():
        f = Fetch(store, MetricRetention(), tenant, now)
        batched = asyncio.run(statistic_windows_batch(f, [w for w, _ in asked_windows]))
        for (w, want), many in zip(asked_windows, batched, strict=True):
            alone = asyncio.run(statistic_windows(f, w.stat, w.period, w.periods, w.end))
            assert alone == many, w
            assert [p.timestamp for p in alone] == [t for t, _ in want], w
            for point, (_, value) in zip(alone, want, strict=True):
                if value is None:
                    assert point.value is None, (w, point)
                else:
                    assert point.value is not None, (w, point)
                    assert math.isclose(point.value, value), (w, point)
                    assert point.sample_count > 0, (w, point)


def test_exact_series_many_finds_exactly_the_dimensions_asked(store: ClickHouseStore) -> None:
    """The batched lookup (dashboards' widgets, alarms' series ids) finds what
    ``exact_series`` finds for each metric: not a series with fewer, more or other
    dimensions, nor one of another namespace, name or tenant."""
    host_b = MetricSpec("App", "Latency", (("Host", "b"),))
    asked = [
        LATENCY,
        host_b,
        MetricSpec("App", "Latency"),  # no dimensions: no such series
        MetricSpec("App", "Latency", (("Host", "a"), ("Zone", "1"))),
        MetricSpec("App", "Latency", (("Host", "z"),)),
        MetricSpec("Other", "Latency", (("Host", "a"),)),
        MetricSpec("App", "Errors", (("Host", "a"),)),
    ]
    found = asyncio.run(exact_series_many(store, "direct", asked))
    one = [asyncio.run(exact_series(store, "direct", m)) for m in (LATENCY, host_b)]
    assert one[0] is not None
    assert one[1] is not None
    assert found == {series_key(LATENCY): one[0][0], series_key(host_b): one[1][0]}
    assert asyncio.run(exact_series_many(store, "another", [LATENCY])) == {}
    assert asyncio.run(exact_series_many(store, "direct", [])) == {}
