"""Golden files: log events in, Contributor Insights reports computed in a real store out
(tests/golden/README.md; kinds in tests/contributors_golden.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contributors_golden import Contributors
from tests.golden.frame import Frame
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

GOLDEN = Path(__file__).parent / "golden" / "contributors"
FILES = sorted(GOLDEN.glob("*.test"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("golden") / "ch"))
    migrate(s)
    yield s
    s.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(store: ClickHouseStore, path: Path) -> None:
    kind = Contributors(store, tenant=re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem))
    frame = Frame().register("events", kind).register("contributors", kind)
    assert frame.run(path) > 0, f"{path} has no eval"
