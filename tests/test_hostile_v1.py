"""vigil's own JSON API under the requests that reached a 500 (issue 18 items 6, 8, 9):
each answers 2xx or a 400 naming the field, never the store's text."""

from __future__ import annotations

import time
import uuid

import boto3
import httpx
import pytest

from tests.vigil_process import VigilProcess


def test_series_with_a_dimension_filter_answers(vigil: VigilProcess) -> None:
    """Item 9: "any(dimensions) AS dimensions" put an aggregate in WHERE."""
    ns = f"Hostile/{uuid.uuid4().hex[:8]}"
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "a", "Value": "b"}]}],
    )
    deadline = time.monotonic() + 30
    series: list[dict[str, object]] = []
    while time.monotonic() < deadline and not series:
        answer = httpx.get(
            f"{vigil.url}/api/v1/metrics/series",
            params={"namespace": ns, "dimension": "a=b"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        series = answer.json()["series"]
        time.sleep(0.1)
    assert [s["dimensions"] for s in series] == [{"a": "b"}]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/service-map", {"end": "1e+308"}, "end"),
        ("/api/v1/service-map", {"end": "1000000000000000000000000000000"}, "end"),
        ("/api/v1/traces", {"min_duration_ms": "nan"}, "min_duration_ms"),
        ("/api/v1/traces", {"max_duration_ms": "inf"}, "max_duration_ms"),
        ("/api/v1/traces", {"min_duration_ms": "-1"}, "min_duration_ms"),
        ("/api/v1/traces", {"start": "-60"}, "start"),
        ("/api/v1/logs", {"start": "now-99999999d"}, "start"),
        ("/api/v1/logs", {"end": "9" * 40}, "end"),
        (
            "/api/v1/metrics/datapoints",
            {"namespace": "N", "name": "M", "start": "0001-01-01T00:00:00+01:00"},
            "start",
        ),
    ],
)
def test_out_of_range_values_are_400_naming_the_field(
    vigil: VigilProcess, path: str, params: dict[str, str], field: str
) -> None:
    answer = httpx.get(f"{vigil.url}{path}", params=params, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field
    assert "DB::" not in answer.text


def test_service_map_ending_at_the_epoch_answers(vigil: VigilProcess) -> None:
    answer = httpx.get(f"{vigil.url}/api/v1/service-map", params={"end": "1"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["nodes"] == []


def test_metric_query_expression_of_the_wrong_type_is_400(vigil: VigilProcess) -> None:
    body = {
        "start": "now-1h",
        "end": "now",
        "queries": [
            {"id": "m1", "namespace": "N", "name": "C", "stat": "Sum", "period": 60},
            {"id": "e1", "expression": [[[1]]]},
        ],
    }
    answer = httpx.post(f"{vigil.url}/api/v1/metrics/query", json=body, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == "queries[1].expression"
