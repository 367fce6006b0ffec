"""Scraping: the scrape_configs subset (parsing and relabelling, pure), then vigil scraping a
real local exporter endpoint over HTTP with its clock and task runner driven by the test:
series and their labels, up / scrape_* series, honor_labels, metric relabelling,
OpenMetrics with exemplars, a target going away, and vigil scraping its own /metrics."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prom_exporter import OPENMETRICS, Exporter
from tests.runtime import InProcessVigil
from vigil.ingest.prom.relabel import Relabel, relabel
from vigil.ingest.prom.scrape_config import ScrapeConfigError, duration, parse
from vigil.server import Runtime
from vigil.store.prometheus import read_metadata

T0 = 1_765_000_000 * 10**9  # overwritten with "now" by the clock fixture


def test_durations_and_defaults() -> None:
    assert duration("15s", "x") == 15
    assert duration("1m30s", "x") == 90
    assert duration("500ms", "x") == 0.5
    with pytest.raises(ScrapeConfigError, match="not a duration"):
        duration("15 seconds", "x")
    (job,) = parse("scrape_configs: [{job_name: a, static_configs: [{targets: ['h:1']}]}]")
    assert (job.interval, job.timeout) == (60, 10)
    assert job.targets[0].url == "http://h:1/metrics"
    assert job.targets[0].labels == {"instance": "h:1", "job": "a"}


def test_target_relabelling_params_and_refusals() -> None:
    (job,) = parse(
        textwrap.dedent(
            """
            global: {scrape_interval: 30s, scrape_timeout: 5s}
            scrape_configs:
              - job_name: blackbox
                metrics_path: /probe
                scheme: https
                params: {module: [http_2xx]}
                static_configs:
                  - targets: ['example.org', 'skip.me']
                    labels: {team: web}
                relabel_configs:
                  - {source_labels: [__address__], regex: skip.*, action: drop}
                  - {source_labels: [__address__], target_label: __param_target}
                  - {source_labels: [__param_target], target_label: instance}
                  - {target_label: __address__, replacement: 'prober:9115'}
            """
        )
    )
    assert (job.interval, job.timeout) == (30, 5)
    (target,) = job.targets
    assert target.url == "https://prober:9115/probe?module=http_2xx"
    assert target.labels == {"instance": "example.org", "job": "blackbox", "team": "web"}
    with pytest.raises(
        ScrapeConfigError, match=r"unsupported field\(s\) \['kubernetes_sd_configs'\]"
    ):
        parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: []}]")
    with pytest.raises(ScrapeConfigError, match="action 'hashmod' is not supported"):
        parse("scrape_configs: [{job_name: k, relabel_configs: [{action: hashmod}]}]")
    with pytest.raises(ScrapeConfigError, match="unique"):
        parse("scrape_configs: [{job_name: k}, {job_name: k}]")


def test_relabel_actions() -> None:
    def rule(**kw: Any) -> Relabel:
        return Relabel.parse(kw, "test")

    labels = {"__name__": "m", "a": "1", "b": "2", "__meta_zone": "eu"}
    assert relabel(labels, [rule(action="keep", source_labels=["a"], regex="1")]) == labels
    assert relabel(labels, [rule(action="keep", source_labels=["a"], regex="2")]) is None
    assert relabel(labels, [rule(action="drop", source_labels=["a", "b"], regex="1;2")]) is None
    assert relabel(labels, [rule(action="labeldrop", regex="a|b")]) == {
        "__name__": "m",
        "__meta_zone": "eu",
    }
    assert relabel(labels, [rule(action="labelkeep", regex="__name__|a")]) == {
        "__name__": "m",
        "a": "1",
    }
    assert relabel(labels, [rule(action="labelmap", regex="__meta_(.*)")])["zone"] == "eu"  # type: ignore[index]
    replaced = relabel(
        labels,
        [
            rule(
                source_labels=["a", "b"],
                regex="(.*);(.*)",
                target_label="ab",
                replacement="${2}x$1",
            )
        ],
    )
    assert replaced is not None
    assert replaced["ab"] == "2x1"
    # An empty replacement removes the target label; no match changes nothing.
    assert "a" not in relabel(labels, [rule(source_labels=["b"], target_label="a", replacement="")])  # type: ignore[operator]
    assert relabel(labels, [rule(source_labels=["b"], regex="9", target_label="a")]) == labels


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time_ns() // 10**9 * 10**9

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.stop()


def _config(tmp_path: Path, exporter: Exporter) -> Path:
    path = tmp_path / "scrape.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            global: {{scrape_interval: 15s}}
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ['{exporter.address}']
                    labels: {{env: test}}
                metric_relabel_configs:
                  - source_labels: [__name__, mountpoint]
                    regex: 'node_filesystem.*;/run'
                    action: drop
              - job_name: honoring
                honor_labels: true
                metrics_path: /metrics
                params: {{collect: [cpu]}}
                static_configs:
                  - targets: ['{exporter.address}']
            """
        )
    )
    return path


