"""Acceptance: boto3's real ``cloudwatch`` client (forced to JSON 1.0, query and CBOR in
turn) and form posts as aws-sdk-go v1 sends them (query protocol, XML answers) against a
vigil process."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import aws_protocols
from tests.vigil_process import VigilProcess

XMLNS = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}


@pytest.fixture(params=["json", "query", "cbor"])
def cw(vigil: VigilProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """boto3's client forced to each protocol CloudWatch's model lists: every test that
    uses it runs over JSON 1.0, query and Smithy RPC v2 CBOR."""
    client = aws_protocols.client("cloudwatch", request.param, vigil.url)
    yield client
    client.close()


def _cw(vigil: VigilProcess, compress: bool = True) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, disable_request_compression=not compress),
    )


def _ns() -> str:
    return f"Test/{uuid.uuid4().hex[:10]}"


def _minute(offset: int = 0) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=offset)


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_put_then_read_back_every_way(vigil: VigilProcess, cw: Any) -> None:
    ns = _ns()
    t0 = _minute(-10)
    host = [{"Name": "Host", "Value": "a"}]
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": host,
                "Timestamp": t0,
                "Value": 10.0,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": host,
                "Timestamp": t0,
                "Values": [1.0, 2.0],
                "Counts": [3.0, 1.0],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": host,
                "Timestamp": t0 + timedelta(minutes=1),
                "StatisticValues": {"SampleCount": 4, "Sum": 40, "Minimum": 5, "Maximum": 15},
                "Unit": "Milliseconds",
            },
        ],
    )
    stats = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=host,
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=2),
        Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
    )
    assert stats["Label"] == "Latency"
    first, second = sorted(stats["Datapoints"], key=lambda d: d["Timestamp"])
    assert first["Timestamp"] == t0
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (
        5.0,
        15.0,
        1.0,
        10.0,
    )
    assert first["Average"] == 3.0
    assert first["Unit"] == "Milliseconds"
    assert (second["SampleCount"], second["Sum"], second["Average"]) == (4.0, 40.0, 10.0)
    extended = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=host,
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=1),
        Period=60,
        ExtendedStatistics=["p50", "p99", "TM(:80%)"],
    )
    (point,) = extended["Datapoints"]
    assert point["ExtendedStatistics"] == {"p50": 1.0, "p99": 10.0, "TM(:80%)": 1.25}
    assert (
        cw.get_metric_statistics(
            Namespace=ns,
            MetricName="Latency",
            Dimensions=host,
            StartTime=t0,
            EndTime=t0 + timedelta(minutes=2),
            Period=60,
            Statistics=["Sum"],
            Unit="Seconds",
        )["Datapoints"]
        == []
    )

    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": host},
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "e1", "Expression": "m1 / 5", "Label": "fifth"},
        ],
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=3),
    )
    (result,) = data["MetricDataResults"]
    assert result["Id"] == "e1"
    assert result["Label"] == "fifth"
    assert result["StatusCode"] == "Complete"
    # TimestampDescending is the default order.
    assert result["Timestamps"] == [t0 + timedelta(minutes=1), t0]
    assert result["Values"] == [8.0, 3.0]


def test_get_metric_data_pages_by_max_datapoints(vigil: VigilProcess, cw: Any) -> None:
    ns = _ns()
    t0 = _minute(-30)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "Q", "Timestamp": t0 + timedelta(minutes=i), "Value": float(i)}
            for i in range(25)
        ],
    )
    queries = [
        {
            "Id": f"m{k}",
            "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": "Q"},
                "Period": 60,
                "Stat": "Maximum",
            },
        }
        for k in (1, 2)
    ]
    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"NextToken": token} if token else {}
        page = cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=t0,
            EndTime=t0 + timedelta(minutes=30),
            ScanBy="TimestampAscending",
            MaxDatapoints=10,
            **kwargs,
        )
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
    assert len(pages) == 5
    values: dict[str, list[float]] = {"m1": [], "m2": []}
    for page in pages:
        assert sum(len(r["Values"]) for r in page["MetricDataResults"]) <= 10
        for r in page["MetricDataResults"]:
            values[r["Id"]] += r["Values"]
    assert values == {"m1": [float(i) for i in range(25)], "m2": [float(i) for i in range(25)]}
    assert pages[0]["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert pages[-1]["MetricDataResults"][-1]["StatusCode"] == "Complete"
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=t0,
            EndTime=t0 + timedelta(minutes=30),
            NextToken="bm9wZQ==",
        )
    assert _code(err)[:2] == ("InvalidNextToken", 400)


def test_list_metrics_filters_and_pages(vigil: VigilProcess, cw: Any) -> None:
    ns = _ns()
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Hits",
                "Dimensions": [{"Name": "Page", "Value": f"p{i:03d}"}],
                "Value": 1.0,
            }
            for i in range(520)
        ]  # boto3 gzips a body this size (request compression): vigil inflates it
        + [{"MetricName": "Other", "Dimensions": [{"Name": "Az", "Value": "x"}], "Value": 2.0}],
    )
    paginator = cw.get_paginator("list_metrics")
    pages = list(paginator.paginate(Namespace=ns))
    assert [len(p["Metrics"]) for p in pages] == [500, 21]
    listed = [m for p in pages for m in p["Metrics"]]
    assert len({(m["MetricName"], m["Dimensions"][0]["Value"]) for m in listed}) == 521
    by_name = cw.list_metrics(Namespace=ns, MetricName="Other")["Metrics"]
    assert by_name == [
        {"Namespace": ns, "MetricName": "Other", "Dimensions": [{"Name": "Az", "Value": "x"}]}
    ]
    by_dim = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Page", "Value": "p007"}])
    assert [m["Dimensions"] for m in by_dim["Metrics"]] == [[{"Name": "Page", "Value": "p007"}]]
    by_dim_name = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Az"}])["Metrics"]
    assert [m["MetricName"] for m in by_dim_name] == ["Other"]
    recent = cw.list_metrics(Namespace=ns, MetricName="Other", RecentlyActive="PT3H")
    assert len(recent["Metrics"]) == 1
    with pytest.raises(ClientError) as err:
        cw.list_metrics(Namespace=ns, NextToken="not-a-token!")
    assert _code(err) == ("InvalidParameterValue", 400, "Request parameter NextToken is invalid")
    # SEARCH returns at most 500 series, as CloudWatch, and says so.
    found = cw.get_metric_data(
        MetricDataQueries=[{"Id": "s", "Expression": f"SEARCH('{{{ns},Page}} Hits', 'Sum', 60)"}],
        StartTime=_minute(-10),
        EndTime=_minute(2),
    )["MetricDataResults"]
    assert len(found) == 500
    assert found[0]["Messages"] == [
        {
            "Code": "MaxMetricsExceeded",
            "Value": "SEARCH matched 520 metrics; the first 500 are used",
        }
    ]


def test_high_resolution_periods(vigil: VigilProcess, cw: Any) -> None:
    ns = _ns()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    t0 -= timedelta(seconds=t0.second % 10)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Fast",
                "Timestamp": t0 + timedelta(seconds=s),
                "Value": float(s),
                "StorageResolution": 1,
            }
            for s in range(0, 30, 5)
        ]
        + [{"MetricName": "Slow", "Timestamp": t0, "Value": 1.0}],
    )
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "f",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Fast"},
                    "Period": 10,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=t0,
        EndTime=t0 + timedelta(seconds=30),
        ScanBy="TimestampAscending",
    )
    assert data["MetricDataResults"][0]["Values"] == [5.0, 25.0, 45.0]
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(
            Namespace=ns,
            MetricName="Slow",
            StartTime=t0,
            EndTime=t0 + timedelta(minutes=1),
            Period=10,
            Statistics=["Sum"],
        )
    code, status, message = _code(err)
    assert (code, status) == ("InvalidParameterValue", 400)
    assert "multiple of 60" in message


@pytest.mark.parametrize(
    ("datum", "code", "text"),
    [
        (
            {
                "MetricName": "x",
                "Value": 1.0,
                "Dimensions": [{"Name": f"d{i}", "Value": "v"} for i in range(31)],
            },
            "InvalidParameterValue",
            "Dimensions",
        ),
        (
            {"MetricName": "x", "Value": 1.0, "Timestamp": datetime.now(UTC) + timedelta(days=14)},
            "InvalidParameterValue",
            "two hours in the future",
        ),
        (
            {"MetricName": "x", "Value": 1.0, "Timestamp": datetime.now(UTC) - timedelta(days=15)},
            "InvalidParameterValue",
            "past two weeks",
        ),
        (
            {"MetricName": "x", "Value": 1.0, "Values": [1.0]},
            "InvalidParameterValue",
            "The parameters MetricData.member.2.Value and MetricData.member.2.Values are"
            " mutually exclusive and you have specified both.",
        ),
        (
            {
                "MetricName": "x",
                "Value": 1.0,
                "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1},
            },
            "InvalidParameterCombination",
            "mutually exclusive and you have specified both",
        ),
        (
            {"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]},
            "InvalidParameterValue",
            "The parameters MetricData.member.2.Values and MetricData.member.2.Counts must be"
            " of the same size.",
        ),
        ({"MetricName": "x"}, "MissingParameter", "Value, Values or StatisticValues"),
        (
            {"MetricName": "x", "Value": 1.0, "StorageResolution": 5},
            "InvalidParameterValue",
            "StorageResolution",
        ),
        ({"MetricName": "x", "Value": 1.0, "Unit": "Parsecs"}, "InvalidParameterValue", "Unit"),
        (
            {
                "MetricName": "x",
                "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 5, "Maximum": 1},
            },
            "InvalidParameterValue",
            "Minimum",
        ),
    ],
)
def test_put_metric_data_refusals(
    vigil: VigilProcess, cw: Any, datum: dict[str, Any], code: str, text: str
) -> None:
    ns = _ns()
    with pytest.raises(ClientError) as err:
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "ok", "Value": 1.0}, datum])
    got_code, status, message = _code(err)
    assert (got_code, status) == (code, 400)
    assert text in message
    assert "MetricData.member.2" in message or code == "MissingParameter"
    # The request is all or nothing: the valid datum was not stored either.
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []


def test_refusals_of_reads_and_namespace(vigil: VigilProcess, cw: Any) -> None:
    with pytest.raises(ClientError) as err:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "x", "Value": 1.0}])
    assert _code(err)[:2] == ("InvalidParameterValue", 400)
    metric = {"Namespace": "Nope", "MetricName": "x"}
    start, end = _minute(-60), _minute()
    cases = [
        ({"Id": "e1", "Expression": "SUM(m1"}, "ValidationError", "position 6"),
        (
            {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 90, "Stat": "Sum"}},
            "InvalidParameterValue",
            "multiple of 60",
        ),
        (
            {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p999"}},
            "InvalidParameterValue",
            "p999",
        ),
    ]
    for query, code, text in cases:
        with pytest.raises(ClientError) as err:
            cw.get_metric_data(MetricDataQueries=[query], StartTime=start, EndTime=end)
        got, status, message = _code(err)
        assert (got, status) == (code, 400), message
        assert text in message
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(
            Namespace="Nope",
            MetricName="x",
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
            ExtendedStatistics=["p50"],
        )
    assert _code(err)[:2] == ("InvalidParameterCombination", 400)
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(
            Namespace="Nope",
            MetricName="x",
            StartTime=_minute(-2000),
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )
    assert _code(err)[:2] == ("InvalidParameterCombination", 400)
    assert "1440" in _code(err)[2]


def test_nan_and_infinity_are_refused_on_both_protocols(vigil: VigilProcess) -> None:
    ns = _ns()
    for value in ("NaN", "Infinity", "-Infinity"):
        form = {
            "Action": "PutMetricData",
            "Version": "2010-08-01",
            "Namespace": ns,
            "MetricData.member.1.MetricName": "x",
            "MetricData.member.1.Value": value,
        }
        response = httpx.post(vigil.url, data=form)
        assert response.status_code == 400
        root = ET.fromstring(response.content)
        assert root.find(".//cw:Code", XMLNS).text == "InvalidParameterValue"  # type: ignore[union-attr]
        assert "MetricData.member.1.Value" in root.find(".//cw:Message", XMLNS).text  # type: ignore[union-attr,operator]
        body = orjson.dumps({"Namespace": ns, "MetricData": [{"MetricName": "x", "Value": value}]})
        response = httpx.post(
            vigil.url,
            content=body,
            headers={
                "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-mode": "true",
            },
        )
        assert response.status_code == 400
        assert response.json()["__type"] == "InvalidParameterValueException"
        assert response.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"


def test_query_protocol_as_aws_sdk_go_v1_sends_it(vigil: VigilProcess) -> None:
    ns = _ns()
    t0 = _minute(-5)
    stamp = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    put = httpx.post(
        vigil.url,
        data={
            "Action": "PutMetricData",
            "Version": "2010-08-01",
            "Namespace": ns,
            "MetricData.member.1.MetricName": "Requests",
            "MetricData.member.1.Timestamp": stamp,
            "MetricData.member.1.Unit": "Count",
            "MetricData.member.1.Dimensions.member.1.Name": "Service",
            "MetricData.member.1.Dimensions.member.1.Value": "api",
            "MetricData.member.1.Values.member.1": "1",
            "MetricData.member.1.Values.member.2": "4",
            "MetricData.member.1.Counts.member.1": "2",
            "MetricData.member.1.Counts.member.2": "1",
        },
    )
    assert put.status_code == 200, put.text
    assert ET.fromstring(put.content).tag == f"{{{XMLNS['cw']}}}PutMetricDataResponse"

    stats = httpx.post(
        vigil.url,
        data={
            "Action": "GetMetricStatistics",
            "Version": "2010-08-01",
            "Namespace": ns,
            "MetricName": "Requests",
            "Dimensions.member.1.Name": "Service",
            "Dimensions.member.1.Value": "api",
            "StartTime": stamp,
            "EndTime": (t0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Period": "60",
            "Statistics.member.1": "Sum",
            "Statistics.member.2": "SampleCount",
        },
    )
    assert stats.status_code == 200, stats.text
    point = ET.fromstring(stats.content).find(".//cw:Datapoints/cw:member", XMLNS)
    assert point is not None
    assert point.find("cw:Sum", XMLNS).text == "6.0"  # type: ignore[union-attr]
    assert point.find("cw:SampleCount", XMLNS).text == "3.0"  # type: ignore[union-attr]
    assert point.find("cw:Unit", XMLNS).text == "Count"  # type: ignore[union-attr]
    assert point.find("cw:Timestamp", XMLNS).text == t0.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # type: ignore[union-attr]

    data = httpx.post(
        vigil.url,
        data={
            "Action": "GetMetricData",
            "Version": "2010-08-01",
            "StartTime": stamp,
            "EndTime": (t0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MetricDataQueries.member.1.Id": "m1",
            "MetricDataQueries.member.1.MetricStat.Metric.Namespace": ns,
            "MetricDataQueries.member.1.MetricStat.Metric.MetricName": "Requests",
            "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "Service",
            "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": "api",
            "MetricDataQueries.member.1.MetricStat.Period": "60",
            "MetricDataQueries.member.1.MetricStat.Stat": "p50",
            "MetricDataQueries.member.1.ReturnData": "false",
            "MetricDataQueries.member.2.Id": "e1",
            "MetricDataQueries.member.2.Expression": "m1 * 10",
        },
    )
    assert data.status_code == 200, data.text
    root = ET.fromstring(data.content)
    result = root.find(".//cw:MetricDataResults/cw:member", XMLNS)
    assert result is not None
    assert result.find("cw:Id", XMLNS).text == "e1"  # type: ignore[union-attr]
    assert [v.text for v in result.findall("cw:Values/cw:member", XMLNS)] == ["10.0"]
    assert result.find("cw:StatusCode", XMLNS).text == "Complete"  # type: ignore[union-attr]

    listed = httpx.post(
        vigil.url, data={"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": ns}
    )
    names = [e.text for e in ET.fromstring(listed.content).findall(".//cw:MetricName", XMLNS)]
    assert names == ["Requests"]

    missing = httpx.post(vigil.url, data={"Action": "PutMetricData", "Version": "2010-08-01"})
    assert missing.status_code == 400
    assert ET.fromstring(missing.content).find(".//cw:Code", XMLNS).text == "MissingParameter"  # type: ignore[union-attr]
    bad = httpx.post(
        vigil.url,
        data={
            "Action": "GetMetricData",
            "Version": "2010-08-01",
            "StartTime": stamp,
            "EndTime": (t0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MetricDataQueries.member.1.Id": "e1",
            "MetricDataQueries.member.1.Expression": "1 +",
        },
    )
    assert bad.status_code == 400
    error = ET.fromstring(bad.content).find(".//cw:Error", XMLNS)
    assert error is not None
    assert error.find("cw:Code", XMLNS).text == "ValidationError"  # type: ignore[union-attr]
    assert "position 3" in error.find("cw:Message", XMLNS).text  # type: ignore[union-attr,operator]


def test_tags_of_resources_that_do_not_exist(vigil: VigilProcess, cw: Any) -> None:
    # No alarm, metric stream, dashboard or insight rule of these names exists: CloudWatch
    # answers the model's ResourceNotFoundException (404) for every tag operation.
    for arn in (
        f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{uuid.uuid4().hex}",
        f"arn:aws:cloudwatch:us-east-1:000000000000:metric-stream/{uuid.uuid4().hex}",
    ):
        calls: tuple[tuple[Any, dict[str, Any]], ...] = (
            (cw.tag_resource, {"Tags": [{"Key": "team", "Value": "core"}]}),
            (cw.untag_resource, {"TagKeys": ["team"]}),
            (cw.list_tags_for_resource, {}),
        )
        for call, params in calls:
            with pytest.raises(cw.exceptions.ResourceNotFoundException) as err:
                call(ResourceARN=arn, **params)
            code, status, message = _code(err)
            assert (code, status) == ("ResourceNotFoundException", 404)
            assert "does not exist" in message
    with pytest.raises(ClientError) as bad:
        cw.tag_resource(ResourceARN="arn:aws:s3:::bucket", Tags=[{"Key": "a", "Value": "b"}])
    assert _code(bad)[:2] == ("InvalidParameterValue", 400)


def test_tags_over_the_query_protocol(vigil: VigilProcess) -> None:
    arn = f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{uuid.uuid4().hex}"
    answer = httpx.post(
        vigil.url,
        data={"Action": "ListTagsForResource", "Version": "2010-08-01", "ResourceARN": arn},
    )
    assert answer.status_code == 404, answer.text
    error = ET.fromstring(answer.content).find(".//cw:Error", XMLNS)
    assert error is not None
    assert error.find("cw:Code", XMLNS).text == "ResourceNotFoundException"  # type: ignore[union-attr]


def test_unit_less_statistics_split_by_unit(vigil: VigilProcess, cw: Any) -> None:
    ns = _ns()
    t0 = _minute(-3)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "Size", "Timestamp": t0, "Value": 1.0, "Unit": "Bytes"},
            {"MetricName": "Size", "Timestamp": t0, "Value": 2.0, "Unit": "Kilobytes"},
        ],
    )
    points = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Size",
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sorted((p["Unit"], p["Sum"]) for p in points) == [("Bytes", 1.0), ("Kilobytes", 2.0)]
    total = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Size"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=1),
    )
    assert total["MetricDataResults"][0]["Values"] == [3.0]


def _wide_data(count: int, dims: int, value: Any) -> list[dict[str, Any]]:
    return [
        {
            "MetricName": f"M{i}",
            "Dimensions": [{"Name": f"d{j}", "Value": value(i, j)} for j in range(dims)],
            "Value": 1.0,
        }
        for i in range(count)
    ]


def test_put_metric_data_size_limit_counts_the_body_as_sent(vigil: VigilProcess) -> None:
    # CloudWatch: 1 MB per PutMetricData POST; a gzip body counts compressed.
    ns = _ns()
    compressible = _wide_data(1000, 2, lambda i, j: "x" * 600)  # ~1.3 MB of JSON
    plain = _cw(vigil, compress=False)
    gzipping = _cw(vigil)  # boto3 gzips PutMetricData bodies over 10 KiB by default
    try:
        with pytest.raises(ClientError) as err:
            plain.put_metric_data(Namespace=ns, MetricData=compressible)
        code, status, message = _code(err)
        assert (code, status) == ("RequestEntityTooLarge", 413)
        assert message.startswith("Request size 1")
        assert message.endswith("exceeded 1048576 bytes")

        gzipping.put_metric_data(Namespace=ns, MetricData=compressible)  # ~10 KB as sent

        # Random base64 values: ~1.8 MB of JSON that gzip shrinks to ~1.4 MB only.
        noise = _wide_data(60, 30, lambda i, j: base64.b64encode(os.urandom(750)).decode())
        with pytest.raises(ClientError) as err:
            gzipping.put_metric_data(Namespace=ns + "/noise", MetricData=noise)
        assert _code(err)[:2] == ("RequestEntityTooLarge", 413)
        first = gzipping.list_metrics(Namespace=ns)
        rest = gzipping.list_metrics(Namespace=ns, NextToken=first["NextToken"])
        assert len(first["Metrics"]) + len(rest["Metrics"]) == 1000
        assert gzipping.list_metrics(Namespace=ns + "/noise")["Metrics"] == []
    finally:
        plain.close()
        gzipping.close()


def test_put_metric_data_size_limit_over_the_query_protocol(vigil: VigilProcess) -> None:
    ns = _ns()
    form = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": ns}
    for i in range(1, 1001):  # ~1.1 MB form-encoded
        form[f"MetricData.member.{i}.MetricName"] = f"M{i}"
        form[f"MetricData.member.{i}.Value"] = "1"
        form[f"MetricData.member.{i}.Dimensions.member.1.Name"] = "d"
        form[f"MetricData.member.{i}.Dimensions.member.1.Value"] = "v" * 1024
    answer = httpx.post(vigil.url, data=form)
    assert answer.status_code == 413, answer.text
    error = ET.fromstring(answer.content).find(".//cw:Error", XMLNS)
    assert error is not None
    assert error.find("cw:Code", XMLNS).text == "RequestEntityTooLarge"  # type: ignore[union-attr]
    # Below the limit the same form is accepted.
    small = {
        k: v
        for k, v in form.items()
        if not k.startswith("MetricData.member.") or int(k.split(".")[2]) <= 100
    }
    assert httpx.post(vigil.url, data=small).status_code == 200


@pytest.mark.parametrize(
    ("members", "code", "named"),
    [
        ({"MetricData.member.1.Value": "1"}, "MissingParameter", "MetricData.member.1.MetricName"),
        (
            {"MetricData.member.1.MetricName": "m", "MetricData.member.1.Value": "abc"},
            "InvalidParameterValue",
            "MetricData.member.1.Value",
        ),
        (
            {
                "MetricData.member.1.MetricName": "m",
                "MetricData.member.1.Value": "1",
                "MetricData.member.2.MetricName": "m",
                "MetricData.member.2.Value": "1",
                "MetricData.member.2.Dimensions.member.1.Name": "d",
            },
            "MissingParameter",
            "MetricData.member.2.Dimensions.member.1",
        ),
        (
            {"MetricData.member.1.MetricName": "n" * 256, "MetricData.member.1.Value": "1"},
            "InvalidParameterValue",
            "MetricData.member.1.MetricName",
        ),
        (
            {
                "MetricData.member.1.MetricName": "m",
                "MetricData.member.1.Value": "1",
                "MetricData.member.1.Timestamp": "yesterday",
            },
            "InvalidParameterValue",
            "MetricData.member.1.Timestamp",
        ),
    ],
)
def test_put_metric_data_errors_over_the_query_protocol(
    vigil: VigilProcess, members: dict[str, str], code: str, named: str
) -> None:
    # The decoder checks the form's data itself (no generic model validation): the errors
    # keep CloudWatch's codes and name the member.
    ns = _ns()
    form = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": ns, **members}
    answer = httpx.post(vigil.url, data=form)
    assert answer.status_code == 400, answer.text
    error = ET.fromstring(answer.content).find(".//cw:Error", XMLNS)
    assert error is not None
    assert error.find("cw:Code", XMLNS).text == code  # type: ignore[union-attr]
    assert named in error.find("cw:Message", XMLNS).text  # type: ignore[union-attr,operator]
