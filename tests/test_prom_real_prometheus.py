"""Acceptance: a real Prometheus (Debian's 2.42, remote write 1.0) scrapes a node-style
exporter endpoint served by the test and remote-writes to vigil; the series, their labels
and metadata are then readable through ``/api/v1/metrics/series``, ``GetMetricData`` and
the metadata reader. Real time here (Prometheus runs on its own clock): the test polls."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.prom_exporter import Exporter
from tests.prometheus_peer import BINARY, PrometheusPeer
from tests.runtime import InProcessVigil
from vigil.store.prometheus import read_metadata

pytestmark = pytest.mark.skipif(
    not Path(BINARY).exists(), reason="Debian prometheus is not installed (make peers)"
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[InProcessVigil, Exporter, PrometheusPeer]]:
    exporter = Exporter()
    vigil = InProcessVigil(tmp_path / "data", "--no-self-metrics").start()
    config = textwrap.dedent(
        f"""
        global: {{scrape_interval: 1s, scrape_timeout: 1s}}
        scrape_configs:
          - job_name: node
            static_configs: [{{targets: ['{exporter.address}'], labels: {{site: lab}}}}]
        remote_write:
          - url: {vigil.url}/prometheus/api/v1/write
            remote_timeout: 10s
            queue_config: {{batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}}
            metadata_config: {{send: true, send_interval: 1s}}
        """
    )
    prometheus = PrometheusPeer(tmp_path / "prometheus", config).wait_ready()
    try:
        yield vigil, exporter, prometheus
    finally:
        prometheus.stop()
        vigil.stop()
        exporter.stop()


def _series(vigil: InProcessVigil, name: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{vigil.url}/api/v1/metrics/series",
        params={"namespace": "prometheus", "name": name},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["series"])


def test_prometheus_remote_writes_what_it_scrapes(
    setup: tuple[InProcessVigil, Exporter, PrometheusPeer],
) -> None:
    vigil, exporter, prometheus = setup
    want = {"node_cpu_seconds_total", "up", "node_memory_MemAvailable_bytes"}
    deadline = time.monotonic() + 90
    found: dict[str, list[dict[str, Any]]] = {}
    meta: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = {name: _series(vigil, name) for name in want}
        meta = vigil.call(lambda r: read_metadata(r.core.store, "default"))  # type: ignore[union-attr]
        if all(found.values()) and "node_cpu_seconds_total" in meta:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"series did not arrive: {found}, {meta}; log: {prometheus.log()[-3000:]}")
    instance = exporter.address
    dims = sorted(tuple(sorted(s["dimensions"].items())) for s in found["node_cpu_seconds_total"])
    assert dims == [
        (("cpu", "0"), ("instance", instance), ("job", "node"), ("mode", "idle"), ("site", "lab")),
        (("cpu", "0"), ("instance", instance), ("job", "node"), ("mode", "user"), ("site", "lab")),
    ]
    assert [s["dimensions"] for s in found["up"]] == [
        {"instance": instance, "job": "node", "site": "lab"}
    ]
    assert meta["node_cpu_seconds_total"] == [
        {"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": ""}
    ]
    assert meta["http_request_duration_seconds"][0]["type"] == "histogram"
    assert {
        s["dimensions"]["le"] for s in _series(vigil, "http_request_duration_seconds_bucket")
    } == {
        "0.1",
        "0.5",
        "+Inf",
    }

    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    now = time.time()
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "idle",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "prometheus",
                        "MetricName": "node_cpu_seconds_total",
                        "Dimensions": [
                            {"Name": "cpu", "Value": "0"},
                            {"Name": "instance", "Value": instance},
                            {"Name": "job", "Value": "node"},
                            {"Name": "mode", "Value": "idle"},
                            {"Name": "site", "Value": "lab"},
                        ],
                    },
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - 3600,
        EndTime=now + 60,
    )
    cw.close()
    assert result["MetricDataResults"][0]["Values"] == [1000.5]
    # Every batch was taken: Prometheus logged no refused (non-recoverable) or failed send.
    log = prometheus.log()
    assert "non-recoverable" not in log
    assert "Failed to send" not in log
