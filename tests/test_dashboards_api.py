"""Dashboards: boto3's cloudwatch client (PutDashboard, GetDashboard, ListDashboards,
DeleteDashboards, tags), the query protocol's error shape, and /api/v1/dashboards (what
the UI reads), against a vigil process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests import aws_protocols
from tests.vigil_process import VigilProcess
from vigil.api import columns

XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"


@pytest.fixture(params=["json", "query", "cbor"])
def cw(vigil: VigilProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    client = aws_protocols.client("cloudwatch", request.param, vigil.url)
    yield client
    client.close()


def _as_json(node: Any) -> Any:
    """A decoded columnar answer as its JSON twin: arrays as lists, NaN as null."""
    if isinstance(node, dict):
        return {k: _as_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_json(v) for v in node]
    if hasattr(node, "tolist"):
        return [None if v != v else v for v in node.tolist()]
    return node


def _name() -> str:
    return f"dash-{uuid.uuid4().hex[:10]}"


def _body(ns: str = "App/Test") -> str:
    return json.dumps(
        {
            "start": "-PT3H",
            "widgets": [
                {
                    "type": "metric",
                    "x": 0,
                    "y": 0,
                    "width": 12,
                    "height": 6,
                    "properties": {
                        "title": "Latency",
                        "metrics": [
                            [ns, "Duration", "Function", "ingest", {"stat": "Average"}],
                            ["...", "export", {"yAxis": "right"}],
                        ],
                        "period": 60,
                        "view": "timeSeries",
                        "yAxis": {"left": {"label": "ms"}, "right": {"label": "ms"}},
                    },
                },
                {
                    "type": "text",
                    "x": 12,
                    "y": 0,
                    "width": 12,
                    "height": 3,
                    "properties": {"markdown": "# Hello"},
                },
            ],
        }
    )


def test_put_get_list_delete(cw: Any) -> None:
    name = _name()
    assert (
        cw.put_dashboard(DashboardName=name, DashboardBody=_body())["DashboardValidationMessages"]
        == []
    )
    got = cw.get_dashboard(DashboardName=name)
    assert got["DashboardName"] == name
    assert got["DashboardBody"] == _body()
    assert got["DashboardArn"] == f"arn:aws:cloudwatch::000000000000:dashboard/{name}"
    entries = cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    assert [e["DashboardName"] for e in entries] == [name]
    assert entries[0]["Size"] == len(_body())
    assert abs(entries[0]["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    # Replacing keeps one dashboard of that name.
    cw.put_dashboard(DashboardName=name, DashboardBody=_body("Other"))
    assert "Other" in cw.get_dashboard(DashboardName=name)["DashboardBody"]
    cw.delete_dashboards(DashboardNames=[name])
    with pytest.raises(ClientError) as err:
        cw.get_dashboard(DashboardName=name)
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invalid_body_names_each_path_and_stores_nothing(cw: Any) -> None:
    name = _name()
    bad = {
        "widgets": [
            {"type": "metric", "properties": {"view": "sideways"}},
            {"type": "chart", "width": 30, "properties": {}},
            {"type": "text", "properties": {"markdown": 5}},
        ],
        "colour": "red",
    }
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(bad))
    response = err.value.response
    assert response["Error"]["Code"] == "InvalidParameterInput"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    messages = {m["DataPath"]: m["Message"] for m in response["dashboardValidationMessages"]}
    assert messages["/colour"] == "Should NOT have additional properties"
    assert messages["/widgets/0/properties/view"].startswith("Should be equal to one of")
    assert messages["/widgets/0/properties"] == "Should have required property 'metrics'"
    assert messages["/widgets/1/type"].startswith("Should be equal to one of")
    assert messages["/widgets/1/width"] == "Should be <= 24"
    assert messages["/widgets/2/properties/markdown"] == "Should be string"
    with pytest.raises(ClientError):
        cw.get_dashboard(DashboardName=name)
    # A failed replacement leaves the stored body as it was.
    cw.put_dashboard(DashboardName=name, DashboardBody=_body())
    with pytest.raises(ClientError):
        cw.put_dashboard(DashboardName=name, DashboardBody="{not json")
    assert cw.get_dashboard(DashboardName=name)["DashboardBody"] == _body()


@pytest.mark.parametrize("depth", [33, 5000])  # issue 18: 5,000 levels reached a 500
def test_a_body_nested_too_deep_is_refused(cw: Any, depth: int) -> None:
    body = '{"widgets": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName=_name(), DashboardBody=body)
    assert err.value.response["Error"]["Code"] == "InvalidParameterInput"
    (message,) = err.value.response["dashboardValidationMessages"]
    assert message["Message"] == "The dashboard body nests deeper than 32 levels"


def test_metric_rows_and_bad_names(cw: Any) -> None:
    body = {
        "widgets": [
            {
                "type": "metric",
                "properties": {
                    "metrics": [
                        ["NS"],
                        ["NS", "M", "Dim"],
                        [".", ".", {"yAxis": "middle", "period": 7}],
                        [{"expression": "m1 * 2", "id": "Bad"}],
                    ]
                },
            }
        ]
    }
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName=_name(), DashboardBody=json.dumps(body))
    paths = [m["DataPath"] for m in err.value.response["dashboardValidationMessages"]]
    base = "/widgets/0/properties/metrics"
    assert sorted(paths) == [
        f"{base}/0",
        f"{base}/1",
        f"{base}/2/2/period",
        f"{base}/2/2/yAxis",
        f"{base}/3/0/id",
    ]
    with pytest.raises(ClientError) as err:
        cw.put_dashboard(DashboardName="has space", DashboardBody=_body())
    assert err.value.response["Error"]["Code"] == "InvalidParameterInput"


def test_delete_is_all_or_nothing_and_drops_tags(cw: Any) -> None:
    a, b = _name(), _name()
    cw.put_dashboard(DashboardName=a, DashboardBody=_body())
    arn = cw.get_dashboard(DashboardName=a)["DashboardArn"]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "data"}])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    with pytest.raises(ClientError) as err:
        cw.delete_dashboards(DashboardNames=[a, b])
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert cw.get_dashboard(DashboardName=a)["DashboardName"] == a
    cw.delete_dashboards(DashboardNames=[a])
    with pytest.raises(ClientError) as err:
        cw.list_tags_for_resource(ResourceARN=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    cw.put_dashboard(DashboardName=a, DashboardBody=_body())
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


def test_query_protocol_error_carries_validation_messages(vigil: VigilProcess) -> None:
    form = {
        "Action": "PutDashboard",
        "Version": "2010-08-01",
        "DashboardName": _name(),
        "DashboardBody": json.dumps({"widgets": [{"type": "log", "properties": {}}]}),
    }
    r = httpx.post(vigil.url + "/", data=form, timeout=30)
    assert r.status_code == 400
    assert f'xmlns="{XMLNS}"' in r.text
    assert "<Code>InvalidParameterInput</Code>" in r.text
    assert "<DataPath>/widgets/0/properties</DataPath>" in r.text
    assert "Should have required property 'query'" in r.text


def test_ui_api_reads_and_batches_metric_widgets(vigil: VigilProcess, cw: Any) -> None:
    ns = f"Dash/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Duration",
                "Dimensions": [{"Name": "Function", "Value": fn}],
                "Timestamp": now - timedelta(minutes=m),
                "Value": 10.0 * (i + 1) + m,
            }
            for i, fn in enumerate(("ingest", "export"))
            for m in range(1, 6)
        ],
    )
    name = _name()
    cw.put_dashboard(DashboardName=name, DashboardBody=_body(ns))
    with vigil.client() as http:
        listed = http.get("/api/v1/dashboards", params={"prefix": name}).json()
        assert listed["dashboards"][0]["name"] == name
        assert listed["dashboards"][0]["widgets"] == 2
        one = http.get(f"/api/v1/dashboards/{name}").json()
        assert one["body"]["widgets"][1]["properties"]["markdown"] == "# Hello"
        missing = http.get("/api/v1/dashboards/no-such-dashboard")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        bad = http.put(f"/api/v1/dashboards/{name}", content=b'{"widgets": 3}')
        assert bad.status_code == 400
        assert bad.json()["error"]["messages"] == [
            {"DataPath": "/widgets", "Message": "Should be array"}
        ]
        good = one["body"]["widgets"][0]["properties"]
        broken = {"metrics": [[{"expression": "m1 +* 2", "id": "e1"}]]}
        metrics = [
            {"key": "0", "properties": good},
            {"key": "1", "properties": broken},
            {
                "key": "2",
                "properties": {
                    **good,
                    "metrics": [
                        *good["metrics"],
                        [{"expression": "SUM(METRICS())", "label": "Total"}],
                    ],
                },
            },
            {  # rows of different statistics and periods, and a metric without data
                "key": "3",
                "properties": {
                    "period": 60,
                    "metrics": [
                        [ns, "Duration", "Function", "ingest"],
                        [ns, "Duration", "Function", "nothing-here"],
                        [ns, "Duration", "Function", "export", {"stat": "Maximum", "period": 120}],
                    ],
                },
            },
        ]
        deadline = time.monotonic() + 30
        while True:
            r = http.post(
                "/api/v1/dashboards/metric-data",
                json={"start": "now-1h", "end": "now", "period": 60, "widgets": metrics},
            )
            assert r.status_code == 200, r.text
            answer = r.json()["widgets"]
            if len(answer["0"].get("series", [[]])[0].get("values", [])) == 5:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        # The columnar form the UI reads: the same document, arrays as float64 blocks.
        binary = http.post(
            "/api/v1/dashboards/metric-data",
            json={"start": "now-1h", "end": "now", "period": 60, "widgets": metrics},
            headers={"Accept": columns.MEDIA_TYPE},
        )
        assert binary.headers["content-type"] == columns.MEDIA_TYPE
        assert _as_json(columns.decode(binary.content)) == {"widgets": answer}
        # The batched path for plain metrics answers what GetMetricData answers.
        reference = http.post(
            "/api/v1/metrics/query",
            json={
                "start": "now-1h",
                "end": "now",
                "queries": [
                    {
                        "id": f"q{i}",
                        "namespace": ns,
                        "name": "Duration",
                        "stat": "Average",
                        "period": 60,
                        "dimensions": {"Function": fn},
                    }
                    for i, fn in enumerate(("ingest", "export"))
                ]
                + [
                    {
                        "id": "q2",
                        "namespace": ns,
                        "name": "Duration",
                        "stat": "Maximum",
                        "period": 120,
                        "dimensions": {"Function": "export"},
                    }
                ],
            },
        ).json()["results"]
    first = answer["0"]["series"]
    times = answer["0"]["times"]
    assert [
        [(t, v) for t, v in zip(times, s["values"], strict=True) if v is not None] for s in first
    ] == [list(zip(r["times"], r["values"], strict=True)) for r in reference[:2]]
    # One axis for rows of 60- and 120-s periods: each row's points are GetMetricData's.
    mixed, axis = answer["3"]["series"], answer["3"]["times"]
    assert [s["row"] for s in mixed] == [0, 1, 2]
    points = [
        [(t, v) for t, v in zip(axis, s["values"], strict=True) if v is not None] for s in mixed
    ]
    assert points[0] == list(zip(reference[0]["times"], reference[0]["values"], strict=True))
    assert points[1] == []
    assert len(mixed[1]["values"]) == len(axis)
    assert points[2] == list(zip(reference[2]["times"], reference[2]["values"], strict=True))
    assert len(points[2]) >= 2
    assert axis == sorted(axis)
    assert [(s["row"], s["label"]) for s in first] == [
        (0, "Duration ingest"),
        (1, "Duration export"),
    ]
    assert first[0]["values"] == [15.0, 14.0, 13.0, 12.0, 11.0]
    assert "e1" in answer["1"]["error"]
    assert "w1_" not in answer["1"]["error"]
    total = [s for s in answer["2"]["series"] if s["label"] == "Total"]
    assert total[0]["values"] == [40.0, 38.0, 36.0, 34.0, 32.0]
    assert total[0]["row"] == 2
