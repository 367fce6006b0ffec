"""boto3 ``logs`` clients pointed at a vigil process, and small helpers for the tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
from botocore.config import Config

from tests.vigil_process import Served


def logs_client(server: Served, tenant: str | None = None) -> Any:
    client = boto3.client(
        "logs",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}),
    )
    if tenant is not None:

        def add_tenant(request: Any, **_: Any) -> None:
            request.headers["X-Vigil-Tenant"] = tenant

        client.meta.events.register("before-sign.logs.*", add_tenant)
    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_query(logs: Any, query_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer: dict[str, Any] = logs.get_query_results(queryId=query_id)
        if answer["status"] not in ("Scheduled", "Running"):
            return answer
        assert time.monotonic() < deadline, "query did not finish"
        time.sleep(0.05)


def rows(answer: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in answer["results"]
    ]
