"""Traces benchmark: span ingest through the X-Ray daemon (UDP) and OTLP/HTTP, then the
X-Ray reads over what was loaded. Prints figures and ratios to a baseline measured in the
same run (ingest: OTLP/HTTP protobuf, the core path; reads: an unfiltered page of
GetTraceSummaries).

    .venv/bin/python bench/xray.py [traces] [udp spans/s]
        (default 30000 traces of 10 spans; X-Ray daemon documents sent as fast as the
        kernel's receive buffer allows unless a rate is given)
"""

from __future__ import annotations

import os
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.vigil_process import VigilProcess

SERVICES = [f"svc-{i}" for i in range(10)]
HEADER = b'{"format": "json", "version": 1}\n'


def committed_spans(server: VigilProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith('vigil_writer_committed_rows_total{table="spans"}'):
            return float(line.split()[-1])
    return 0.0


def xray_docs(n: int, base: float) -> list[bytes]:
    docs = []
    for i in range(n):
        start = base + random.random() * 3000
        trace = f"1-{int(start):08x}-{uuid.uuid4().hex[:24]}"
        duration = random.expovariate(1.0)
        subs = [
            {
                "name": f"op-{j}",
                "id": uuid.uuid4().hex[:16],
                "start_time": start + j * 0.001,
                "end_time": start + j * 0.001 + duration / 2,
                "namespace": "remote" if j == 0 else "local",
            }
            for j in range(9)
        ]
        doc = {
            "name": SERVICES[i % len(SERVICES)],
            "id": uuid.uuid4().hex[:16],
            "trace_id": trace,
            "start_time": start,
            "end_time": start + duration,
            "annotations": {"status": "error" if i % 20 == 0 else "ok", "n": i},
            "http": {
                "request": {"method": "GET", "url": "http://x/api"},
                "response": {"status": 500 if i % 20 == 0 else 200},
            },
            "subsegments": subs,
        }
        docs.append(HEADER + orjson.dumps(doc))
    return docs


def otlp_batches(n: int, base: float, per_batch: int = 2000) -> list[bytes]:
    out = []
    spans = []
    for i in range(n):
        trace = os.urandom(16)
        root = os.urandom(8)
        start = int((base + random.random() * 3000) * 1e9)
        for j in range(10):
            spans.append(
                Span(
                    trace_id=trace,
                    span_id=root if j == 0 else os.urandom(8),
                    parent_span_id=b"" if j == 0 else root,
                    name=f"op-{j}",
                    kind=2 if j == 0 else 1,  # type: ignore[arg-type]
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + 5_000_000,
                    attributes=[KeyValue(key="status", value=AnyValue(string_value="ok"))],
                )
            )
        if len(spans) >= per_batch or i == n - 1:
            request = ExportTraceServiceRequest(
                resource_spans=[
                    ResourceSpans(
                        resource=Resource(
                            attributes=[
                                KeyValue(
                                    key="service.name", value=AnyValue(string_value="otlp-svc")
                                )
                            ]
                        ),
                        scope_spans=[ScopeSpans(spans=spans)],
                    )
                ]
            )
            out.append(request.SerializeToString())
            spans = []
    return out


def wait_committed(server: VigilProcess, target: float, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed_spans(server)
        if done >= target:
            return done
        time.sleep(0.05)
    return committed_spans(server)


def outcomes(server: VigilProcess) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith("vigil_xray_datagrams_total{"):
            out[line.split('"')[1]] = float(line.split()[-1])
    return out


def bench_udp(server: VigilProcess, docs: list[bytes], rate: float) -> tuple[float, float]:
    """(spans stored per second, fraction of the sent spans stored); ``rate``: documents
    sent per second (0: as fast as the kernel's receive buffer allows, a flood)."""
    before = committed_spans(server)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started = time.perf_counter()
    for i, doc in enumerate(docs):
        sock.sendto(doc, server.xray_address)
        if rate and i % 50 == 49:
            ahead = started + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        elif not rate and i % 200 == 199:
            time.sleep(0.002)  # keep under the kernel's receive buffer, as SDK traffic is
    sent = time.perf_counter() - started
    # Done when everything sent is stored or nothing more arrives for 3 s.
    done, last, idle = before, -1.0, time.perf_counter()
    while done < before + len(docs) * 10 and time.perf_counter() - idle < 3:
        time.sleep(0.2)
        done = committed_spans(server)
        if done != last:
            last, idle = done, time.perf_counter()
    elapsed = max(sent, idle - started)
    print(f"  sent {len(docs):,} documents in {sent:.1f} s; daemon outcomes {outcomes(server)}")
    return (done - before) / elapsed, (done - before) / (len(docs) * 10)


def bench_otlp(server: VigilProcess, batches: list[bytes], spans: int) -> float:
    before = committed_spans(server)
    started = time.perf_counter()

    def send(part: list[bytes]) -> None:
        with httpx.Client(timeout=60) as client:
            for body in part:
                r = client.post(
                    server.otlp_http_url + "/v1/traces",
                    content=body,
                    headers={"Content-Type": "application/x-protobuf"},
                )
                r.raise_for_status()

    threads = [threading.Thread(target=send, args=(batches[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_committed(server, before + spans)
    return spans / (time.perf_counter() - started)


def timed(fn: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    traces = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    udp_rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        server = VigilProcess(Path(tmp) / "data").start()
        try:
            base = time.time() - 3300
            otlp = otlp_batches(traces, base)
            docs = xray_docs(traces, base)
            otlp_rate = bench_otlp(server, otlp, traces * 10)
            udp_stored, delivered = bench_udp(server, docs, udp_rate / 10)
            print(f"ingest OTLP/HTTP (baseline): {otlp_rate:,.0f} spans/s")
            print(
                f"ingest X-Ray daemon UDP, sent at {udp_rate or 'flood'} spans/s:"
                f" {udp_stored:,.0f} spans/s stored"
                f" ({delivered:.1%} of sent stored; ratio {udp_stored / otlp_rate:.2f})"
            )
            xray = boto3.client(
                "xray",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            start, end = base - 60, time.time() + 60
            baseline = timed(lambda: xray.get_trace_summaries(StartTime=start, EndTime=end))
            expr = 'service("svc-3") AND annotation.status = "error" AND duration > 1'
            filtered = timed(
                lambda: xray.get_trace_summaries(
                    StartTime=start, EndTime=end, FilterExpression=expr
                )
            )
            one = xray.get_trace_summaries(StartTime=start, EndTime=end)["TraceSummaries"][0]["Id"]
            batch = timed(lambda: xray.batch_get_traces(TraceIds=[one]), repeat=5)
            graph = timed(
                lambda: xray.get_service_graph(StartTime=time.time() - 3600, EndTime=time.time())
            )
            print(f"spans stored: {committed_spans(server):,.0f} ({traces * 2:,} traces)")
            print(f"GetTraceSummaries, no filter (baseline): {baseline * 1000:.0f} ms")
            print(
                f"GetTraceSummaries {expr}: {filtered * 1000:.0f} ms"
                f" (ratio {filtered / baseline:.2f})"
            )
            print(f"BatchGetTraces one trace: {batch * 1000:.1f} ms (ratio {batch / baseline:.2f})")
            print(
                f"GetServiceGraph last hour: {graph * 1000:.0f} ms (ratio {graph / baseline:.2f})"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
