"""vigil-server-sdk installs alone, light, and works against a server (issue 16).

The SDK wheel is built from sdk/pyproject.toml (over a copy of the tree it names, so the
build leaves nothing in the repository), installed into a fresh virtual environment with
pip — its dependencies come from the package index or pip's cache, nothing from this
repository's environment — and a script there logs and puts a metric to a running vigil.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.vigil_process import VigilProcess

ROOT = Path(__file__).resolve().parent.parent
MAX_VENV_MB = 150  # the server's venv is over 1 GB (chDB alone 534 MB)

SCRIPT = """
import importlib.util, logging, sys
from vigil.sdk.logging import StructuredLogger, VigilHandler
from vigil.sdk.metrics import MetricsCollector
import vigil.sdk.tracing  # imports: the OpenTelemetry SDK is there

for heavy in ("chdb", "pyarrow", "vigil.server", "grpc"):
    assert importlib.util.find_spec(heavy) is None, heavy + " came with the SDK"
otlp, http, group = sys.argv[1:4]
handler = VigilHandler(otlp, service_name="sdk-app", log_group=group)
log = StructuredLogger("sdk-app", "INFO", handlers=[handler])
log.error("payment failed", order_id=7)
assert handler.wait_sent(30), "log not sent"
handler.close()
with MetricsCollector("SdkPackage", endpoint_url=http, region="us-east-1") as metrics:
    metrics.put_metric("Orders", 3, unit="Count")
    assert metrics.flush(), "metric not sent"
print("sent")
"""


def _venv_mb(venv: Path) -> float:
    return sum(p.stat().st_size for p in venv.rglob("*") if p.is_file()) / 2**20


@pytest.mark.slow
def test_the_sdk_installs_alone_and_sends(tmp_path: Path, vigil: VigilProcess) -> None:
    stage = tmp_path / "stage"
    shutil.copytree(ROOT / "sdk", stage / "sdk", ignore=shutil.ignore_patterns("build"))
    shutil.copytree(
        ROOT / "src" / "vigil" / "sdk",
        stage / "src" / "vigil" / "sdk",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(stage / "sdk")],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("vigil_server_sdk-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=600,
    )
    group = f"/sdk-package/{time.time_ns()}"
    done = subprocess.run(
        [str(python), "-c", SCRIPT, vigil.otlp_http_url, vigil.url, group],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # not the repository: nothing of src/ on the path
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sent"
    with httpx.Client(base_url=vigil.url, timeout=30) as http:
        (record,) = http.get("/api/v1/logs", params={"group": group}).json()["logs"]
        assert '"payment failed"' in record["body"]
        assert record["severity"] == "ERROR"
        series = http.get("/api/v1/metrics/series", params={"namespace": "SdkPackage"}).json()
        assert [s["name"] for s in series["series"]] == ["Orders"]
    size = _venv_mb(venv)
    print(f"vigil-server-sdk venv: {size:.0f} MB")
    assert size < MAX_VENV_MB, f"the SDK's venv is {size:.0f} MB"
