"""Golden files: points in, GetMetricData queries through the engine against a real store,
expected timestamps and values out (tests/golden/README.md; kinds in tests/metrics_golden.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.golden.frame import Frame
from tests.metrics_golden import Metrics
from vigil.query.metricmath.functions import default_functions
from vigil.rules.alarms.band import band_functions
from vigil.rules.alarms.batch import Models
from vigil.rules.alarms.fetch import MetricReader
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
    # The functions GetMetricData has in the server: the defaults plus the anomaly band,
    # read from the alarms' models over the same store at the eval's clock.
    functions = default_functions()
    metrics = Metrics(store, re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem), functions)
    reader = MetricReader(store, MetricRetention(), lambda: metrics.now, functions)
    for spec in band_functions(Models(reader)):
        functions.register(spec)
    frame = Frame().register("series", metrics).register("metrics", metrics)
    assert frame.run(path) > 0, f"{path} has no eval"
