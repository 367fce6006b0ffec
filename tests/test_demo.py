"""``vigil demo`` against a vigil process: every signal arrives and both dashboards exist."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.vigil_process import VigilProcess
from vigil import demo_dashboards as design


@pytest.fixture
def vigil(tmp_path: Path) -> Iterator[VigilProcess]:
    """A server of its own: the demo's data would show in other tests' dashboards."""
    server = VigilProcess(tmp_path / "data").start()
    yield server
    assert server.stop() == 0, server.log_text()[-3000:]


def test_demo_feeds_every_signal_and_creates_the_dashboards(vigil: VigilProcess) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "demo", "--url", vigil.url, "--minutes", "15", "--once"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "DataPipeline-Platform" in done.stdout
    with httpx.Client(base_url=vigil.url, timeout=120) as http:
        names = {d["name"] for d in http.get("/api/v1/dashboards").json()["dashboards"]}
        assert set(design.bodies()) <= names
        deadline = time.monotonic() + 30
        while True:
            metrics = http.post(
                "/api/v1/metrics/query",
                json={
                    "start": "now-20m",
                    "queries": [
                        {
                            "id": "q",
                            "namespace": design.NAMESPACE,
                            "name": "DataQualityScore",
                            "stat": "Minimum",
                            "period": 60,
                            "dimensions": {"Pipeline": "orders"},
                        }
                    ],
                },
            ).json()["results"][0]
            logs = http.get(
                "/api/v1/logs",
                params={"group": design.ERROR_LOG_GROUP, "start": "now-20m", "q": "ERROR"},
            ).json()["logs"]
            traces = http.get(
                "/api/v1/traces", params={"service": design.FUNCTION, "start": "now-20m"}
            ).json()["traces"]
            if len(metrics["values"]) >= 15 and logs and traces:
                break
            assert time.monotonic() < deadline, (metrics, len(logs), len(traces))
            time.sleep(0.3)
    # The anomaly: one minute whose quality score drops far below the others.
    assert min(metrics["values"]) < 85 < sorted(metrics["values"])[1]
    assert any('"level": "ERROR"' in line["body"] for line in logs)


def test_demo_says_what_failed_when_vigil_is_not_there() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "demo", "--url", "http://127.0.0.1:9", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("vigil demo:")
