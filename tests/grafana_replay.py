"""Replaying the requests Grafana's data sources make (tests/fixtures/grafana/*.json) as
raw SigV4-signed HTTP requests — what an AWS SDK puts on the wire, built here with
botocore's signer and sent with httpx, so the bytes are the fixture's, not boto3's."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.vigil_process import Served

FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
REGION = "us-east-1"
CREDENTIALS = Credentials("grafana-test", "grafana-secret")

# (service for the signature, content type) per wire protocol.
PROTOCOLS = {
    "rest-json": "application/json",
    "json-1.1": "application/x-amz-json-1.1",
    "json-1.0": "application/x-amz-json-1.0",
    "query": "application/x-www-form-urlencoded; charset=utf-8",
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def calls(name: str) -> dict[str, dict[str, Any]]:
    """The fixture's calls by name."""
    return {c["name"]: c for c in load(name)["calls"]}


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """The value with ``${NAME}`` placeholders replaced: a string that is exactly one
    placeholder takes the value's own type (a number stays a number)."""
    if isinstance(value, str):
        if value in values:
            return values[value]
        for key, replacement in values.items():
            value = value.replace(key, str(replacement))
        return value
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    return value


def send(
    server: Served,
    call: dict[str, Any],
    values: dict[str, Any] | None = None,
    service: str = "xray",
    protocol: str = "rest-json",
) -> httpx.Response:
    """Sign and send one recorded call; returns the raw response."""
    body_value = substitute(call.get("body", {}), values or {})
    headers = {"Content-Type": PROTOCOLS[protocol]}
    path = call.get("path", "/")
    if protocol == "query":
        form = {"Action": call["operation"], "Version": call["version"], **body_value}
        body = urllib.parse.urlencode(form).encode()
    else:
        body = json.dumps(body_value).encode()
        if protocol.startswith("json"):
            headers["X-Amz-Target"] = f"{call['target']}.{call['operation']}"
    url = server.url.rstrip("/") + path
    request = AWSRequest(method=call.get("method", "POST"), url=url, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, service, REGION).add_auth(request)
    prepared = request.prepare()
    with httpx.Client(timeout=60) as client:
        return client.request(
            prepared.method, prepared.url, content=body, headers=dict(prepared.headers.items())
        )


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text[:2000])
    return response.json() if response.content else {}


def boto3_client(server: Served, service: str) -> Any:
    """A boto3 client signing with the replay's credentials (to write the data)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
    )


def server_args() -> list[str]:
    """A server that checks signatures (an API key is set, so SigV4 is verified against
    the configured secret), as a Grafana data source meets it."""
    return [
        "--no-self-metrics",
        "--api-key",
        "grafana-bearer-key",
        "--aws-access-key-id",
        CREDENTIALS.access_key,
        "--aws-secret-access-key",
        CREDENTIALS.secret_key,
    ]
