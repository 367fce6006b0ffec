"""Idle memory of ``vigil serve``: RSS split into private (anonymous) memory and file-backed
pages (mostly chDB's 555 MB library, mapped at import), on a fresh data directory and
after a load (100k log lines, 5,000 metric values) and some reads, sampled while idle.

Each server is sampled twice: ``--early`` seconds after start (or after the load), the
figure earlier passes recorded and this run's baseline, and ``--idle`` seconds after, once
the idle upkeep has settled (vigil.memory: the engine's code paged out after
``--idle-page-out-after``, 300 s, of a quiet store, checked once a minute). Then the cost
of that page-out: the first read after it against the same read repeated (warm).

    .venv/bin/python -m bench.idle_memory [--early 75] [--idle 480]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx


def memory(pid: int) -> dict[str, int]:
    """MB of RSS, anonymous and file-backed memory, and the thread count."""
    kb: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as lines:
        for line in lines:
            key, *rest = line.split()
            if key in ("Rss:", "Anonymous:"):
                kb[key] = int(rest[0])
    return {
        "rss": kb["Rss:"] // 1024,
        "anon": kb["Anonymous:"] // 1024,
        "file": (kb["Rss:"] - kb["Anonymous:"]) // 1024,
        "threads": len(os.listdir(f"/proc/{pid}/task")),
    }


def load(url: str) -> None:
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    logs = boto3.client("logs", endpoint_url=url, **keys)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=url, **keys)
    now = int(time.time() * 1000)
    for g in range(5):
        group = f"/idle/g{g}"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        for b in range(4):
            events = [
                {
                    "timestamp": now - 3_600_000 + b * 1000 + i // 100,
                    "message": json.dumps(
                        {"level": "ERROR" if i % 50 == 0 else "INFO", "i": i, "user": f"u{i % 97}"}
                    ),
                }
                for i in range(5000)
            ]
            logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    for b in range(50):
        data = [
            {
                "MetricName": f"m{j}",
                "Dimensions": [{"Name": "host", "Value": f"h{b}"}],
                "Value": 1.0,
            }
            for j in range(100)
        ]
        cloudwatch.put_metric_data(Namespace="Idle", MetricData=data)
    with httpx.Client(base_url=url, timeout=60) as http:
        for g in range(5):
            params = {"group": f"/idle/g{g}", "start": "now-2h"}
            http.get("/api/v1/logs", params={**params, "min_severity": "ERROR"})
            http.get("/api/v1/logs", params={**params, "q": "u5"})


def reads(http: httpx.Client, cloudwatch: Any, loaded: bool) -> float:
    """Seconds for the reads a person would make next (the logs API, a metric graph)."""
    started = time.perf_counter()
    groups = [f"/idle/g{g}" for g in range(2)] if loaded else ["/vigil/server"]
    for group in groups:
        http.get("/api/v1/logs", params={"group": group, "start": "now-2h", "q": "u5"})
    namespace, name = ("Idle", "m1") if loaded else ("vigil", "WriterQueueRows")
    end = time.time()
    cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "Expression": f"SEARCH('{{{namespace}}} MetricName=\"{name}\"', 'Sum', 60)",
            }
        ],
        StartTime=end - 7200,
        EndTime=end,
    )
    return time.perf_counter() - started


def run(data: Path, with_load: bool, early: float, idle: float) -> dict[str, float]:
    cmd = [sys.executable, "-m", "vigil", "serve", "--data-dir", str(data)]
    cmd += ["--port", "0", "--otlp-http-port", "0", "--otlp-grpc-port", "0", "--xray-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        addresses = dict(item.split("=", 1) for item in line.split()[2:])
        url = "http://" + addresses["http"]
        if with_load:
            load(url)
        started = time.monotonic()
        time.sleep(early)
        out = {f"early_{k}": float(v) for k, v in memory(proc.pid).items()}
        out["early_load"] = os.getloadavg()[0]
        time.sleep(max(0.0, started + idle - time.monotonic()))
        out.update({f"idle_{k}": float(v) for k, v in memory(proc.pid).items()})
        out["idle_load"] = os.getloadavg()[0]
        keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
        cloudwatch = boto3.client("cloudwatch", endpoint_url=url, **keys)
        with httpx.Client(base_url=url, timeout=60) as http:
            out["first_read"] = reads(http, cloudwatch, with_load)
            out["warm_read"] = min(reads(http, cloudwatch, with_load) for _ in range(3))
        return out
    finally:
        proc.terminate()
        proc.wait(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--early", type=float, default=75.0, help="first sample (s idle)")
    parser.add_argument("--idle", type=float, default=480.0, help="second sample (s idle)")
    args = parser.parse_args()
    for with_load in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            m = run(Path(tmp) / "data", with_load, args.early, args.idle)
        what = "after load and reads" if with_load else "fresh data directory"
        for when, secs in (("early", args.early), ("idle", args.idle)):
            print(
                f"{what:22s} {secs:4.0f} s idle: rss {m[when + '_rss']:4.0f} MB"
                f"  private {m[when + '_anon']:4.0f} MB  file-backed {m[when + '_file']:4.0f} MB"
                f"  threads {m[when + '_threads']:3.0f}"
                f"  ratio rss to {args.early:.0f} s {m[when + '_rss'] / m['early_rss']:.2f}"
                f"  load {m[when + '_load']:.2f}"
            )
        print(
            f"{what:22s} reads after {args.idle:.0f} s idle: first {m['first_read'] * 1000:.0f} ms,"
            f" warm {m['warm_read'] * 1000:.0f} ms (ratio {m['first_read'] / m['warm_read']:.2f})"
        )


if __name__ == "__main__":
    main()
