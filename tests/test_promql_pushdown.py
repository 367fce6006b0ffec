"""``op by (…) (rate|increase|delta(x[r]))`` computed in the store (query/promql/pushdown.py)
gives the general evaluator's answers on what the Prometheus differential suite cannot
load: two rows of one series in one millisecond (sub-millisecond timestamps), irregular
gaps, negative values, resets — over the real store, for every function, operator,
grouping, and windows that are shorter, equal to and longer than the step, with offsets.
(Non-finite values — NaN, staleness markers — are not stored: remote write skips them and
the store refuses them, so there is nothing of theirs to compare.)"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import pytest

from tests.runtime import InProcessVigil
from vigil.model.metrics import MetricColumns, PointKind
from vigil.query import promql
from vigil.query.promql import _windows, pushdown, sql
from vigil.query.promql.errors import TooManySamples
from vigil.query.promql.pushdown import WindowAggregate, aggregate_windows
from vigil.query.promql.sql import LabelMatcher, select
from vigil.query.promql.values import Samples, Vector

# Yesterday's midnight (ms): vigil keeps standard-resolution points 15 days.
T0 = (int(time.time()) // 86400 * 86400 - 86400) * 1000


def _points(rng: random.Random) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    t, v = T0 + rng.randrange(0, 20_000), rng.uniform(-5, 50)
    while t < T0 + 3_600_000:
        r = rng.random()
        if r < 0.05:
            v = rng.uniform(0, 5)  # a counter reset
            out.append((t, v))
        else:
            v += rng.choice([0.0, rng.uniform(0, 20)])
            out.append((t, v))
        if rng.random() < 0.05:
            out.append((t + rng.choice([0, 1]), v + 1))  # same ms, or the next one
        t += rng.choice([15_000, 15_000, 15_000, 30_000, 7_000, 120_000, 600_000])
    return out


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    v = InProcessVigil(tmp_path_factory.mktemp("pushdown")).start()
    rng = random.Random(15)
    cols = MetricColumns()
    for i in range(24):
        dims = [("instance", f"i{i}"), ("job", f"j{i % 3}")] + ([("zone", "z")] if i % 4 else [])
        for k, (t, value) in enumerate(_points(rng)):
            cols.add(
                tenant="pushdown",
                namespace="prometheus",
                name="reqs_total",
                dimensions=dims,
                unit="None",
                # Sub-millisecond parts: rows of one millisecond keep their written order.
                timestamp=t * 1_000_000 + k % 1000,
                kind=PointKind.SAMPLE,
                value=value,
            )

    # A metric whose rows are not all plain samples: statistic sets (PromQL shows their
    # mean) and converted OTLP cumulative sums (the cumulative value), beside plain ones.
    for i in range(6):
        for k, (t, value) in enumerate(_points(rng)):
            # (kind, the value column, the other columns): PromQL sees ``value`` each time.
            kind, stored, extra = [
                (PointKind.SAMPLE, value, {}),
                (PointKind.STATS, value * 4, {"count": 4.0}),
                (
                    PointKind.SAMPLE,
                    value - 3,  # a delta, not what PromQL shows
                    {"metric_type": "sum", "stream_id": 7 + i, "cumulative": value},
                ),
            ][(i + k) % 3]
            cols.add(
                tenant="pushdown",
                namespace="prometheus",
                name="mixed_total",
                dimensions=[("instance", f"i{i}"), ("job", f"j{i % 2}")],
                unit="None",
                timestamp=t * 1_000_000,
                kind=kind,
                value=stored,
                **extra,  # type: ignore[arg-type]
            )

    async def write(runtime: Any) -> None:
        await runtime.core.writer.write({"metrics": cols.to_arrow()})

    v.call(write)
    yield v
    v.stop()


def _sources(
    vigil: InProcessVigil, calls: list[WindowAggregate], limit: int = 10_000_000
) -> tuple[Any, Any]:
    loop = vigil._loop
    assert loop is not None
    core = vigil.runtime.core
    assert core is not None
    store = core.store

    def fetch(matchers: Sequence[LabelMatcher], start: int, end: int) -> list[Samples]:
        coro = select(store, "pushdown", matchers, start, end, 10_000_000)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def reduce(matchers: Sequence[LabelMatcher], spec: WindowAggregate) -> Vector | None:
        calls.append(spec)
        coro = aggregate_windows(store, "pushdown", matchers, spec, limit)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    return fetch, reduce


QUERIES = [
    f"{op} {grouping} ({fn}(reqs_total[{rng}]{offset}))"
    for fn in ("rate", "increase", "delta")
    for op in ("sum", "avg", "count", "min", "max")
    for grouping in ("", "by (job)", "without (instance)", "by (zone, job)")
    for rng, offset in (("1m", ""), ("45s", ""), ("5m", " offset 2m"), ("20s", ""))
] + [
    # Matchers on other labels than the name: the series are listed in the read.
    'sum by (job) (rate(reqs_total{job!="j0"}[1m]))',
    'max(increase({__name__="reqs_total", zone="z"}[5m]))',
    'avg without (instance) (delta(reqs_total{instance=~"i1.*"}[45s]))',
]


@pytest.mark.parametrize("step_s", [60, 15, 100])
def test_pushdown_equals_general_path(vigil: InProcessVigil, step_s: int) -> None:
    calls: list[WindowAggregate] = []
    fetch, reduce = _sources(vigil, calls)
    start, end = T0 // 1000 + 120, T0 // 1000 + 3_500
    for q in QUERIES:
        args = (q, start * 1000, end * 1000, step_s * 1000, fetch)
        general = promql.range_(*args)
        pushed = promql.range_(*args, reduce=reduce)
        _same(pushed, general, q)
        assert general["result"], q
    assert len(calls) == len(QUERIES)  # every query took the pushdown


@pytest.mark.parametrize("step_s", [60, 100])
def test_kernel_over_samples_read_equals_general_path(vigil: InProcessVigil, step_s: int) -> None:
    # When ``reduce`` declines (as it does for an OTLP histogram's virtual series), the
    # evaluator folds the samples it read with the same kernel
    # (``pushdown.aggregate_samples``) instead of a Vector per series.
    calls: list[WindowAggregate] = []
    fetch, _ = _sources(vigil, [])

    def declines(matchers: Sequence[LabelMatcher], spec: WindowAggregate) -> Vector | None:
        calls.append(spec)
        return None

    folded: list[WindowAggregate] = []
    real = pushdown.aggregate_samples

    def spy(series: list[Samples], spec: WindowAggregate) -> Vector | None:
        folded.append(spec)
        return real(series, spec)

    start, end = T0 // 1000 + 120, T0 // 1000 + 3_500
    queries = [*QUERIES[::3], "sum by (job) (rate(mixed_total[5m]))"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("vigil.query.promql.eval.aggregate_samples", spy)
        for q in queries:
            args = (q, start * 1000, end * 1000, step_s * 1000, fetch)
            general = promql.range_(*args)
            _same(promql.range_(*args, reduce=declines), general, q)
            assert general["result"], q
            t = T0 + 1_800_000
            _same(promql.instant(q, t, fetch, reduce=declines), promql.instant(q, t, fetch), q)
    assert len(calls) == len(folded) == 2 * len(queries)


def test_kernel_over_samples_read_leaves_the_sample_limit_to_the_general_path(
    vigil: InProcessVigil,
) -> None:
    fetch, _ = _sources(vigil, [])
    start, end = T0 // 1000 + 120, T0 // 1000 + 3_500
    q = "sum by (job) (rate(reqs_total[5m]))"
    limits = promql.Limits(max_samples=24 * 10)  # 24 series x 57 steps is over it
    with pytest.raises(TooManySamples):
        promql.range_(q, start * 1000, end * 1000, 60_000, fetch, limits, lambda m, s: None)


def test_in_two_halves(vigil: InProcessVigil, monkeypatch: pytest.MonkeyPatch) -> None:
    # Many series are read and folded in two halves (by series id) side by side; here
    # that is forced on the few series of the fixture.
    monkeypatch.setattr(pushdown, "_SPLIT_MIN", 1)
    calls: list[WindowAggregate] = []
    fetch, reduce = _sources(vigil, calls)
    start, end = T0 // 1000 + 120, T0 // 1000 + 3_500
    for q in QUERIES[::7]:
        args = (q, start * 1000, end * 1000, 60_000, fetch)
        _same(promql.range_(*args, reduce=reduce), promql.range_(*args), q)
    assert len(calls) == len(QUERIES[::7])


def test_rows_that_are_not_plain_samples(vigil: InProcessVigil) -> None:
    # The pushdown reads ``value`` alone when every row read is a plain sample; here some
    # are not, and the answers are still the general path's.
    calls: list[WindowAggregate] = []
    fetch, reduce = _sources(vigil, calls)
    start, end = T0 // 1000 + 120, T0 // 1000 + 3_500
    for q in ("sum by (job) (rate(mixed_total[5m]))", "avg(delta(mixed_total[2m]))"):
        args = (q, start * 1000, end * 1000, 60_000, fetch)
        general = promql.range_(*args)
        _same(promql.range_(*args, reduce=reduce), general, q)
        assert general["result"], q
    assert len(calls) == 2


def test_general_path_reads_plain_value_only_when_every_row_is_plain(
    vigil: InProcessVigil, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``sql.select`` (the general path) shares the pushdown's check (``sql.value_sql``):
    # ``value`` alone for a read of plain samples, ``VALUE_SQL`` when a row is a statistic
    # set or a converted cumulative sum; the samples are those ``VALUE_SQL`` shows.
    loop = vigil._loop
    core = vigil.runtime.core
    assert loop is not None
    assert core is not None
    chosen: list[str] = []
    shared = sql.value_sql

    async def recording(*args: Any, **kwargs: Any) -> str:
        chosen.append(await shared(*args, **kwargs))
        return chosen[-1]

    async def always(*args: Any, **kwargs: Any) -> str:
        return sql.VALUE_SQL

    def read(name: str) -> list[Samples]:
        coro = select(core.store, "pushdown", [LabelMatcher("__name__", "=", name)],
                      T0, T0 + 3_600_000, 10_000_000)  # fmt: skip
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    for name, expected in (("reqs_total", "value"), ("mixed_total", sql.VALUE_SQL)):
        monkeypatch.setattr(sql, "value_sql", recording)
        got = read(name)
        assert chosen[-1] == expected, name
        monkeypatch.setattr(sql, "value_sql", always)
        want = read(name)
        assert [s.labels for s in got] == [s.labels for s in want]
        assert len(got) > 0
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a.times, b.times)
            np.testing.assert_array_equal(a.values, b.values)


def test_instant_queries_and_the_general_path_for_other_shapes(vigil: InProcessVigil) -> None:
    calls: list[WindowAggregate] = []
    fetch, reduce = _sources(vigil, calls)
    at = f"sum by (job) (rate(reqs_total[5m] @ {T0 // 1000 + 1800}))"
    for q in [*QUERIES[:12], at]:
        for t in (T0 + 300_000, T0 + 1_800_000, T0 + 3_599_999):
            general = promql.instant(q, t, fetch)
            pushed = promql.instant(q, t, fetch, reduce=reduce)
            _same(pushed, general, q)
    assert len(calls) == 12 * 3  # `@` takes the general path


def _same(pushed: dict[str, Any], general: dict[str, Any], q: str) -> None:
    a, b = _series(pushed), _series(general)
    assert a.keys() == b.keys(), q
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-9, nan_ok=True), (q, key)


def _series(data: dict[str, Any]) -> dict[str, list[float]]:
    out = {}
    for item in data["result"]:
        points = item.get("values") or [item["value"]]
        out[str(sorted(item["metric"].items()))] = [
            float(v) if i % 2 else float(t) for t, v in points for i in (0, 1)
        ]
    return out


def test_over_the_sample_limit_the_general_path_decides(vigil: InProcessVigil) -> None:
    # 24 series × 57 steps of rate() is over 500: the general path refuses the query on the
    # rate's size; the pushdown (whose own result is 57 values) declines, so the same error.
    calls: list[WindowAggregate] = []
    fetch, reduce = _sources(vigil, calls, limit=500)
    args = ("sum(rate(reqs_total[1m]))", T0 + 120_000, T0 + 3_480_000, 60_000, fetch)
    with pytest.raises(TooManySamples):
        promql.range_(*args, promql.Limits(max_samples=500))
    with pytest.raises(TooManySamples):
        promql.range_(*args, promql.Limits(max_samples=500), reduce=reduce)
    assert len(calls) == 1


def test_the_kernel_alone() -> None:
    # One counter sampled each minute with a reset, handed over in two pieces (as from two
    # parts) in two chunks, one of them shared with another series' piece, two samples in
    # one millisecond (the later nanosecond wins), a one-sample series that never has a
    # value, and bad input refused.
    ms = 1_000_000
    t0 = np.array([120_000, 180_000, 180_000, 5_000], dtype=np.int64) * ms
    t0[2] += 1  # the same millisecond, a nanosecond later
    t1 = np.array([240_000, 0, 60_000], dtype=np.int64) * ms
    v0, v1 = np.array([120.0, 30.0, 40.0, 7.0]), np.array([100.0, 0.0, 60.0])
    i64 = partial(np.array, dtype=np.int64)
    # Series 0: pieces 0 (chunk 0, rows 0-2) and 1 (chunk 1); series 1: piece 2.
    pieces = ([t0, t1], [v0, v1], i64([0, 1, 0]), i64([0, 0, 3]), i64([3, 3, 4]), i64([0, 2, 3]))
    gids = np.array([0, 1], dtype=np.uint32)
    order = i64([1, 0])
    total, count = np.zeros((2, 3)), np.zeros((2, 3))
    # Windows of 2 minutes ending at 2, 3 and 4 minutes; fn 1 = increase, fold 0 = add.
    _windows.windows(*pieces, gids, order, 120_000, 60_000, 120_000, 3, 1, 0, total, count)
    # [0, 2m]: 0, 60, 120 → 120. [1m, 3m]: 60, 120, 40 (reset: +120) → 100.
    # [2m, 4m]: 120, 40, 100 → reset +120 → 100.
    assert total[0].tolist() == [120.0, 100.0, 100.0]
    assert count.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    # Folding by the least (1) and the greatest (2): another counter in the same group
    # (a third chunk), whose increases are 30 (from zero: not extrapolated below it), 60, 60.
    t2 = np.array([60_000, 120_000, 180_000, 240_000], dtype=np.int64) * ms
    v2 = np.array([0.0, 30.0, 60.0, 90.0])
    two = ([t0, t1, t2], [v0, v1, v2], i64([0, 1, 2]), i64([0, 0, 0]), i64([3, 3, 4]))
    for fold, want in ((1, [30.0, 60.0, 60.0]), (2, [120.0, 100.0, 100.0])):
        folded, n = np.zeros((1, 3)), np.zeros((1, 3))
        one_group, spec = np.zeros(2, dtype=np.uint32), (120_000, 60_000, 120_000, 3, 1, fold)
        _windows.windows(*two, i64([0, 2, 3]), one_group, order, *spec, folded, n)
        assert (folded.tolist(), n.tolist()) == ([want], [[2.0, 2.0, 2.0]])
    grid = (0, 60_000, 60_000)
    out = (total, count)
    ragged = ([t0, t1], [v0, v1[:2]], *pieces[2:])
    with pytest.raises(ValueError, match="ragged"):
        _windows.windows(*ragged, gids, order, *grid, 3, 0, 0, *out)
    outside = (*pieces[:4], i64([3, 3, 5]), pieces[5])
    with pytest.raises(ValueError, match="piece outside"):
        _windows.windows(*outside, gids, order, *grid, 3, 0, 0, *out)
    bad = np.array([0, 5], dtype=np.uint32)
    with pytest.raises(ValueError, match="group"):
        _windows.windows(*pieces, bad, order, *grid, 3, 0, 0, *out)
    with pytest.raises(ValueError, match="order outside"):
        _windows.windows(*pieces, gids, order + 1, *grid, 3, 0, 0, *out)
    with pytest.raises(ValueError, match="grid"):
        _windows.windows(*pieces, gids, order, *grid, 9, 0, 0, *out)
