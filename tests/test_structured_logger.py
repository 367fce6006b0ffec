"""vigil.sdk.logging: the JSON line shape, shipping over OTLP with VigilHandler (batches,
trace ids, bounded buffer when vigil is unreachable), and the monitoring design's three
queries answering on what StructuredLogger wrote."""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
from opentelemetry.sdk.trace import TracerProvider

from tests.logs_client import logs_client, rows, unique, wait_query
from tests.vigil_process import VigilProcess
from vigil.sdk.logging import MemoryHandler, StructuredLogger, VigilHandler

QUERIES = [
    'fields @timestamp, level, message, error_type, error_message | filter level = "ERROR"'
    " | stats count() by error_type | sort count desc",
    "fields @timestamp, message, duration, pipeline | filter message like /processing completed/"
    " | stats avg(duration), max(duration), min(duration) by pipeline",
    "fields @timestamp, message, record_count, success_rate, pipeline"
    " | filter message like /batch processing completed/"
    " | stats sum(record_count), avg(success_rate) by pipeline",
]


def test_json_line_shape() -> None:
    memory = MemoryHandler()
    log = StructuredLogger(unique("shape"), logging.INFO, handlers=[memory])
    log.debug("hidden")
    log.info("processing completed", duration=12.5, pipeline="orders")
    try:
        raise TimeoutError("upstream timed out")
    except TimeoutError as exc:
        log.error("payment failed", error=exc, order_id=7)
    first, second = memory.records
    assert list(first)[:7] == [
        "timestamp", "level", "logger", "message", "module", "function", "line"
    ]  # fmt: skip
    assert first["level"] == "INFO"
    assert first["message"] == "processing completed"
    assert first["module"] == "test_structured_logger"
    assert first["function"] == "test_json_line_shape"
    assert first["duration"] == 12.5
    assert first["pipeline"] == "orders"
    assert first["timestamp"].endswith("Z")
    assert second["error_type"] == "TimeoutError"
    assert second["error_message"] == "upstream timed out"
    assert "raise TimeoutError" in second["traceback"]
    assert second["order_id"] == 7


def test_the_three_queries_on_structured_logger_output(vigil: VigilProcess) -> None:
    group = unique("/monitoring")
    handler = VigilHandler(vigil.otlp_http_url, service_name="etl", log_group=group, batch_size=4)
    log = StructuredLogger(unique("etl"), logging.INFO, handlers=[handler])
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("run") as span:
        for duration, pipeline in ((120, "orders"), (80, "orders"), (200, "users")):
            log.info("processing completed", duration=duration, pipeline=pipeline)
        trace_id = span.get_span_context().trace_id
    for count, rate, pipeline in ((100, 0.98, "orders"), (50, 0.9, "orders"), (30, 1.0, "users")):
        log.info("batch processing completed", record_count=count, success_rate=rate,
                 pipeline=pipeline)  # fmt: skip
    for exc in (TimeoutError("t1"), TimeoutError("t2"), ValueError("bad")):
        log.error("step failed", error=exc)
    log.warning("slow", error_type="TimeoutError")
    assert handler.wait_sent(30)
    handler.close()
    assert handler.sent == 10
    assert handler.dropped == 0

    logs = logs_client(vigil)
    start = int(time.time()) - 600
    results = []
    for query in QUERIES:
        query_id = logs.start_query(
            logGroupName=group, startTime=start, endTime=start + 1200, queryString=query
        )["queryId"]
        results.append(rows(wait_query(logs, query_id)))
    assert results[0] == [
        {"error_type": "TimeoutError", "count()": "2"},
        {"error_type": "ValueError", "count()": "1"},
    ]
    assert sorted(results[1], key=lambda r: r["pipeline"]) == [
        {"pipeline": "orders", "avg(duration)": "100", "max(duration)": "120",
         "min(duration)": "80"},
        {"pipeline": "users", "avg(duration)": "200", "max(duration)": "200",
         "min(duration)": "200"},
    ]  # fmt: skip
    assert sorted(results[2], key=lambda r: r["pipeline"]) == [
        {"pipeline": "orders", "sum(record_count)": "150", "avg(success_rate)": "0.94"},
        {"pipeline": "users", "sum(record_count)": "30", "avg(success_rate)": "1"},
    ]
    # Records logged inside a span carry its trace id.
    traced = logs.filter_log_events(logGroupName=group, filterPattern='"processing completed"')
    assert len(traced["events"]) == 6
    by_trace = httpx.get(
        f"{vigil.url}/api/v1/logs", params={"trace_id": f"{trace_id:032x}", "start": "now-1h"}
    ).json()["logs"]
    assert len(by_trace) == 3
    assert all(json.loads(r["body"])["message"] == "processing completed" for r in by_trace)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_vigil_never_blocks_and_bounds_the_buffer() -> None:
    handler = VigilHandler(
        f"http://127.0.0.1:{_closed_port()}",
        max_buffer=50,
        batch_size=10,
        flush_interval=0.01,
        retry_interval=0.05,
        timeout=0.5,
    )
    log = StructuredLogger(unique("offline"), logging.INFO, handlers=[handler])
    started = time.perf_counter()
    for i in range(500):
        log.info("event", i=i)
    assert time.perf_counter() - started < 1.0  # emit only appends to the buffer
    assert handler.buffered <= 50
    deadline = time.monotonic() + 10
    while handler.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert handler.failures >= 1
    assert handler.dropped >= 450 - handler.batch_size
    assert handler.sent == 0
    assert handler.wait_sent(0.1) is False
    handler.close()