def _rows(vigil: InProcessVigil, name: str) -> list[tuple[int, float, dict[str, str]]]:
    async def read(runtime: Runtime) -> list[tuple[int, float, dict[str, str]]]:
        assert runtime.core is not None
        rows = await runtime.core.store.query(
            "SELECT toUnixTimestamp64Nano(timestamp), value, dimensions FROM metrics"
            " WHERE namespace = 'prometheus' AND name = {n:String}"
            " ORDER BY timestamp, toString(dimensions)",
            {"n": name},
        )
        return [(int(t), float(v), dict(d)) for t, v, d in rows.rows]

    return vigil.call(read)


def test_scraping_a_node_style_exporter(tmp_path: Path, exporter: Exporter) -> None:
    clock = Clock()
    vigil = InProcessVigil(
        tmp_path / "data",
        "--no-self-metrics",
        "--scrape-config",
        str(_config(tmp_path, exporter)),
        clock=clock,
        manual_tasks=True,
    ).start()
    try:
        t0 = clock.now
        vigil.run_task("scrape:node")
        path, headers = exporter.requests[-1]
        assert path == "/metrics"
        assert headers["Accept"].startswith("application/openmetrics-text")
        target = {"env": "test", "instance": exporter.address, "job": "node"}
        assert _rows(vigil, "up") == [(t0, 1.0, target)]
        cpu = _rows(vigil, "node_cpu_seconds_total")
        assert [(r[1], r[2]["mode"]) for r in cpu] == [(1000.5, "idle"), (200.25, "user")]
        assert all(r[0] == t0 and r[2]["job"] == "node" for r in cpu)
        # metric_relabel_configs dropped the /run filesystem
        assert [r[2]["mountpoint"] for r in _rows(vigil, "node_filesystem_avail_bytes")] == ["/"]
        # the exporter's own job label is kept as exported_job (honor_labels is off)
        (info,) = _rows(vigil, "exporter_info")
        assert info[2]["job"] == "node"
        assert info[2]["exported_job"] == "exporter-own-job"
        buckets = {r[2]["le"]: r[1] for r in _rows(vigil, "http_request_duration_seconds_bucket")}
        assert buckets == {"0.1": 3.0, "0.5": 7.0, "+Inf": 9.0}
        assert _rows(vigil, "scrape_samples_scraped")[0][1] == 11.0
        assert _rows(vigil, "scrape_samples_post_metric_relabeling")[0][1] == 10.0
        meta = vigil.call(lambda r: read_metadata(r.core.store, "default"))  # type: ignore[union-attr]
        assert meta["node_cpu_seconds_total"][0]["type"] == "counter"
        assert meta["http_request_duration_seconds"][0] == {
            "type": "histogram",
            "help": "Request latency.",
            "unit": "",
        }

        # honor_labels: the exposition's job wins; params reach the target.
        vigil.run_task("scrape:honoring")
        assert exporter.requests[-1][0] == "/metrics?collect=cpu"
        jobs = {r[2]["job"] for r in _rows(vigil, "exporter_info")}
        assert jobs == {"node", "exporter-own-job"}

        # OpenMetrics, with an exemplar, 15 s later.
        clock.now += 15 * 10**9
        exporter.content_type = OPENMETRICS
        exporter.body = (
            "# TYPE node_cpu_seconds counter\n"
            "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n"
            'node_cpu_seconds_total{cpu="0",mode="idle"} 1015.5 # {trace_id="abc"} 0.5\n'
            "# EOF\n"
        )
        vigil.run_task("scrape:node")
        idle = [
            r
            for r in _rows(vigil, "node_cpu_seconds_total")
            if r[2]["mode"] == "idle" and r[2]["job"] == "node"
        ]
        assert [(r[0], r[1]) for r in idle] == [(t0, 1000.5), (clock.now, 1015.5)]

        async def exemplars(runtime: Runtime) -> list[tuple[Any, ...]]:
            assert runtime.core is not None
            rows = await runtime.core.store.query("SELECT name, labels, value FROM prom_exemplars")
            return [tuple(r) for r in rows.rows]

        assert vigil.call(exemplars) == [("node_cpu_seconds_total", {"trace_id": "abc"}, 0.5)]

        # An invalid exposition: up is 0 and nothing else of that scrape is stored.
        clock.now += 15 * 10**9
        exporter.body = "this is { not an exposition"
        vigil.run_task("scrape:node")
        assert [r[1] for r in _rows(vigil, "up") if r[2]["job"] == "node"] == [1.0, 1.0, 0.0]

        # The target goes away: up 0, its series stop (no stale markers are stored).
        clock.now += 15 * 10**9
        exporter.stop()
        vigil.run_task("scrape:node")
        ups = [(r[0], r[1]) for r in _rows(vigil, "up") if r[2]["job"] == "node"]
        assert ups[-1] == (clock.now, 0.0)
        assert max(r[0] for r in _rows(vigil, "node_cpu_seconds_total")) < clock.now - 15 * 10**9
    finally:
        vigil.stop()
        exporter.server.server_close()


