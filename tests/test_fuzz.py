"""The short fuzz run of ``make test`` (issue 18): hypothesis draws the seeds of every
protocol's hostile-request generator (tests/fuzz), a fresh vigil process answers, and each
answer must be a 2xx or a 4xx in the protocol's shape, with no 5xx, no hang past the bound
and no store text; afterwards the process is alive and the data written first is intact.
The long run is ``bench/fuzz.py`` (counts in bench/RESULTS.md)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.oracle import Canary, Fuzzer, check_canary, write_canary
from tests.fuzz.targets import PROTOCOLS, Context
from tests.vigil_process import VigilProcess

# Examples per protocol: 16 protocols x 50 keep the run about a minute.
EXAMPLES = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    process = VigilProcess(tmp_path_factory.mktemp("fuzz") / "data").start()
    yield process
    assert process.stop() == 0, process.log_text()[-3000:]


@pytest.fixture(scope="module")
def canary(server: VigilProcess) -> Canary:
    return write_canary(server.url)


@pytest.fixture(scope="module")
def fuzzer(server: VigilProcess) -> Iterator[Fuzzer]:
    fuzz = Fuzzer(server.url, server.otlp_http_url, bound=10.0, grpc_target=server.grpc_target)
    yield fuzz
    fuzz.close()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_hostile_inputs_answer_2xx_or_4xx(
    protocol: str, fuzzer: Fuzzer, canary: Canary, server: VigilProcess
) -> None:
    ctx = Context(canary)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(seed=st.integers(min_value=0, max_value=2**32 - 1))
    def probe(seed: int) -> None:
        finding = fuzzer.run(PROTOCOLS[protocol](random.Random(seed), ctx))
        assert finding is None, (finding, _log_tail(server.data_dir))

    probe()


def test_process_alive_and_canary_intact(
    fuzzer: Fuzzer, canary: Canary, server: VigilProcess
) -> None:
    """Runs after the protocols above (file order): nothing they sent broke earlier data."""
    assert fuzzer.total().sent >= EXAMPLES * len(PROTOCOLS)
    assert fuzzer.alive()
    assert check_canary(server.url, canary) is None


def _log_tail(data_dir: Path) -> str:
    path = data_dir / "vigil.log"
    return path.read_text()[-2000:] if path.exists() else ""
