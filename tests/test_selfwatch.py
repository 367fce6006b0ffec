"""vigil watching itself: its counters as metrics (the pass is pure over the registry),
and the built-in ``vigil`` dashboard rendering them in the browser after a plain start."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import InProcessVigil
from tests.vigil_process import VigilProcess
from vigil.model.dashboard import validate
from vigil.selfwatch import IDLE_FLUSH_NS, LogBuffer, SelfWatch, dashboard_body, metric_name
from vigil.server import Runtime
from vigil.telemetry import SelfMetrics


def _by_name(data: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (d["MetricName"], tuple((x["Name"], x["Value"]) for x in d.get("Dimensions", []))): d[
            "Value"
        ]
        for d in data
    }


def test_counters_become_increases_and_histograms_means() -> None:
    metrics = SelfMetrics()
    watch = SelfWatch(metrics, pipeline=None, clock=time.time_ns)  # type: ignore[arg-type]
    metrics.count_items("otlp", "logs", 5, 1)
    metrics.queue_rows.set(7)
    first = _by_name(watch.data())
    # The first pass remembers the counters: no spike of everything since the start.
    assert (
        "IngestItems",
        (("Outcome", "accepted"), ("Protocol", "otlp"), ("Signal", "logs")),
    ) not in first
    assert first == {}  # the first pass (at start-up) writes nothing
    metrics.count_items("otlp", "logs", 3, 0)
    metrics.commit_seconds.observe(0.002)
    metrics.commit_seconds.observe(0.004)
    second = _by_name(watch.data())
    key = ("IngestItems", (("Outcome", "accepted"), ("Protocol", "otlp"), ("Signal", "logs")))
    assert second[key] == 3
    assert (
        second[("IngestItems", (("Outcome", "rejected"), ("Protocol", "otlp"), ("Signal", "logs")))]
        == 0
    )
    assert second[("WriterCommitSeconds", ())] == pytest.approx(0.003)
    assert second[("WriterQueueRows", ())] == 7
    assert ("WriterFlushSeconds", ()) not in second  # nothing observed: no datum
    assert metric_name("vigil_writer_commit_seconds") == "WriterCommitSeconds"


def test_log_lines_are_kept_bounded_and_drained_in_order() -> None:
    buffer = LogBuffer(capacity=3)
    log = logging.getLogger("vigil.test-selfwatch")
    log.addHandler(buffer)
    log.setLevel(logging.INFO)
    try:
        log.debug("not kept")
        log.info("first %s", 1)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("second")
        log.warning("third")
        log.warning("fourth, dropped")
    finally:
        log.removeHandler(buffer)
    events = buffer.drain()
    lines = [json.loads(e["message"]) for e in events]
    assert [line["message"] for line in lines] == [
        "first 1",
        "second",
        "third",
        "1 log lines dropped: more than 3 between two self-metrics passes",
    ]
    assert lines[1]["level"] == "ERROR"
    assert "ValueError: boom" in lines[1]["exception"]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert buffer.drain() == []


def test_the_built_in_dashboard_is_a_valid_body() -> None:
    assert validate(dashboard_body())[1] == []


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[VigilProcess]:
    """A server started as `make run` starts it (self-metrics on), recording every second."""
    server = VigilProcess(tmp_path / "data", "--self-metrics-interval", "1").start()
    yield server
    assert server.stop() == 0, server.log_text()[-3000:]


def test_vigil_dashboard_after_a_plain_start(page: Any, fresh: VigilProcess) -> None:
    with fresh.client() as http:
        for _ in range(3):  # some traffic of its own to show
            http.post("/v1/logs", json={"resourceLogs": []})
            http.get("/api/v1/dashboards")
            time.sleep(1.1)
    # Its own log lines, from start-up on (the migrations it applied), in /vigil/server.
    with fresh.client() as http:
        deadline = time.monotonic() + 30
        while True:
            lines = http.get(
                "/api/v1/logs", params={"group": "/vigil/server", "start": "now-1h", "limit": 1000}
            ).json()["logs"]
            if any("applying migration" in line["body"] for line in lines):
                break
            assert time.monotonic() < deadline, lines
            time.sleep(0.5)
    assert all(json.loads(line["body"])["logger"].startswith("vigil") for line in lines)
    page.goto(fresh.url + "/")
    page.locator("table").get_by_role("link", name="vigil", exact=True).click()
    page.wait_for_url(fresh.url + "/dashboards/vigil")
    page.locator(".widget-title").first.wait_for()
    titles = page.locator(".widget-title").all_inner_texts()
    assert titles == [
        "Ingest rate per signal (items/min)",
        "Write queue depth",
        "WAL and store latency",
        "Rejected items",
        "Warnings and errors",
        "Query latency by endpoint",
    ]
    # vigil's own log group exists from the start: the log widget runs its query.
    warnings = page.locator(
        "section.widget", has=page.locator(".widget-title", has_text="Warnings and errors")
    )
    warnings.locator(".log-table, .widget-empty").first.wait_for()
    assert warnings.locator(".widget-error").count() == 0
    queue = page.locator(
        "section.widget", has=page.locator(".widget-title", has_text="Write queue depth")
    )
    queue.locator(".u-legend").wait_for()
    assert queue.locator(".u-legend .u-series:not(:first-child) .u-label").all_inner_texts() == [
        "Queued rows"
    ]
    latency = page.locator(
        "section.widget", has=page.locator(".widget-title", has_text="Query latency by endpoint")
    )
    latency.locator(".u-legend").wait_for()
    labels = latency.locator(".u-legend .u-series:not(:first-child) .u-label").all_inner_texts()
    assert any("dashboards" in label for label in labels), labels


# --- idle: the engine is not woken to store vigil's own zeros -------------------------


class _Clock:
    def __init__(self) -> None:
        self.ns = (time.time_ns() // 60_000_000_000 - 60) * 60_000_000_000

    def __call__(self) -> int:
        return self.ns


async def _activity(runtime: Runtime) -> int:
    assert runtime.core is not None
    return runtime.core.store.activity()


async def _points(runtime: Runtime) -> list[int]:
    assert runtime.core is not None
    rows = await runtime.core.store.query(
        "SELECT toUnixTimestamp64Nano(timestamp) FROM metrics WHERE namespace = 'vigil'"
        " AND name = 'WriterQueueRows' ORDER BY timestamp"
    )
    return [int(r[0]) for r in rows.rows]


def test_an_idle_server_keeps_its_own_points_until_the_store_is_used(tmp_path: Path) -> None:
    clock = _Clock()
    vigil = InProcessVigil(tmp_path / "data", clock=clock, manual_tasks=True).start()
    minute = 60 * 10**9
    try:
        vigil.run_task("self-metrics")  # remembers the counters
        times = []
        for _ in range(4):
            clock.ns += minute
            times.append(clock.ns)
            vigil.run_task("self-metrics")  # the first writes (start-up used the store)
            if len(times) == 1:
                quiet = vigil.call(_activity)
        # Three passes on an idle store: their points are kept, the engine is not called.
        assert vigil.call(_activity) == quiet
        clock.ns += minute
        times.append(clock.ns)
        # A read touches the store: the next pass writes what it kept, each at its time.
        assert vigil.call(_points) == times[:1]
        vigil.run_task("self-metrics")
        assert vigil.call(_points) == times
        clock.ns += minute
        vigil.run_task("self-metrics")  # writes: that read used the store
        # Idle again: kept, but never longer than IDLE_FLUSH_NS.
        quiet = vigil.call(_activity)
        clock.ns += minute
        vigil.run_task("self-metrics")
        assert vigil.call(_activity) == quiet
        clock.ns += IDLE_FLUSH_NS
        vigil.run_task("self-metrics")
        assert vigil.call(_activity) != quiet
        assert len(vigil.call(_points)) == len(times) + 3
    finally:
        vigil.stop()