def test_vigils_own_metrics_are_stored_once_and_promql_reads_them(tmp_path: Path) -> None:
    """Self-monitoring has one path (vigil.selfwatch): vigil's counters in namespace
    ``vigil``, which PromQL reads as counters (``rate`` works), and no second copy
    scraped into ``prometheus``."""
    vigil = InProcessVigil(tmp_path / "data", manual_tasks=True).start()
    query = 'IngestRequests{cloudwatch_namespace="vigil", Protocol="otlp_http"}'
    try:
        assert not any(name.startswith("scrape:") for name in vigil.call(_task_names))
        vigil.run_task("self-metrics")  # the first pass only remembers the counters
        with vigil.client() as http:
            for n in (3, 2):
                for _ in range(n):
                    http.post("/v1/logs", json={"resourceLogs": []})
                # a read: the store is not idle, so the pass writes (vigil.selfwatch)
                http.get("/prometheus/api/v1/query", params={"query": query})
                vigil.run_task("self-metrics")
            body = http.get("/prometheus/api/v1/query", params={"query": query}).json()
            (series,) = body["data"]["result"]
            assert float(series["value"][1]) == 5.0  # the counter's own value, not a delta
            assert series["metric"]["Signal"] == "logs"
            rate = f"increase({query}[10m])"
            body = http.get("/prometheus/api/v1/query", params={"query": rate}).json()
            assert float(body["data"]["result"][0]["value"][1]) > 0
        assert _rows(vigil, "vigil_writer_queue_rows") == []  # nothing in "prometheus"
    finally:
        vigil.stop()


async def _task_names(runtime: Runtime) -> list[str]:
    assert runtime.core is not None
    return runtime.core.tasks.names


def test_a_bad_scrape_config_stops_serve_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("scrape_configs: [{job_name: a, scrape_interval: soon}]\n")
    with pytest.raises(ValueError, match=r"scrape_interval: 'soon' is not a duration"):
        InProcessVigil(tmp_path / "data", "--scrape-config", str(path))


def test_a_slow_or_failing_target_is_down(exporter: Exporter) -> None:
    """The scrape loop alone (its commit collects the batches): a target slower than
    scrape_timeout and one answering 500 give up 0 and nothing else."""
    import asyncio

    from vigil.ingest.overload import Refusal
    from vigil.ingest.prom.scrape import Scraper
    from vigil.ingest.prom.series import SeriesBatch

    (job,) = parse(
        "scrape_configs: [{job_name: slow, scrape_timeout: 200ms, scrape_interval: 1s,"
        f" static_configs: [{{targets: ['{exporter.address}']}}]}}]"
    )
    stored: list[SeriesBatch] = []

    async def commit(batch: SeriesBatch) -> Refusal | None:
        stored.append(batch)
        return None

    clock = Clock()
    scraper = Scraper(commit, clock, "default")

    async def scrape() -> None:
        try:
            await scraper.scrape_job(job)
        finally:
            await scraper.close()

    exporter.delay = 5.0
    asyncio.run(scrape())
    exporter.release.set()
    exporter.delay = 0.0
    exporter.status = 500
    asyncio.run(scrape())
    assert len(stored) == 2
    for batch in stored:
        assert batch.names == [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
        ]
        assert batch.values[0] == 0.0
        assert batch.values[2:] == [0.0, 0.0]
