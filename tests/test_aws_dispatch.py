"""The AWS endpoint layer with real boto3 clients: JSON 1.1 (Logs), JSON 1.0 and query/XML
(CloudWatch), rest-json (X-Ray), SigV4 checks and error shapes. The services here are
small stand-ins: this tests the protocol layer, not the pillars."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.asgi_server import serve
from vigil.api.app import build_app
from vigil.api.aws.dispatch import AwsDispatcher
from vigil.api.aws.interface import AwsError, RequestContext
from vigil.auth import Authenticator


class StubLogs:
    model = "logs"
    operations = frozenset({"CreateLogGroup", "DescribeLogGroups"})
    validation_error = "InvalidParameterException"

    def __init__(self) -> None:
        self.groups: dict[str, datetime] = {}

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        if operation == "CreateLogGroup":
            name = params["logGroupName"]
            if name in self.groups:
                raise AwsError(
                    "ResourceAlreadyExistsException", "The specified log group already exists"
                )
            self.groups[name] = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            return {}
        return {
            "logGroups": [
                {"logGroupName": n, "creationTime": 1767323045000, "arn": ctx.arn("logs", n)}
                for n in sorted(self.groups)
            ]
        }


class StubCloudWatch:
    model = "cloudwatch"
    operations = frozenset({"PutMetricData", "ListMetrics"})
    validation_error = "InvalidParameterValue"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        self.calls.append(params)
        if operation == "PutMetricData":
            for datum in params["MetricData"]:
                if datum.get("Value") == -1:
                    raise AwsError("InvalidParameterValue", "The value -1 is not allowed here.")
            return {}
        return {
            "Metrics": [
                {
                    "Namespace": "App",
                    "MetricName": "Latency",
                    "Dimensions": [{"Name": "Host", "Value": "a"}, {"Name": "Az", "Value": "b"}],
                }
            ],
            "NextToken": "t2",
        }


class StubXRay:
    model = "xray"
    operations = frozenset({"PutTraceSegments", "GetSamplingRules"})
    validation_error = "InvalidRequestException"

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        if operation == "PutTraceSegments":
            if params["TraceSegmentDocuments"] == ["bad"]:
                raise AwsError("InvalidRequestException", "segment is not JSON")
            return {"UnprocessedTraceSegments": []}
        return {
            "SamplingRuleRecords": [
                {
                    "SamplingRule": {
                        "RuleName": "Default",
                        "RuleARN": "arn:x",
                        "ResourceARN": "*",
                        "Priority": 10000,
                        "FixedRate": 0.05,
                        "ReservoirSize": 1,
                        "ServiceName": "*",
                        "ServiceType": "*",
                        "Host": "*",
                        "HTTPMethod": "*",
                        "URLPath": "*",
                        "Version": 1,
                    },
                    "CreatedAt": datetime(2026, 1, 1, tzinfo=UTC),
                    "ModifiedAt": 1767225600,
                }
            ]
        }


@pytest.fixture
def stubs() -> tuple[StubLogs, StubCloudWatch, StubXRay]:
    return StubLogs(), StubCloudWatch(), StubXRay()


@pytest.fixture
def endpoint(stubs: tuple[Any, ...]) -> Iterator[str]:
    aws = AwsDispatcher(list(stubs), Authenticator([]), {})
    with serve(build_app(aws.routes(), Authenticator([]), lambda: True, exempt=aws.is_aws)) as url:
        yield url


def client(service: str, url: str, key: str = "AKIDEXAMPLE", secret: str = "secret") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def test_json_protocol_round_trip_and_errors(endpoint: str) -> None:
    logs = client("logs", endpoint)
    logs.create_log_group(logGroupName="/app/a")
    groups = logs.describe_log_groups()["logGroups"]
    assert groups == [
        {
            "logGroupName": "/app/a",
            "creationTime": 1767323045000,
            "arn": "arn:aws:logs:eu-west-1:000000000000:/app/a",
        }
    ]
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName="/app/a")
    assert err.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_model_validation_names_the_field(endpoint: str) -> None:
    response = httpx.post(
        endpoint,
        headers={
            "X-Amz-Target": "Logs_20140328.CreateLogGroup",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b'{"logGroupName": ""}',
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "InvalidParameterException"
    assert "logGroupName" in response.json()["message"]
    bad_json = httpx.post(
        endpoint,
        headers={
            "X-Amz-Target": "Logs_20140328.CreateLogGroup",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{nope",
    )
    assert bad_json.json()["__type"] == "SerializationException"
    unknown = httpx.post(
        endpoint,
        headers={
            "X-Amz-Target": "Logs_20140328.PutSubscriptionFilter",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{}",
    )
    assert unknown.json()["__type"] == "UnknownOperationException"


def test_cloudwatch_json_with_query_compatible_errors(
    endpoint: str, stubs: tuple[Any, ...]
) -> None:
    cw = client("cloudwatch", endpoint)
    ts = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {
                "MetricName": "Latency",
                "Value": 1.5,
                "Unit": "Milliseconds",
                "Timestamp": ts,
                "Dimensions": [{"Name": "Host", "Value": "a"}],
            }
        ],
    )
    assert stubs[1].calls[-1]["MetricData"][0]["Timestamp"] == ts
    with pytest.raises(ClientError) as err:
        cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "x", "Value": -1}])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    metrics = cw.list_metrics()["Metrics"]
    assert metrics[0]["Dimensions"] == [
        {"Name": "Host", "Value": "a"},
        {"Name": "Az", "Value": "b"},
    ]


def test_query_protocol_form_in_xml_out(endpoint: str, stubs: tuple[Any, ...]) -> None:
    form = {
        "Action": "PutMetricData",
        "Version": "2010-08-01",
        "Namespace": "App",
        "MetricData.member.1.MetricName": "Latency",
        "MetricData.member.1.Value": "2.5",
        "MetricData.member.1.Timestamp": "2026-11-25T10:00:00Z",
        "MetricData.member.1.Dimensions.member.1.Name": "Host",
        "MetricData.member.1.Dimensions.member.1.Value": "a",
        "MetricData.member.2.MetricName": "Count",
        "MetricData.member.2.Values.member.1": "1",
        "MetricData.member.2.Values.member.2": "2",
        "MetricData.member.2.Counts.member.1": "10",
        "MetricData.member.2.Counts.member.2": "20",
    }
    response = httpx.post(endpoint, data=form)
    assert response.status_code == 200, response.text
    assert ET.fromstring(response.content).tag.endswith("PutMetricDataResponse")
    params = stubs[1].calls[-1]
    assert params["MetricData"][0] == {
        "MetricName": "Latency",
        "Value": 2.5,
        "Timestamp": datetime(2026, 11, 25, 10, tzinfo=UTC),
        "Dimensions": [{"Name": "Host", "Value": "a"}],
    }
    assert params["MetricData"][1]["Values"] == [1.0, 2.0]
    assert params["MetricData"][1]["Counts"] == [10.0, 20.0]

    listed = httpx.post(endpoint, data={"Action": "ListMetrics", "Version": "2010-08-01"})
    ns = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}
    root = ET.fromstring(listed.content)
    names = [e.text for e in root.findall(".//cw:Dimensions/cw:member/cw:Name", ns)]
    assert names == ["Host", "Az"]
    assert root.find(".//cw:NextToken", ns).text == "t2"  # type: ignore[union-attr]

    bad = httpx.post(endpoint, data={**form, "MetricData.member.1.Value": "-1"})
    assert bad.status_code == 400
    err = ET.fromstring(bad.content)
    assert err.find(".//cw:Code", ns).text == "InvalidParameterValue"  # type: ignore[union-attr]
    missing = httpx.post(endpoint, data={"Action": "PutMetricData", "Version": "2010-08-01"})
    assert missing.status_code == 400
    assert "Namespace" in ET.fromstring(missing.content).find(".//cw:Message", ns).text  # type: ignore[union-attr,operator]
    unknown = httpx.post(endpoint, data={"Action": "DeleteEverything", "Version": "2010-08-01"})
    assert ET.fromstring(unknown.content).find(".//cw:Code", ns).text == "InvalidAction"  # type: ignore[union-attr]


def test_rest_json(endpoint: str) -> None:
    xray = client("xray", endpoint)
    rules = xray.get_sampling_rules()["SamplingRuleRecords"]
    assert rules[0]["SamplingRule"]["FixedRate"] == 0.05
    assert rules[0]["CreatedAt"] == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ClientError) as err:
        xray.put_trace_segments(TraceSegmentDocuments=["bad"])
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_sigv4_is_verified_when_keys_are_configured(stubs: tuple[Any, ...]) -> None:
    auth = Authenticator(["api-key-1"])
    aws = AwsDispatcher(list(stubs), auth, {"AKIDVIGIL": "s3cret"})
    with serve(build_app(aws.routes(), auth, lambda: True, exempt=aws.is_aws)) as url:
        assert client("logs", url, "AKIDVIGIL", "s3cret").describe_log_groups()["logGroups"] == []
        assert client("cloudwatch", url, "AKIDVIGIL", "s3cret").list_metrics()["Metrics"]
        assert client("xray", url, "AKIDVIGIL", "s3cret").get_sampling_rules()[
            "SamplingRuleRecords"
        ]
        codes = {}
        for name, key, secret in (
            ("wrong_secret", "AKIDVIGIL", "nope"),
            ("unknown_key", "AKIDX", "s3cret"),
        ):
            with pytest.raises(ClientError) as err:
                client("logs", url, key, secret).describe_log_groups()
            codes[name] = err.value.response["Error"]["Code"]
        assert codes == {
            "wrong_secret": "InvalidSignatureException",
            "unknown_key": "UnrecognizedClientException",
        }
        with pytest.raises(ClientError) as err:
            client("cloudwatch", url, "AKIDVIGIL", "nope").list_metrics()
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        unsigned = httpx.post(url, data={"Action": "ListMetrics", "Version": "2010-08-01"})
        assert unsigned.status_code == 403
        bearer = httpx.post(
            url,
            data={"Action": "ListMetrics", "Version": "2010-08-01"},
            headers={"Authorization": "Bearer api-key-1"},
        )
        assert bearer.status_code == 200
        # The Bearer check still guards everything else.
        assert httpx.get(url + "/nothing-here").status_code == 401


def test_body_swapped_after_signing_is_refused(stubs: tuple[Any, ...]) -> None:
    """A signed request whose body is replaced in flight, carrying the original body's
    x-amz-content-sha256, must be refused and nothing it asks for done (issue 18 item 2)."""
    import hashlib

    auth = Authenticator(["api-key-1"])
    aws = AwsDispatcher(list(stubs), auth, {"AKIDVIGIL": "s3cret"})

    def swap(request: Any, **_: Any) -> None:
        original = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.headers["x-amz-content-sha256"] = hashlib.sha256(original).hexdigest()
        request.body = original.replace(b"good", b"evil")

    with serve(build_app(aws.routes(), auth, lambda: True, exempt=aws.is_aws)) as url:
        logs = client("logs", url, "AKIDVIGIL", "s3cret")
        logs.meta.events.register("before-send.logs.CreateLogGroup", swap)
        with pytest.raises(ClientError) as err:
            logs.create_log_group(logGroupName="good")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert "x-amz-content-sha256" in err.value.response["Error"]["Message"]
        assert stubs[0].groups == {}
        # The same header with the untouched body is accepted (boto3 may send it).
        honest = client("logs", url, "AKIDVIGIL", "s3cret")

        def declare(request: Any, **_: Any) -> None:
            body = request.body if isinstance(request.body, bytes) else request.body.encode()
            request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()

        honest.meta.events.register("before-send.logs.CreateLogGroup", declare)
        honest.create_log_group(logGroupName="good")
        assert list(stubs[0].groups) == ["good"]
