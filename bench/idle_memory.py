"""Idle memory of ``vigil serve``: RSS split into private (anonymous) memory and file-backed
pages (mostly chDB's 555 MB library, mapped at import), on a fresh data directory and
after a load (100k log lines, 5,000 metric values) and some reads, sampled while idle.

The baseline, in the same run, is the same server with ClickHouse's own defaults for the
settings vigil caps (VIGIL_CHDB_OPTIONS).

    .venv/bin/python -m bench.idle_memory [--idle 75]
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

import boto3
import httpx

CLICKHOUSE_DEFAULTS = (
    "mark_cache_size=5368709120&index_mark_cache_size=5368709120"
    "&primary_index_cache_size=5368709120&max_thread_pool_free_size=1000"
)


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


def run(data: Path, env: dict[str, str], with_load: bool, idle: float) -> dict[str, int]:
    cmd = [sys.executable, "-m", "vigil", "serve", "--data-dir", str(data)]
    cmd += ["--port", "0", "--otlp-http-port", "0", "--otlp-grpc-port", "0", "--xray-port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **env}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        addresses = dict(item.split("=", 1) for item in line.split()[2:])
        if with_load:
            load("http://" + addresses["http"])
        time.sleep(idle)
        return memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=75.0, help="seconds idle before sampling")
    args = parser.parse_args()
    variants = {
        "baseline (ClickHouse defaults)": {"VIGIL_CHDB_OPTIONS": CLICKHOUSE_DEFAULTS},
        "vigil defaults": {},
    }
    for with_load in (False, True):
        results = {}
        for name, env in variants.items():
            with tempfile.TemporaryDirectory() as tmp:
                results[name] = run(Path(tmp) / "data", env, with_load, args.idle)
        what = "after load and reads" if with_load else "fresh data directory"
        base = results["baseline (ClickHouse defaults)"]
        for name, m in results.items():
            print(
                f"{what:24s} {name:32s} rss {m['rss']:4d} MB  private {m['anon']:4d} MB"
                f"  file-backed {m['file']:4d} MB  threads {m['threads']:3d}"
                f"  ratio rss {m['rss'] / base['rss']:.2f} private {m['anon'] / base['anon']:.2f}"
            )


if __name__ == "__main__":
    main()
