"""A real Prometheus (Debian's ``prometheus``, ``make peers``) for differential tests and
benches: samples in through ``promtool tsdb create-blocks-from openmetrics``, queries out
through its HTTP API.

``PrometheusPeer(samples).start()`` writes the samples as OpenMetrics text, builds TSDB
blocks from them, and starts ``prometheus`` on a free port over those blocks (no scraping,
retention long enough to keep them). Samples are ``(name, labels, [(t_seconds, value)])``.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

Series = tuple[str, dict[str, str], Sequence[tuple[float, float]]]


def available() -> bool:
    return Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()


def _free_port() -> int:
    # Prometheus cannot report a port chosen by the kernel; take one and hand it over.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _om_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(series: Iterable[Series]) -> str:
    lines: list[str] = []
    for name, labels, points in series:
        lbl = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        head = f"{name}{{{lbl}}}" if lbl else name
        lines.extend(f"{head} {_om_value(v)} {t:.3f}" for t, v in points)
    return "\n".join([*lines, "# EOF", ""])


class PrometheusPeer:
    def __init__(self, series: Iterable[Series], *flags: str) -> None:
        self.series = list(series)
        self.flags = flags
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-prometheus-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> PrometheusPeer:
        data = self.dir / "data"
        source = self.dir / "samples.om"
        source.write_text(openmetrics(self.series))
        subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        config = self.dir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        self.port = _free_port()
        with (self.dir / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=100y",
                    *self.flags,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.dir / "prometheus.log").read_text()[-2000:]
                raise RuntimeError(f"prometheus exited: {log_text}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1{path}", params=params, timeout=120)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
