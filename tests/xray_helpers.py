"""Helpers for the X-Ray tests: boto3 clients for vigil, subprocess apps, segment docs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

from tests.vigil_process import Served

ROOT = Path(__file__).resolve().parent.parent


def xray_client(server: Served, tenant: str | None = None) -> Any:
    client = boto3.client(
        "xray",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    if tenant:
        client.meta.events.register(
            "before-sign.xray.*",
            lambda request, **_: request.headers.__setitem__("X-Vigil-Tenant", tenant),
        )
    return client


def run_app(server: Served, module: str, *args: str, timeout: float = 120) -> str:
    """Run tests/apps/<module>.py in its own process with the X-Ray daemon address set."""
    host, port = server.xray_address
    env = {**os.environ, "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", f"tests.apps.{module}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def new_trace_id(at: float | None = None) -> str:
    return f"1-{int(at or time.time()):08x}-{uuid.uuid4().hex[:24]}"


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (data sent over UDP lands later)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def summaries(client: Any, expression: str, start: float, end: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end, "FilterExpression": expression}
    while True:
        page = client.get_trace_summaries(**kwargs)
        found += page["TraceSummaries"]
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]
