"""PutLogEvents ingest rate: boto3-shaped requests (the JSON 1.1 body and headers botocore
sends, prepared in advance) from several client threads against a vigil process, for a
fixed time; the baseline is the same events sent as OTLP/HTTP protobuf in the same run.

vigil acknowledges a batch once it is in its write-ahead log and inserts into the store
behind it, so two rates are printed per protocol: acknowledged events/s while sending, and
the sustained rate — the same events divided by the time until the store holds all of
them (the writer's queue, ``vigil_writer_queue_rows`` on /metrics, is empty again). Each
phase starts on a drained queue, after a short warm-up.

    .venv/bin/python bench/logs_ingest.py [--seconds 15] [--threads 4]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from tests.vigil_process import VigilProcess

from bench.ingest import drained
from bench.logs_data import message

GROUP, STREAM = "/bench/ingest", "worker-1"
MAX_BATCH = 1_048_576


def batches(count: int, now_ms: int) -> list[list[dict[str, object]]]:
    """``count`` batches as full as CloudWatch allows (1 MB counting 26 bytes per event)."""
    rng = random.Random(7)
    out = []
    for _ in range(count):
        events: list[dict[str, object]] = []
        size = 0
        while True:
            ts = now_ms - 60_000 + len(events)
            text = message(rng, ts)
            if size + len(text.encode()) + 26 > MAX_BATCH or len(events) == 10_000:
                break
            size += len(text.encode()) + 26
            events.append({"timestamp": ts, "message": text})
        out.append(events)
    return out


def put_body(events: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"logGroupName": GROUP, "logStreamName": STREAM, "logEvents": events})


def otlp_body(events: list[dict[str, object]]) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="bench-otlp"))
    )
    scope = rl.scope_logs.add()
    for event in events:
        record = scope.log_records.add()
        record.time_unix_nano = int(event["timestamp"]) * 1_000_000  # type: ignore[call-overload]
        record.body.string_value = str(event["message"])
    return bytes(request.SerializeToString())


def phase(
    url: str,
    send: Callable[[httpx.Client, bytes], bool],
    bodies: list[tuple[bytes, int]],
    threads: int,
    seconds: float,
) -> tuple[float, float]:
    """(acknowledged events/s while sending, events/s until the store holds them all)."""
    drive(send, bodies[:threads], threads, 1.0)  # warm-up: first-call imports, connections
    drained(url + "/metrics")
    began = time.monotonic()
    acked = drive(send, bodies, threads, seconds)
    sent = time.monotonic() - began
    drained(url + "/metrics")
    return acked, acked * sent / (time.monotonic() - began)


def drive(
    send: Callable[[httpx.Client, bytes], bool],
    bodies: list[tuple[bytes, int]],
    threads: int,
    seconds: float,
) -> float:
    """Acknowledged events per second while ``threads`` clients send for ``seconds``."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = index
            while time.monotonic() < stop:
                body, n = bodies[i % len(bodies)]
                if send(client, body):
                    done[index] += n
                i += threads

    began = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = VigilProcess(Path(tmp) / "data").start()
        try:
            url = server.url
            headers = {
                "X-Amz-Target": "Logs_20140328.PutLogEvents",
                "Content-Type": "application/x-amz-json-1.1",
            }
            for target, body in (
                ("CreateLogGroup", {"logGroupName": GROUP}),
                ("CreateLogStream", {"logGroupName": GROUP, "logStreamName": STREAM}),
            ):
                httpx.post(
                    url,
                    headers={**headers, "X-Amz-Target": f"Logs_20140328.{target}"},
                    content=orjson.dumps(body),
                ).raise_for_status()
            events = batches(8, int(time.time() * 1000))
            per_batch = sum(len(e) for e in events) / len(events)
            print(f"{len(events)} distinct batches of ~{per_batch:.0f} events (1 MB each)")

            def put(client: httpx.Client, body: bytes) -> bool:
                return client.post(url, headers=headers, content=body).status_code == 200

            otlp_url = server.otlp_http_url + "/v1/logs"

            def otlp(client: httpx.Client, body: bytes) -> bool:
                response = client.post(
                    otlp_url, headers={"Content-Type": "application/x-protobuf"}, content=body
                )
                return response.status_code == 200

            otlp_bodies = [(otlp_body(e), len(e)) for e in events]
            put_bodies = [(put_body(e), len(e)) for e in events]
            base_acked, base = phase(url, otlp, otlp_bodies, args.threads, args.seconds)
            acked, rate = phase(url, put, put_bodies, args.threads, args.seconds)
            print(
                f"OTLP/HTTP baseline: {base:,.0f} events/s sustained"
                f" ({base_acked:,.0f}/s acknowledged while sending)"
            )
            print(
                f"PutLogEvents:       {rate:,.0f} events/s sustained (ratio {rate / base:.2f};"
                f" {acked:,.0f}/s acknowledged while sending)"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
