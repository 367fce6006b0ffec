"""Evaluation lag of a 10-second alarm on a running ``vigil serve`` (real clock): from the
breaching data point acknowledged by PutMetricData, and from the end of its period (the
earliest moment CloudWatch's rules let the state change), to ``DescribeAlarms`` showing
ALARM. Issue 11's target: < 2 s for 10-s alarms.

The baseline, in the same run, is the store's own visibility: the time from the same
kind of PutMetricData to GetMetricData returning the point. Each round puts one breaching
point at a different offset inside its 10-s period, waits for ALARM, then lets the alarm
go back to OK with quiet points.

    .venv/bin/python -m bench.alarm_lag [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
ALARM = "lag-10s"
NAMESPACE = "Lag"
POLL = 0.02


def put(cloudwatch: Any, metric: str, value: float) -> float:
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": metric,
                "Value": value,
                "StorageResolution": 1,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    return time.time()


def state(cloudwatch: Any) -> str:
    alarms = cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    return str(alarms[0]["StateValue"])


def wait_for(cloudwatch: Any, want: str, timeout: float = 60.0) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state(cloudwatch) == want:
            return time.time()
        time.sleep(POLL)
    raise TimeoutError(f"alarm never reached {want}")


def visible(cloudwatch: Any, metric: str, value: float, timeout: float = 30.0) -> float:
    """Seconds from now until GetMetricData returns ``value`` for ``metric``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = datetime.now(UTC)
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {"Namespace": NAMESPACE, "MetricName": metric},
                        "Period": 1,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=now - timedelta(minutes=1),
            EndTime=now + timedelta(seconds=5),
        )
        if value in answer["MetricDataResults"][0]["Values"]:
            return time.time()
        time.sleep(POLL)
    raise TimeoutError("point never visible")


def run(url: str, rounds: int) -> None:
    cloudwatch = boto3.client("cloudwatch", endpoint_url=url, **KEYS)
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM,
        Namespace=NAMESPACE,
        MetricName="m",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    put(cloudwatch, "m", 1.0)
    wait_for(cloudwatch, "OK")
    from_put: list[float] = []
    from_end: list[float] = []
    baseline: list[float] = []
    for r in range(rounds):
        # A different offset inside the 10-s period each round (0.5 s … 9.5 s).
        offset = 0.5 + (r * 1.7) % 9.0
        now = time.time()
        time.sleep((offset - now % 10) % 10)
        acked = put(cloudwatch, "m", 100.0 + r)
        period_end = (acked // 10 + 1) * 10
        seen = wait_for(cloudwatch, "ALARM")
        from_put.append(seen - acked)
        from_end.append(seen - period_end)
        probe = 1000.0 + r
        sent = put(cloudwatch, "probe", probe)
        baseline.append(visible(cloudwatch, "probe", probe) - sent)
        print(
            f"round {r}: put at +{acked % 10:.1f} s of its period; ALARM {seen - acked:.2f} s"
            f" after the put, {seen - period_end:.2f} s after the period's end;"
            f" store visibility {baseline[-1]:.2f} s  (load {os.getloadavg()[0]:.1f})"
        )
        # Back to OK: quiet points until the alarm says so.
        deadline = time.time() + 60
        while state(cloudwatch) != "OK" and time.time() < deadline:
            put(cloudwatch, "m", 1.0)
            time.sleep(1.0)
    worst_end, median_end = max(from_end), statistics.median(from_end)
    base = statistics.median(baseline)
    print(
        f"lag after the period's end: median {median_end:.2f} s, worst {worst_end:.2f} s"
        f" (target < 2 s); after the put: median {statistics.median(from_put):.2f} s;"
        f" store visibility (baseline) median {base:.2f} s;"
        f" ratio lag-after-end / visibility {median_end / base:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "vigil", "serve", "--data-dir", str(Path(tmp) / "d")]
        cmd += ["--port", "0", "--otlp-http-port", "0", "--otlp-grpc-port", "0"]
        cmd += ["--xray-port", "0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            addresses = dict(item.split("=", 1) for item in line.split()[2:])
            run("http://" + addresses["http"], args.rounds)
        finally:
            proc.terminate()
            proc.wait(120)


if __name__ == "__main__":
    main()
