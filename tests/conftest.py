from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser, console, page  # noqa: F401 - the UI tests' fixtures
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="session")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    """One server shared by the tests that only add data of their own and read it back."""
    # Without vigil watching itself: its own metrics and log group would show up in the
    # listings these tests compare (tests/test_selfwatch.py starts its own server).
    server = VigilProcess(tmp_path_factory.mktemp("shared") / "data", "--no-self-metrics").start()
    yield server
    assert server.stop() == 0, server.log_text()[-3000:]


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
