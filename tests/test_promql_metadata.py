"""``/prometheus/api/v1/metadata``: Prometheus' own metadata where remote write (a real 2.0
request with metadata, over HTTP) or a scrape (``# HELP``/``# TYPE`` of a real exporter
endpoint) described the family, a type inferred from the store otherwise; ``metric``,
``limit`` and ``limit_per_metric`` as Prometheus answers them."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from typing import Any

import cramjam
import httpx
import pytest

from tests.prom_exporter import Exporter
from tests.runtime import InProcessVigil
from vigil.ingest.prom import proto
from vigil.model.metrics import MetricColumns, PointKind

V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns() // 10**9 * 10**9

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    exporter = Exporter()
    tmp = tmp_path_factory.mktemp("promql-metadata")
    config = tmp / "scrape.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            scrape_configs:
              - job_name: node
                static_configs: [{{targets: ['{exporter.address}']}}]
            """
        )
    )
    server = InProcessVigil(
        tmp / "data",
        "--no-self-metrics",
        "--scrape-config",
        str(config),
        clock=Clock(),
        manual_tasks=True,
    ).start()
    try:
        server.run_task("scrape:node")
        _remote_write(server)
        _otlp_like(server)
        yield server
    finally:
        server.stop()
        exporter.stop()


def _remote_write(vigil: InProcessVigil) -> None:
    t = time.time_ns() // 1_000_000 - 30_000
    symbols = [
        "",
        "__name__",
        "rw_jobs_total",
        "job",
        "api",
        "Jobs done.",
        "rw_wait_seconds_bucket",
    ]
    symbols += ["le", "0.5", "+Inf", "Time waiting.", "seconds", "rw_wait_seconds_count"]
    req = proto.RequestV2(symbols=symbols)
    jobs = req.timeseries.add(labels_refs=[1, 2, 3, 4])
    jobs.samples.add(value=7, timestamp=t)
    jobs.metadata.type = 1  # counter
    jobs.metadata.help_ref = 5
    for le_ref, value in ((8, 2.0), (9, 3.0)):
        bucket = req.timeseries.add(labels_refs=[1, 6, 3, 4, 7, le_ref])
        bucket.samples.add(value=value, timestamp=t)
        bucket.metadata.type = 3  # histogram
        bucket.metadata.help_ref = 10
        bucket.metadata.unit_ref = 11
    count = req.timeseries.add(labels_refs=[1, 12, 3, 4])
    count.samples.add(value=3, timestamp=t)
    count.metadata.type = 3
    count.metadata.help_ref = 10
    count.metadata.unit_ref = 11
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=cramjam.snappy.compress_raw(req.SerializeToString()).read(),
        headers={
            "Content-Type": V2_TYPE,
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "2.0.0",
        },
        timeout=30,
    )
    assert answer.status_code == 204, answer.text


def _otlp_like(vigil: InProcessVigil) -> None:
    """Series without Prometheus metadata: an OTLP counter, and one name stored by two
    services as a gauge and as a counter (two entries under one metric)."""
    cols = MetricColumns()
    now = time.time_ns() - 60 * 10**9
    for namespace, name, metric_type, stream in (
        ("shop", "orders.placed", "sum", 7),
        ("shop", "queue.depth", "gauge", 0),
        ("billing", "queue.depth", "sum", 9),
    ):
        cols.add(
            tenant="default",
            namespace=namespace,
            name=name,
            dimensions=[],
            unit="Count",
            timestamp=now,
            kind=PointKind.SAMPLE,
            value=1.0,
            metric_type=metric_type,
            stream_id=stream,
            cumulative=5.0,
        )
    cols.add(
        tenant="default",
        namespace="prometheus",
        name="bare_total",
        dimensions=[("job", "x")],
        unit="None",
        timestamp=now,
        kind=PointKind.SAMPLE,
        value=3.0,
        metric_type="prometheus",
    )

    async def write(runtime: Any) -> None:
        await runtime.core.writer.write({"metrics": cols.to_arrow()})

    vigil.call(write)


def _metadata(vigil: InProcessVigil, **params: Any) -> httpx.Response:
    return httpx.get(f"{vigil.url}/prometheus/api/v1/metadata", params=params, timeout=30)


def test_stored_metadata_wins_and_the_rest_is_inferred(vigil: InProcessVigil) -> None:
    answer = _metadata(vigil)
    assert answer.status_code == 200
    data = answer.json()["data"]
    # Scraped: the exposition's # HELP and # TYPE.
    assert data["node_cpu_seconds_total"] == [
        {"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": ""}
    ]
    assert data["http_request_duration_seconds"] == [
        {"type": "histogram", "help": "Request latency.", "unit": ""}
    ]
    # Remote write 2.0: per-series metadata, named by family.
    assert data["rw_jobs_total"] == [{"type": "counter", "help": "Jobs done.", "unit": ""}]
    assert data["rw_wait_seconds"] == [
        {"type": "histogram", "help": "Time waiting.", "unit": "seconds"}
    ]
    # A described family's series are not listed again under their own names.
    for series in ("rw_wait_seconds_bucket", "rw_wait_seconds_count"):
        assert series not in data
    for series in ("_bucket", "_sum", "_count"):
        assert "http_request_duration_seconds" + series not in data
    # Inferred: no Prometheus metadata was ever sent for these.
    assert data["orders_placed"] == [{"type": "counter", "help": "", "unit": "Count"}]
    assert data["bare_total"] == [{"type": "counter", "help": "", "unit": ""}]
    assert sorted(e["type"] for e in data["queue_depth"]) == ["counter", "gauge"]
    assert list(data) == sorted(data)


def test_metric_and_limits_as_prometheus(vigil: InProcessVigil) -> None:
    everything = _metadata(vigil).json()["data"]
    assert _metadata(vigil, metric="rw_jobs_total").json()["data"] == {
        "rw_jobs_total": [{"type": "counter", "help": "Jobs done.", "unit": ""}]
    }
    assert _metadata(vigil, metric="orders_placed").json()["data"] == {
        "orders_placed": [{"type": "counter", "help": "", "unit": "Count"}]
    }
    assert _metadata(vigil, metric="nosuch").json()["data"] == {}
    two = _metadata(vigil, limit=2).json()["data"]
    assert list(two) == list(everything)[:2]
    assert _metadata(vigil, limit=0).json()["data"] == {}  # Prometheus 2.42: 0 is none
    assert _metadata(vigil, limit=-1).json()["data"] == everything  # negative: no limit
    assert len(_metadata(vigil, limit_per_metric=1).json()["data"]["queue_depth"]) == 1
    bad = _metadata(vigil, limit="abc")
    assert bad.status_code == 400
    assert bad.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": "limit must be a number",
    }
    assert _metadata(vigil, limit_per_metric="x").json()["errorType"] == "bad_data"


def test_metadata_by_post_form(vigil: InProcessVigil) -> None:
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/metadata",
        data={"metric": "rw_wait_seconds"},
        timeout=30,
    )
    assert answer.json()["data"] == {
        "rw_wait_seconds": [{"type": "histogram", "help": "Time waiting.", "unit": "seconds"}]
    }
