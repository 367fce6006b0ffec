"""PutMetricData over the query protocol (form-encoded, as AWS CLI v1 and aws-sdk-go v1
send it): where a 1,000-datum request's time goes in-process, and its latency through a
vigil process.

In-process, per request of 1,000 data: ``parse_qsl`` of the body, the form → parameters
conversion (``protocols.from_query``), botocore's generic validation (which the server
skips for PutMetricData: the decoder checks every rule itself) and the reference decoder.
Then the median latency of 30 sequential requests to a fresh server.

    .venv/bin/python bench/metrics_form.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.vigil_process import VigilProcess

from vigil.api.aws import protocols
from vigil.ingest.cloudwatch_metrics import decode_put_metric_data

BATCH = 1000


def form_body(seed: int, now: float) -> bytes:
    form = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "Bench"}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    for i in range(1, BATCH + 1):
        m = f"MetricData.member.{i}."
        form[m + "MetricName"] = "CPUUtilization"
        form[m + "Dimensions.member.1.Name"] = "InstanceId"
        form[m + "Dimensions.member.1.Value"] = f"i-{i:05d}"
        form[m + "Dimensions.member.2.Name"] = "AutoScalingGroup"
        form[m + "Dimensions.member.2.Value"] = f"asg-{i % 10}"
        form[m + "Timestamp"] = stamp
        form[m + "Value"] = str(round(20 + (i * 7 + seed) % 600 / 10, 1))
        form[m + "Unit"] = "Percent"
    return urlencode(form).encode()


def per_call_ms(fn: Callable[[], Any], runs: int = 20) -> tuple[float, Any]:
    started = time.perf_counter()
    for _ in range(runs):
        result = fn()
    return (time.perf_counter() - started) / runs * 1000, result


def main() -> None:
    now = time.time()
    bodies = [form_body(seed, now) for seed in range(10)]
    model = protocols.load_model("cloudwatch").operation_model("PutMetricData")
    parse, items = per_call_ms(lambda: parse_qsl(bodies[0].decode(), keep_blank_values=True))
    convert, params = per_call_ms(lambda: protocols.from_query(items, model.input_shape))
    validate, _ = per_call_ms(lambda: protocols.validate(params, model.input_shape))
    decode, _ = per_call_ms(
        lambda: decode_put_metric_data(params, "default", time.time_ns()).to_arrow()
    )
    print(
        f"in-process per {BATCH:,} data: parse_qsl {parse:.1f} ms, from_query {convert:.1f} ms,"
        f" validate {validate:.1f} ms (skipped by the server), decode {decode:.1f} ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        vigil = VigilProcess(Path(tmp) / "data").start()
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            with httpx.Client(timeout=60, headers=headers) as http:
                for body in bodies[:3]:  # warm up
                    http.post(vigil.url, content=body).raise_for_status()
                times = []
                for k in range(30):
                    started = time.perf_counter()
                    http.post(vigil.url, content=bodies[k % len(bodies)]).raise_for_status()
                    times.append(time.perf_counter() - started)
        finally:
            vigil.stop()
    print(f"through vigil: median {statistics.median(times) * 1000:.1f} ms per request")


if __name__ == "__main__":
    main()
