"""Golden files of Metrics Insights: points in, GetMetricData queries whose Expression is
a Metrics Insights query through the engine against a real store, results out (the
``series``/``metrics`` kinds of tests/metrics_golden.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.golden.frame import Frame
from tests.metrics_golden import Metrics
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

GOLDEN = Path(__file__).parent / "golden" / "metrics_insights"
FILES = sorted(GOLDEN.glob("*.test"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("golden") / "ch"))
    migrate(s)
    yield s
    s.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(store: ClickHouseStore, path: Path) -> None:
    metrics = Metrics(store, tenant=re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem))
    frame = Frame().register("series", metrics).register("metrics", metrics)
    assert frame.run(path) > 0, f"{path} has no eval"
