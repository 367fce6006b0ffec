"""Query timings over 10M log lines and 1M spans, and bytes on disk per row.

    .venv/bin/python bench/query.py [--logs 10000000] [--spans 1000000]

Rows of realistic variety (services, streams, severities, templated messages with ids and
numbers, attributes, trace ids on half the lines) are generated as Arrow in the model
schemas and inserted into a fresh embedded store with vigil's migrations, as the writer
would. Then, each the best of 3 runs after a warm-up: count by severity, a substring
search as the read API runs it (a rare token, and a frequent phrase), a 5-minute histogram
by log group over the day, and a trace lookup by id through ``query.traces.get_trace``
(without ClickHouse's query condition cache, and a new trace id each run).
The baseline in the same run is a full scan (``count()`` of a column over all rows).
Bytes on disk are measured as stored, and after ``OPTIMIZE ... FINAL`` (merged parts).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.model.common import ATTR_MAP, SPAN_ID, TRACE_ID, TYPED_KEYS
from vigil.model.logs import LOG_SCHEMA
from vigil.model.spans import EVENT, LINK, SPAN_SCHEMA
from vigil.query.traces.lookup import _SPAN_COLUMNS, get_trace
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

SERVICES = ["checkout", "payments", "inventory", "search", "auth", "gateway", "email", "ledger"]
GROUPS = [f"/prod/{s}" for s in SERVICES] + [f"/staging/{s}" for s in SERVICES[:4]]
SEVERITIES = [(9, "INFO")] * 14 + [(13, "WARN")] * 3 + [(17, "ERROR"), (5, "DEBUG"), (1, "TRACE")]
# (prefix, middle, suffix) around two numbers: realistic message shapes.
TEMPLATES = [
    ("request completed in ", " ms with status ", ""),
    ("processing completed for batch ", " in ", " ms"),
    ("user user", " logged in from 10.0.0.", ""),
    ("timeout while calling payments after ", " ms (attempt ", ")"),
    ("cache miss for key order:", " shard ", ""),
    ("ERROR failed to charge card: insufficient funds (order ", ", amount ", ")"),
    ('{"level":"INFO","message":"json line","duration":', ',"pipeline":"p', '"}'),
    ("GET /api/orders/", " 200 ", " bytes"),
]
DAY_NS = 86_400 * 10**9
CHUNK = 500_000


def _strings(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def _map(keys: list[str], values: list[pa.Array], n: int) -> pa.Array:
    k = len(keys)
    offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32))
    key_col = pa.array(keys * n, pa.string())
    interleaved = np.empty(n * k, dtype=object)
    for i, col in enumerate(values):
        interleaved[i::k] = col.to_numpy(zero_copy_only=False)
    return pa.MapArray.from_arrays(offsets, key_col, pa.array(interleaved, pa.string())).cast(
        ATTR_MAP
    )


def _empty_lists(n: int, value_type: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], value_type)
    )


def _ids(
    rng: np.random.Generator, n: int, size: int, present: np.ndarray | None = None
) -> pa.Array:
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    if present is not None:
        raw[~present] = 0
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(size), n, [None, pa.py_buffer(raw.tobytes())]
    )


def log_chunk(rng: np.random.Generator, n: int, day_start: int) -> pa.Table:
    group = rng.integers(0, len(GROUPS), n)
    sev = rng.integers(0, len(SEVERITIES), n)
    tmpl = rng.integers(0, len(TEMPLATES), n)
    a = pc.cast(pa.array(rng.integers(0, 1_000_000, n)), pa.string())
    b = pc.cast(pa.array(rng.integers(0, 5_000, n)), pa.string())
    body = pc.binary_join_element_wise(
        _strings([t[0] for t in TEMPLATES], tmpl),
        a,
        _strings([t[1] for t in TEMPLATES], tmpl),
        b,
        _strings([t[2] for t in TEMPLATES], tmpl),
        "",
    )
    ts = np.sort(day_start + rng.integers(0, DAY_NS, n))
    services = [g.rsplit("/", 1)[1] for g in GROUPS]
    stream = pc.binary_join_element_wise(
        _strings(services, group), pc.cast(pa.array(rng.integers(0, 8, n)), pa.string()), "-"
    )
    has_trace = rng.random(n) < 0.5
    routes = ["/api/orders", "/api/cart", "/api/login", "/api/search", "/health"]
    attrs = _map(
        ["http.route", "http.status_code", "user.id"],
        [
            _strings(routes, rng.integers(0, len(routes), n)),
            _strings(["200", "201", "404", "500"], rng.integers(0, 4, n)),
            pc.binary_join_element_wise(
                pa.array(["u"] * n), pc.cast(pa.array(rng.integers(0, 10_000, n)), pa.string()), ""
            ),
        ],
        n,
    )
    resource = _map(
        ["service.name", "host.name", "deployment.environment"],
        [
            _strings(services, group),
            _strings([f"ip-10-0-0-{i}" for i in range(32)], rng.integers(0, 32, n)),
            _strings(["prod", "staging"], (group >= 8).astype(np.int64)),
        ],
        n,
    )
    columns: dict[str, Any] = {
        "tenant": pa.array(["default"] * n),
        "log_group": _strings(GROUPS, group),
        "log_stream": stream,
        "timestamp": pa.array(ts, pa.timestamp("ns")),
        "observed_timestamp": pa.array(ts, pa.timestamp("ns")),
        "severity_number": pa.array([s for s, _ in SEVERITIES], pa.uint8()).take(pa.array(sev)),
        "severity_text": _strings([t for _, t in SEVERITIES], sev),
        "body": body,
        "attributes": attrs,
        "attributes_typed": pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1, dtype=np.int32)), pa.array(["http.status_code"] * n)
        ),
        "resource": resource,
        "resource_typed": _empty_lists(n, pa.string()),
        "scope_name": pa.array(["app"] * n),
        "scope_version": pa.array(["1.0"] * n),
        "trace_id": _ids(rng, n, 16, has_trace),
        "span_id": _ids(rng, n, 8, has_trace),
        "flags": pa.array(np.zeros(n, dtype=np.uint32)),
        "service": _strings(services, group),
    }
    columns["attributes_typed"] = columns["attributes_typed"].cast(TYPED_KEYS)
    return pa.Table.from_pydict(columns, schema=LOG_SCHEMA)


def span_chunk(rng: np.random.Generator, n: int, day_start: int) -> pa.Table:
    per_trace = 10
    traces = n // per_trace
    trace_raw = rng.integers(0, 256, size=(traces, 16), dtype=np.uint8)
    trace_ids = np.repeat(trace_raw, per_trace, axis=0)
    span_raw = rng.integers(1, 256, size=(n, 8), dtype=np.uint8)
    parent_raw = np.roll(span_raw, 1, axis=0)
    parent_raw[::per_trace] = 0
    starts = np.repeat(day_start + rng.integers(0, DAY_NS, traces), per_trace)
    starts = starts + np.tile(np.arange(per_trace) * 1_000_000, traces)
    durations = rng.integers(100_000, 200_000_000, n)
    service = rng.integers(0, len(SERVICES), n)
    names = ["GET /api/orders", "POST /api/cart", "SELECT orders", "SELECT users", "redis GET"]
    name = rng.integers(0, len(names), n)
    status = (rng.random(n) < 0.03).astype(np.uint8) * 2
    columns: dict[str, Any] = {
        "tenant": pa.array(["default"] * n),
        "trace_id": pa.FixedSizeBinaryArray.from_buffers(
            TRACE_ID, n, [None, pa.py_buffer(trace_ids.tobytes())]
        ),
        "span_id": pa.FixedSizeBinaryArray.from_buffers(
            SPAN_ID, n, [None, pa.py_buffer(span_raw.tobytes())]
        ),
        "parent_span_id": pa.FixedSizeBinaryArray.from_buffers(
            SPAN_ID, n, [None, pa.py_buffer(parent_raw.tobytes())]
        ),
        "trace_state": pa.array([""] * n),
        "name": _strings(names, name),
        "kind": pa.array(np.where(name < 2, 2, 3).astype(np.uint8)),
        "service": _strings(SERVICES, service),
        "start_time": pa.array(starts, pa.timestamp("ns")),
        "end_time": pa.array(starts + durations, pa.timestamp("ns")),
        "status_code": pa.array(status),
        "status_message": pa.array([""] * n),
        "attributes": _map(
            ["http.method", "http.status_code", "net.peer.name"],
            [
                _strings(["GET", "POST"], rng.integers(0, 2, n)),
                _strings(["200", "500"], (status > 0).astype(np.int64)),
                _strings(SERVICES, rng.integers(0, len(SERVICES), n)),
            ],
            n,
        ),
        "attributes_typed": _empty_lists(n, pa.string()),
        "resource": _map(["service.name"], [_strings(SERVICES, service)], n),
        "resource_typed": _empty_lists(n, pa.string()),
        "scope_name": pa.array(["opentelemetry.instrumentation.flask"] * n),
        "scope_version": pa.array([""] * n),
        "events": _empty_lists(n, EVENT),
        "links": _empty_lists(n, LINK),
    }
    for key in ("attributes_typed", "resource_typed"):
        columns[key] = columns[key].cast(TYPED_KEYS)
    return pa.Table.from_pydict(columns, schema=SPAN_SCHEMA)


NEEDLE = "req-Zq81x7Kd3"


def with_needles(chunk: pa.Table) -> pa.Table:
    """Three lines carrying a unique request id: what a search for an id looks for."""
    body = chunk["body"].to_pylist()
    for i in (1000, 1001, 300_000):
        body[i] = f"payment declined for request {NEEDLE} (attempt {i})"
    index = chunk.schema.get_field_index("body")
    return chunk.set_column(index, "body", pa.array(body, pa.string()))


def best_of(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    result = fn()  # warm-up
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000, result


def disk_bytes(store: ClickHouseStore, table: str) -> tuple[int, int]:
    rows = store.query_sync(
        "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts"
        " WHERE active AND database = currentDatabase() AND table = {t:String}",
        {"t": table},
    ).rows
    return int(rows[0][0]), int(rows[0][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=10_000_000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    day_start = (time.time_ns() // DAY_NS - 1) * DAY_NS
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            migrate(store)
            t0 = time.perf_counter()
            for done in range(0, args.logs, CHUNK):
                chunk = log_chunk(rng, min(CHUNK, args.logs - done), day_start)
                if done == CHUNK:
                    chunk = with_needles(chunk)
                store.insert("logs", chunk)
            t_logs = time.perf_counter() - t0
            t0 = time.perf_counter()
            for done in range(0, args.spans, CHUNK):
                store.insert("spans", span_chunk(rng, min(CHUNK, args.spans - done), day_start))
            t_spans = time.perf_counter() - t0
            print(f"loaded {args.logs:,} log lines in {t_logs:.1f} s", end=", ")
            print(f"{args.spans:,} spans in {t_spans:.1f} s")
            report(store, day_start)
        finally:
            store.close()


def report(store: ClickHouseStore, day_start: int) -> None:
    def q(sql: str, params: dict[str, Any] | None = None) -> Any:
        # Without ClickHouse's query condition cache: a search is usually for something new.
        return store.query_sync(sql + " SETTINGS use_query_condition_cache = 0", params)

    base = "tenant = 'default'"
    timings: dict[str, Callable[[], Any]] = {
        "full scan baseline: count() of all log lines": lambda: (
            q(f"SELECT count(), sum(length(body)) FROM logs WHERE {base}").rows
        ),
        "count by severity": lambda: (
            q(f"SELECT severity_text, count() FROM logs WHERE {base} GROUP BY severity_text").rows
        ),
        "substring search as the read API runs it, a unique id (3 lines)": lambda: (
            q(
                f"SELECT timestamp, body FROM logs WHERE {base}"
                " AND positionCaseInsensitiveUTF8(body, {s:String}) > 0"
                " ORDER BY timestamp DESC LIMIT 100",
                {"s": NEEDLE.lower()},
            ).rows
        ),
        "whole-token search, a unique id (hasToken: the tokenbf index)": lambda: (
            q(
                f"SELECT timestamp, body FROM logs WHERE {base}"
                " AND hasToken(body, {s:String}) ORDER BY timestamp DESC LIMIT 100",
                {"s": NEEDLE.split("-")[1]},
            ).rows
        ),
        "substring search, frequent ('insufficient funds', limit 100)": lambda: (
            q(
                f"SELECT timestamp, body FROM logs WHERE {base}"
                " AND positionCaseInsensitiveUTF8(body, {s:String}) > 0"
                " ORDER BY timestamp DESC LIMIT 100",
                {"s": "insufficient funds"},
            ).rows
        ),
        "5-minute histogram by log group (24 h)": lambda: (
            q(
                f"SELECT log_group, toStartOfInterval(timestamp, INTERVAL 5 MINUTE) AS t, count()"
                f" FROM logs WHERE {base} GROUP BY log_group, t ORDER BY log_group, t"
            ).rows
        ),
    }
    samples = iter(
        row[0].lower()
        for row in q("SELECT hex(trace_id) FROM spans ORDER BY cityHash64(span_id) LIMIT 20").rows
    )
    # A new trace id each run, as a user opening traces does.
    timings["trace lookup by id (query.traces.get_trace)"] = lambda: asyncio.run(
        get_trace(store, "default", next(samples))
    )
    # Its parts: the window from trace_index, then the span rows (ids and times only, then
    # every column get_trace reads).
    by_id = f"{base} AND trace_id = unhex({{id:String}})"
    timings["  part: window from trace_index"] = lambda: (
        q(f"SELECT min(start), max(end) FROM trace_index WHERE {by_id}", {"id": next(samples)}).rows
    )
    timings["  part: span ids and times of the trace"] = lambda: (
        q(
            f"SELECT span_id, start_time, end_time FROM spans WHERE {by_id}", {"id": next(samples)}
        ).rows
    )
    timings["  part: all columns get_trace reads"] = lambda: (
        q(f"SELECT {_SPAN_COLUMNS} FROM spans WHERE {by_id}", {"id": next(samples)}).rows
    )
    results = {}
    for label, fn in timings.items():
        ms, result = best_of(fn)
        results[label] = ms
        found = "" if result else "  (NOTHING FOUND)"
        print(f"{label:60s} {ms:8.1f} ms{found}")
    baseline = results["full scan baseline: count() of all log lines"]
    for label, ms in results.items() if baseline else ():
        print(f"  ratio to the full-scan baseline: {label[:50]:50s} {ms / baseline:6.2f}")
    for when in ("as stored", "after OPTIMIZE FINAL"):
        if when != "as stored":
            store.command("OPTIMIZE TABLE logs FINAL")
            store.command("OPTIMIZE TABLE spans FINAL")
        for table, what in (("logs", "log line"), ("spans", "span")):
            size, rows = disk_bytes(store, table)
            print(
                f"bytes on disk {when:22s} {size / max(rows, 1):7.1f} B per {what} ({rows:,} rows)"
            )


if __name__ == "__main__":
    main()
