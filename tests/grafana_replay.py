"""Replaying the requests Grafana's data sources make (tests/fixtures/grafana/*.json) as
raw SigV4-signed HTTP requests — what an AWS SDK puts on the wire, built here with
botocore's signer and sent with httpx, so the bytes are the fixture's, not boto3's."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from botocore import parsers, serialize
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


_SESSION = botocore.session.get_session()


def send_input(
    server: Served,
    call: dict[str, Any],
    values: dict[str, Any] | None = None,
    protocol: str | None = None,
) -> httpx.Response:
    """Put a recorded SDK input on the wire in ``protocol`` (the model's own when None:
    ``json`` for Logs; ``query`` or ``json`` for CloudWatch) with botocore's serializer
    for that protocol, sign it (SigV4, the model's signing name) and send it."""
    model = _SESSION.get_service_model(call["service"])
    operation = model.operation_model(call["operation"])
    params = substitute(call["input"], values or {})
    wire = protocol or ("json" if call["service"] == "logs" else "query")
    request = serialize.create_serializer(wire).serialize_to_request(params, operation)
    body = request["body"]
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    url = server.url.rstrip("/") + request["url_path"]
    signed = AWSRequest(
        method=request["method"], url=url, data=body, headers=dict(request["headers"])
    )
    SigV4Auth(CREDENTIALS, model.signing_name, REGION).add_auth(signed)
    prepared = signed.prepare()
    with httpx.Client(timeout=60) as client:
        return client.request(
            prepared.method, prepared.url, content=body, headers=dict(prepared.headers.items())
        )


def read(
    response: httpx.Response, call: dict[str, Any], protocol: str | None = None
) -> dict[str, Any]:
    """The answer as an SDK reads it (botocore's parser for the protocol): a 200 is
    required; the raw body stays under ``_raw`` for the checks of the wire itself."""
    assert response.status_code == 200, (response.status_code, response.text[:2000])
    model = _SESSION.get_service_model(call["service"])
    operation = model.operation_model(call["operation"])
    wire = protocol or ("json" if call["service"] == "logs" else "query")
    parser = parsers.create_parser(wire)
    answer: dict[str, Any] = parser.parse(
        {
            "body": response.content,
            "headers": dict(response.headers.items()),
            "status_code": response.status_code,
        },
        operation.output_shape,
    )
    answer.pop("ResponseMetadata", None)
    answer["_raw"] = response.content
    return answer


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
