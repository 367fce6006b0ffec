"""Golden files: points in, GetMetricData queries through the engine against a real store,
expected timestamps and values out (tests/golden/metrics/README.md)."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.metrics_golden import T0, load
from vigil.query.metricdata import Fetch, QueryError, get_metric_data
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

GOLDEN = Path(__file__).parent / "golden" / "metrics"
FILES = sorted(GOLDEN.glob("*.test"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    # The one embedded store of this test process (chDB opens one path per process).
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("golden") / "ch"))
    migrate(s)
    yield s
    s.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(store: ClickHouseStore, path: Path) -> None:
    tenant = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    golden = load(path, tenant)
    if len(golden.points):
        store.insert("metrics", golden.points.to_arrow())
    fetch = Fetch(store, MetricRetention(), tenant, T0 + golden.now)
    for case in golden.cases:
        where = f"{path.name}:{case.line}"
        run = get_metric_data(fetch, case.queries, T0 + case.start, T0 + case.end)
        if case.expect.error is not None:
            with pytest.raises(QueryError) as err:
                asyncio.run(run)
            assert case.expect.error in f"{err.value.code}: {err.value.message}", where
            continue
        results = asyncio.run(run)
        got = [
            (r.id, r.label, [(t - T0, v) for t, v in zip(r.timestamps, r.values, strict=True)])
            for r in results
        ]
        assert [(g[0], g[1]) for g in got] == [(e[0], e[1]) for e in case.expect.results], where
        for (qid, _, points), (_, _, wanted) in zip(got, case.expect.results, strict=True):
            assert [t for t, _ in points] == [t for t, _ in wanted], f"{where} {qid} timestamps"
            for (t, value), (_, want) in zip(points, wanted, strict=True):
                assert math.isclose(value, want, rel_tol=case.expect.tolerance, abs_tol=1e-9), (
                    f"{where} {qid} at {t}: got {value}, expected {want}"
                )
