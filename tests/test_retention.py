"""Retention: per log group and server-wide for logs; metric and trace retention by day.

In-process: each pillar's retention task is run when the test says (``run_task``), not on a
short interval polled for.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
from google.protobuf.message import Message

from tests.otlp_payloads import gauge_request, log, logs_request, span, spans_request
from tests.runtime import InProcessVigil

DAY = 86400 * 10**9
PB = {"Content-Type": "application/x-protobuf"}
RETENTION_TASKS = ("log-retention", "metric-retention", "trace-retention")


def test_retention(tmp_path: Path) -> None:
    server = InProcessVigil(
        tmp_path / "data",
        "--log-retention-days",
        "5",
        "--trace-retention-days",
        "30",
        "--metric-retention-days",
        "30",
        # The log groups listed below are the test's own (not vigil's /vigil/server).
        "--no-self-metrics",
        manual_tasks=True,
    ).start()
    try:
        _check(server)
    finally:
        assert server.stop() == 0


def _check(server: InProcessVigil) -> None:
    now = time.time_ns()

    def post(path: str, message: Message) -> None:
        url = server.otlp_http_url + path
        httpx.post(url, content=message.SerializeToString(), headers=PB).raise_for_status()

    groups = ("short", "default-ret", "long")
    for group in groups:
        post("/v1/logs", logs_request(group, [log("today", now)]))
    with server.client() as http:
        assert (
            http.put("/api/v1/logs/groups/short/retention", json={"retention_days": 1}).status_code
            == 200
        )
        assert (
            http.put("/api/v1/logs/groups/long/retention", json={"retention_days": 30}).status_code
            == 200
        )
    for group in groups:
        post(
            "/v1/logs",
            logs_request(group, [log("3 days", now - 3 * DAY), log("8 days", now - 8 * DAY)]),
        )
    old_trace, new_trace = uuid.uuid4().bytes, uuid.uuid4().bytes
    post(
        "/v1/traces",
        spans_request(
            "svc",
            [
                span(old_trace, b"\x01" * 8, start=now - 40 * DAY),
                span(new_trace, b"\x02" * 8, start=now - DAY),
            ],
        ),
    )
    post("/v1/metrics", gauge_request("svc", "g", [(now - 40 * DAY, 1.0), (now - DAY, 2.0)]))

    with server.client() as http:
        bad = http.put("/api/v1/logs/groups/short/retention", json={"retention_days": 0})
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "retention_days"
        assert (
            http.put("/api/v1/logs/groups/nope/retention", json={"retention_days": 1}).status_code
            == 404
        )

        def bodies(group: str) -> list[str]:
            rows = http.get("/api/v1/logs", params={"group": group}).json()["logs"]
            return [r["body"] for r in rows]

        assert bodies("short") == ["today", "3 days", "8 days"]
        for task in RETENTION_TASKS:
            server.run_task(task)
        assert bodies("short") == ["today"]
        assert bodies("default-ret") == ["today", "3 days"]
        assert bodies("long") == ["today", "3 days", "8 days"]
        old = http.get(f"/api/v1/traces/{old_trace.hex()}")
        assert old.status_code == 404 or old.json()["span_count"] == 0
        assert http.get(f"/api/v1/traces/{new_trace.hex()}").json()["span_count"] == 1
        points = http.get(
            "/api/v1/metrics/datapoints",
            params={
                "namespace": "svc",
                "name": "g",
                "statistic": "SampleCount",
                "period": 86400,
                "start": "now-50d",
                "end": "now",
            },
        ).json()["datapoints"]
        assert [p["value"] for p in points] == [1.0]
        retention = {
            g["name"]: g["retention_days"]
            for g in http.get("/api/v1/logs/groups").json()["log_groups"]
        }
        assert retention == {"short": 1, "default-ret": None, "long": 30}
