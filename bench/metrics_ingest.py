"""PutMetricData ingest throughput against a vigil process, with OTLP/HTTP as the baseline.

Both send the same points: batches of 1,000 data points (1,000 series × one value, the
shape of a fleet reporting once a minute), request bodies built beforehand so that the
figure is the server's, from several client threads for a fixed time. Prints points/s for
each protocol and the ratio PutMetricData / OTLP measured in the same run, then
PutMetricData again on a server with the reference decoders (``VIGIL_NATIVE_DECODERS=0``)
for the native / reference ratio. Each measurement runs on a fresh server and lasts until
the writer has inserted every point sent (not only until the WAL acknowledged them).

    .venv/bin/python bench/metrics_ingest.py [--seconds 10] [--clients 4]

``--baseline-src DIR`` (a ``src`` directory of another revision, its Cython modules built,
e.g. ``git archive main src | tar -x -C /tmp/base`` plus the ``.so`` files) runs
PutMetricData on that revision too, alternating with this one ``--rounds`` times, and
prints the medians and their ratio: a before/after in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.vigil_process import VigilProcess

from bench.ingest import drained

BATCH = 1000


def put_metric_data_bodies(count: int) -> list[bytes]:
    now = time.time()
    return [
        orjson.dumps(
            {
                "Namespace": "Bench",
                "MetricData": [
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": [
                            {"Name": "InstanceId", "Value": f"i-{i:05d}"},
                            {"Name": "AutoScalingGroup", "Value": f"asg-{i % 10}"},
                        ],
                        "Timestamp": now - 60 + r * 0.001,
                        "Value": round(20 + (i * 7 + r) % 600 / 10, 1),
                        "Unit": "Percent",
                    }
                    for i in range(BATCH)
                ],
            }
        )
        for r in range(count)
    ]


def otlp_bodies(count: int) -> list[bytes]:
    now = time.time_ns()
    out = []
    for r in range(count):
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        attr = rm.resource.attributes.add()
        attr.key, attr.value.string_value = "service.name", "BenchOtlp"
        metric = rm.scope_metrics.add().metrics.add()
        metric.name, metric.unit = "CPUUtilization", "%"
        for i in range(BATCH):
            point = metric.gauge.data_points.add()
            for key, value in (("InstanceId", f"i-{i:05d}"), ("AutoScalingGroup", f"asg-{i % 10}")):
                a = point.attributes.add()
                a.key, a.value.string_value = key, value
            point.time_unix_nano = now - 60 * 10**9 + r * 10**6
            point.as_double = round(20 + (i * 7 + r) % 600 / 10, 1)
        out.append(request.SerializeToString())
    return out


def drive(
    base: str,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    clients: int,
    seconds: float,
) -> float:
    """Points/s from the first request until every point sent is in the store."""
    sent = [0] * clients
    throttled = [0] * clients
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def worker(k: int) -> None:
        with httpx.Client(timeout=60, headers=headers) as http:
            i = k
            while time.monotonic() < deadline:
                response = http.post(url, content=bodies[i % len(bodies)])
                if response.status_code in (429, 503) or (
                    response.status_code == 400 and b"Throttling" in response.content
                ):
                    # Back-pressure (the write queue is full): back off as SDKs do, resend.
                    throttled[k] += 1
                    time.sleep(0.05)
                    continue
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return
                sent[k] += BATCH
                i += clients

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drained(f"{base}/metrics")  # rates count stored points (see bench/ingest.py)
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"requests failed: {errors[:3]}")
    if sum(throttled):
        print(f"  ({sum(throttled):,} requests throttled and resent)")
    return sum(sent) / elapsed


def measure(
    env: dict[str, str],
    endpoint: str,
    bodies: list[bytes],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> float:
    """One protocol on a fresh server (so that no phase pays for another's merges)."""
    with tempfile.TemporaryDirectory() as tmp:
        vigil = VigilProcess(Path(tmp) / "data", env=env).start()
        try:
            url = f"{vigil.otlp_http_url}/v1/metrics" if endpoint == "otlp" else vigil.url
            drive(vigil.url, url, bodies[:4], headers, 2, 1.0)  # warm up
            return drive(vigil.url, url, bodies, headers, args.clients, args.seconds)
        finally:
            vigil.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--baseline-src", type=Path, help="src dir of the revision to compare")
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline-src")
    args = parser.parse_args()
    if args.baseline_src:
        compare(args)
        return
    cw_bodies, otlp = put_metric_data_bodies(50), otlp_bodies(50)
    json_headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "x-amzn-query-mode": "true",
    }
    otlp_headers = {"Content-Type": "application/x-protobuf"}
    otlp_rate = measure({}, "otlp", otlp, otlp_headers, args)
    cw_rate = measure({}, "aws", cw_bodies, json_headers, args)
    # The reference (Python) decoders.
    ref_rate = measure({"VIGIL_NATIVE_DECODERS": "0"}, "aws", cw_bodies, json_headers, args)
    print(f"OTLP/HTTP (baseline)                   {otlp_rate:>10,.0f} points/s")
    print(f"PutMetricData (JSON 1.0)               {cw_rate:>10,.0f} points/s")
    print(f"PutMetricData, reference decoder       {ref_rate:>10,.0f} points/s")
    print(f"ratio PutMetricData / OTLP             {cw_rate / otlp_rate:>10.2f}")
    print(f"ratio native / reference PutMetricData {cw_rate / ref_rate:>10.2f}")


def compare(args: argparse.Namespace) -> None:
    """PutMetricData on this revision and on ``--baseline-src``, alternated."""
    bodies = put_metric_data_bodies(50)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "x-amzn-query-mode": "true",
    }
    baseline_env = {"PYTHONPATH": str(args.baseline_src.resolve())}
    rates: dict[str, list[float]] = {"baseline": [], "this": []}
    for _ in range(args.rounds):
        rates["baseline"].append(measure(baseline_env, "aws", bodies, headers, args))
        rates["this"].append(measure({}, "aws", bodies, headers, args))
        print(f"  baseline {rates['baseline'][-1]:>10,.0f}   this {rates['this'][-1]:>10,.0f}")
    base, this = (statistics.median(rates[k]) for k in ("baseline", "this"))
    print(f"PutMetricData, baseline revision (median) {base:>10,.0f} points/s")
    print(f"PutMetricData, this revision (median)     {this:>10,.0f} points/s")
    print(f"ratio this / baseline                     {this / base:>10.2f}")


if __name__ == "__main__":
    main()
