"""``vigil demo``: the monitoring design's data pipeline, fed to a running vigil.

It backfills the last ``--minutes`` and then keeps sending one minute of data every
``--interval`` seconds (until Ctrl-C, or stops after the backfill with ``--once``),
through vigil's public endpoints as any client would:

* metrics (PutMetricData, JSON protocol): the ``MetricsCollector`` names of the design —
  ``RecordsProcessed``, ``ProcessingDuration``, ``DataQualityScore``, ``RevenueImpact``,
  ``CostPerRecord``, ``ProcessingCost``, ``DataFreshness`` per pipeline — and the Lambda
  function's ``Duration`` and ``Errors``;
* JSON logs with errors (PutLogEvents into ``/aws/lambda/data-processor``), each carrying
  the trace id of its invocation;
* traces: OTLP/HTTP JSON spans (``/v1/traces``) and X-Ray segments (PutTraceSegments);
* one anomaly: twelve minutes before the start, a slow, failing minute;
* and the design's two dashboards (PutDashboard).

With an API key, pass ``--api-key`` (sent as ``Authorization: Bearer``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from typing import Any

import httpx

from vigil import demo_dashboards as design

PIPELINES = ("orders", "payments")
_CW = "GraniteServiceVersion20100801"
_LOGS = "Logs_20140328"


class Demo:
    def __init__(self, url: str, api_key: str | None = None, seed: int = 7) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=30, headers=headers)
        self.rng = random.Random(seed)
        self.stream = f"demo-{os.getpid()}"
        self.anomaly_minute: int | None = None

    def _aws(self, target: str, body: dict[str, Any], json_version: str = "1.0") -> Any:
        r = self.http.post(
            "/",
            content=json.dumps(body),
            headers={
                "X-Amz-Target": target,
                "Content-Type": f"application/x-amz-json-{json_version}",
            },
        )
        if r.status_code >= 400 and "ResourceAlreadyExists" not in r.text:
            raise RuntimeError(f"{target}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else {}

    def setup(self) -> None:
        for name, body in design.bodies().items():
            self._aws(f"{_CW}.PutDashboard", {"DashboardName": name, "DashboardBody": body})
        self._aws(f"{_LOGS}.CreateLogGroup", {"logGroupName": design.ERROR_LOG_GROUP}, "1.1")
        self._aws(
            f"{_LOGS}.CreateLogStream",
            {"logGroupName": design.ERROR_LOG_GROUP, "logStreamName": self.stream},
            "1.1",
        )

    def minute(self, t: int) -> None:
        """One minute of the pipeline ending at ``t`` (epoch seconds)."""
        minute = t // 60
        anomaly = minute == self.anomaly_minute
        wave = math.sin(minute / 30.0)
        metrics: list[dict[str, Any]] = []
        lam: list[dict[str, Any]] = []
        fn = [{"Name": "FunctionName", "Value": design.FUNCTION}]
        invocations = 20
        errors = 6 if anomaly else self.rng.choice((0, 0, 0, 1))
        durations = [
            (2600.0 if anomaly else 280.0 + 60 * wave) + self.rng.uniform(-40, 40)
            for _ in range(invocations)
        ]
        lam.append(
            {
                "MetricName": "Duration",
                "Dimensions": fn,
                "Timestamp": t,
                "Unit": "Milliseconds",
                "Values": durations,
            }
        )
        lam.append(
            {
                "MetricName": "Errors",
                "Dimensions": fn,
                "Timestamp": t,
                "Unit": "Count",
                "Value": float(errors),
            }
        )
        for p in PIPELINES:
            dims = [{"Name": "Pipeline", "Value": p}]
            records = 1000 + 300 * wave + self.rng.randint(-50, 50)
            cost = 2.0 + 0.5 * wave + self.rng.uniform(0, 0.2)
            quality = (82.0 if anomaly else 97.0) + self.rng.uniform(-1.5, 1.5)
            for name, value, unit in (
                ("RecordsProcessed", records, "Count"),
                ("ProcessingDuration", sum(durations) / len(durations) / 1000, "Seconds"),
                ("DataQualityScore", quality, "Percent"),
                ("RevenueImpact", records * 0.12, "None"),
                ("CostPerRecord", cost / records, "None"),
                ("ProcessingCost", cost, "None"),
                ("DataFreshness", (9.0 if anomaly else 2.0) + self.rng.uniform(0, 1), "None"),
            ):
                metrics.append(
                    {
                        "MetricName": name,
                        "Dimensions": dims,
                        "Timestamp": t,
                        "Unit": unit,
                        "Value": float(value),
                    }
                )
        self._aws(f"{_CW}.PutMetricData", {"Namespace": design.NAMESPACE, "MetricData": metrics})
        self._aws(f"{_CW}.PutMetricData", {"Namespace": design.LAMBDA_NAMESPACE, "MetricData": lam})
        self._logs_and_traces(t, durations, errors)

    def _logs_and_traces(self, t: int, durations: list[float], errors: int) -> None:
        events: list[dict[str, Any]] = []
        spans: list[dict[str, Any]] = []
        segments: list[str] = []
        for i, duration in enumerate(durations):
            start = t * 1000 + i * 2500 + self.rng.randint(0, 500)
            trace = os.urandom(16).hex()
            failed = i < errors
            record = {
                "level": "ERROR" if failed else "INFO",
                "message": self.rng.choice(
                    ("payment gateway timeout", "schema mismatch in batch", "S3 throttled")
                )
                if failed
                else f"processed batch of {self.rng.randint(40, 60)} records",
                "pipeline": self.rng.choice(PIPELINES),
                "duration_ms": round(duration, 1),
                "trace_id": trace,
            }
            events.append({"timestamp": start, "message": json.dumps(record)})
            span = {
                "traceId": trace,
                "spanId": os.urandom(8).hex(),
                "name": "process-batch",
                "kind": 2,
                "startTimeUnixNano": str(start * 10**6),
                "endTimeUnixNano": str(int((start + duration) * 10**6)),
                "status": {"code": 2 if failed else 1},
            }
            spans.append(span)
            if i % 5 == 0:  # some invocations arrive as X-Ray segments
                segments.append(
                    json.dumps(
                        {
                            "name": "data-api",
                            "id": os.urandom(8).hex(),
                            "trace_id": f"1-{start // 1000:08x}-{os.urandom(12).hex()}",
                            "start_time": start / 1000,
                            "end_time": (start + duration / 3) / 1000,
                            "fault": failed,
                        }
                    )
                )
        self._aws(
            f"{_LOGS}.PutLogEvents",
            {
                "logGroupName": design.ERROR_LOG_GROUP,
                "logStreamName": self.stream,
                "logEvents": events,
            },
            "1.1",
        )
        resource = {
            "attributes": [{"key": "service.name", "value": {"stringValue": design.FUNCTION}}]
        }
        r = self.http.post(
            "/v1/traces",
            json={"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]},
        )
        r.raise_for_status()
        self.http.post(
            "/TraceSegments", json={"TraceSegmentDocuments": segments}
        ).raise_for_status()

    def run(self, minutes: int, interval: float, once: bool) -> None:
        self.setup()
        now = int(time.time())
        first = now - now % 60 - minutes * 60
        self.anomaly_minute = (now - 12 * 60) // 60
        for t in range(first, now - now % 60 + 60, 60):
            self.minute(min(t, now))
        print(
            f"vigil demo: {minutes} minutes of the data pipeline sent; dashboards"
            f" {', '.join(design.bodies())} at {self.http.base_url}/dashboards",
            flush=True,
        )
        while not once:
            time.sleep(interval)
            self.minute(int(time.time()))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="feed a running vigil the design's data pipeline")
    p.add_argument("--url", default=os.environ.get("VIGIL_URL", "http://127.0.0.1:8080"))
    p.add_argument("--api-key", default=os.environ.get("VIGIL_API_KEY") or None)
    p.add_argument("--minutes", type=int, default=60, help="history to backfill")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between live sends")
    p.add_argument("--once", action="store_true", help="backfill, then stop")


def run(args: argparse.Namespace) -> int:
    try:
        Demo(args.url, args.api_key).run(args.minutes, args.interval, args.once)
    except KeyboardInterrupt:
        return 0
    except (httpx.HTTPError, RuntimeError) as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return 1
    return 0
