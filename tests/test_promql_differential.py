"""The PromQL differential suite: golden files in tests/golden/promql/, every query asked of
vigil and of a real Prometheus 2.42 over the same samples (kinds in tests/promql_golden.py).
Known differences are listed in tests/golden/promql/README.md and README.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import promql_peer as prometheus_peer
from tests.golden.frame import Frame
from tests.promql_golden import PromQLDiff
from tests.runtime import InProcessVigil

GOLDEN = Path(__file__).parent / "golden" / "promql"
FILES = sorted(GOLDEN.glob("*.test"))

pytestmark = pytest.mark.skipif(
    not prometheus_peer.available(), reason="Debian prometheus is not installed (make peers)"
)


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    v = InProcessVigil(tmp_path_factory.mktemp("promql")).start()
    yield v
    v.stop()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_differential(vigil: InProcessVigil, path: Path) -> None:
    diff = PromQLDiff(vigil, tenant=path.stem.replace("_", "-"))
    try:
        assert Frame().register("promql", diff).run(path) > 0, f"{path} has no eval"
    finally:
        diff.close()
    assert diff.queries > 0
