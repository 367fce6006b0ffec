"""The service map while spans stream in: read latency and vigil's CPU.

    .venv/bin/python bench/traces_graph_live.py --data DIR [--rate 2800] [--seconds 60]
        [--src TREE]

Starts vigil on DIR (a store made by bench/traces_query.py; the reads cover its last
hour of data plus what streams in), sends traces of bench/traces_data.py (10 spans over
three services, cross-service edges and remote calls) over OTLP/HTTP protobuf at
``--rate`` spans/s — 2,800/s is 10M spans an hour, the density of the issue's target —
and meanwhile reads ``GET /api/v1/service-map`` from the store's first span to an hour
from now every 5 s (a dashboard refreshing). Prints the reads' median, p90 and max latency and
vigil's CPU (cores) over the run. With
``--src`` vigil runs another source tree's package (see bench/traces_query.py), to compare
two revisions in one session on two copies of the data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psutil
import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

from bench.traces_data import SPANS_PER_TRACE, span_table

PB = {"Content-Type": "application/x-protobuf"}
BATCH_TRACES = 50
READ_EVERY = 5.0  # seconds: a dashboard refreshing the map


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def to_otlp(table: pa.Table) -> bytes:
    """The generated rows as one OTLP request, a resource per service."""
    req = ExportTraceServiceRequest()
    by_service: dict[str, Any] = {}
    for row in table.to_pylist():
        service = row["service"]
        if service not in by_service:
            rs = req.resource_spans.add()
            rs.resource.attributes.extend([_kv(k, v) for k, v in row["resource"]])
            by_service[service] = rs.scope_spans.add()
        span = Span(
            trace_id=row["trace_id"],
            span_id=row["span_id"],
            parent_span_id=b"" if row["parent_span_id"] == bytes(8) else row["parent_span_id"],
            name=row["name"],
            kind=row["kind"],
            start_time_unix_nano=row["start_time"].value,
            end_time_unix_nano=row["end_time"].value,
        )
        span.attributes.extend([_kv(k, v) for k, v in row["attributes"]])
        span.status.code = row["status_code"]
        by_service[service].spans.append(span)
    return req.SerializeToString()


def sender(url: str, rate: float, seconds: float, sent: list[int], stop: threading.Event) -> None:
    rng = np.random.default_rng(99)
    interval = BATCH_TRACES * SPANS_PER_TRACE / rate
    next_at = time.monotonic()
    end = next_at + seconds
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < end and not stop.is_set():
            now = time.time_ns()
            body = to_otlp(span_table(rng, BATCH_TRACES, now - int(interval * 1e9), now))
            http.post(url, content=body, headers=PB).raise_for_status()
            sent[0] += BATCH_TRACES * SPANS_PER_TRACE
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=2800)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--src", type=Path)
    args = parser.parse_args()
    meta = orjson.loads((args.data / "bench.json").read_bytes())
    env = {"PYTHONPATH": str(args.src.resolve())} if args.src else None
    server = VigilProcess(args.data, env=env).start(timeout=900)
    try:
        proc = psutil.Process(server.proc.pid if server.proc else 0)
        http = httpx.Client(base_url=server.url, timeout=300)
        # The stored hour and what streams in after it, however old the store is.
        window = {"start": f"{meta['lo'] / 1e9:.3f}", "end": f"{time.time() + 3600:.3f}"}
        http.get("/api/v1/service-map", params=window).raise_for_status()  # warm-up
        sent = [0]
        stop = threading.Event()
        thread = threading.Thread(
            target=sender,
            args=(server.otlp_http_url + "/v1/traces", args.rate, args.seconds, sent, stop),
        )
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        thread.start()
        latencies = []
        while thread.is_alive():
            r0 = time.perf_counter()
            http.get("/api/v1/service-map", params=window).raise_for_status()
            latencies.append((time.perf_counter() - r0) * 1000)
            time.sleep(max(0.0, READ_EVERY - (time.perf_counter() - r0)))
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        cores = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)
    finally:
        stop.set()
        server.stop()
    latencies.sort()
    print(
        f"sent {sent[0]:,} spans in {t1 - t0:.0f} s ({sent[0] / (t1 - t0):,.0f}/s);"
        f" {len(latencies)} service-map reads: median {statistics.median(latencies):.0f} ms,"
        f" p90 {latencies[int(len(latencies) * 0.9)]:.0f} ms, max {latencies[-1]:.0f} ms;"
        f" vigil CPU {cores:.2f} cores"
    )


if __name__ == "__main__":
    main()
