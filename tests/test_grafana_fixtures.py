"""The recorded Grafana requests are valid inputs of their operations by botocore's
models (so a fixture cannot drift into a shape no SDK would send), and each names where in
the data source's source it comes from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from tests.grafana_replay import load, substitute

SAMPLE = {
    "${START}": datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    "${END}": datetime(2026, 12, 7, 11, 0, tzinfo=UTC),
    "${START_S}": 1_796_637_600,
    "${END_S}": 1_796_641_200,
    "${START_MS}": 1_796_637_600_000,
    "${QUERY_ID}": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "${ALARM}": "grafana-cpu",
    "${GROUP}": "/grafana/app",
    "${GROUP_ARN}": "arn:aws:logs:us-east-1:000000000000:log-group:/grafana/app",
    "${STREAM}": "web-1",
    "${ACCOUNT}": "000000000000",
    "${TRACE_ID}": "1-6b16d39d-fb012b9eec4f4468b9a321ce",
}
SESSION = botocore.session.get_session()


def _cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    for fixture in ("cloudwatch.json", "xray.json"):
        data = load(fixture)
        for call in data["calls"]:
            service = call.get("service", "xray")
            params = call.get("input", call.get("body"))
            out.append((fixture, service, call["operation"], {"call": call, "params": params}))
    return out


@pytest.mark.parametrize(
    ("fixture", "service", "operation", "case"),
    _cases(),
    ids=[f"{c[0]}:{c[3]['call']['name']}" for c in _cases()],
)
def test_recorded_call_is_a_valid_input(
    fixture: str, service: str, operation: str, case: dict[str, Any]
) -> None:
    call = case["call"]
    assert call["from"], "every call names its place in the data source's source"
    values = {**SAMPLE, "${GROUP}": "Default"} if fixture == "xray.json" else SAMPLE
    params = substitute(case["params"], values)
    model = SESSION.get_service_model(service)
    operation_model = model.operation_model(operation)
    if service == "xray":
        http = operation_model.http
        assert (call["method"], call["path"]) == (http["method"], http["requestUri"])
    report = ParamValidator().validate(params, operation_model.input_shape)
    assert not report.has_errors(), report.generate_report()
    left = {k for k in SAMPLE if k in repr(params)}
    assert not left, f"placeholders left: {left}"
