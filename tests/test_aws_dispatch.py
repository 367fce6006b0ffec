"""The AWS endpoint layer with real boto3 clients: JSON 1.1 (Logs), JSON 1.0 and query/XML
(CloudWatch), rest-json (X-Ray), SigV4 checks and error shapes. The services here are
small stand-ins: this tests the protocol layer, not the pillars."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from tests.asgi_server import serve
from vigil.api.app import build_app
from vigil.api.aws.dispatch import AwsDispatcher
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.auth import Authenticator
from vigil.telemetry import SelfMetrics


class StubLogs(AwsService):
    model = "logs"
    validation_error = "InvalidParameterException"

    def __init__(self) -> None:
        self.groups: dict[str, datetime] = {}

    def operations(self) -> Mapping[str, Handler]:
        return {"CreateLogGroup": self.create, "DescribeLogGroups": self.describe}

    async def create(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = params["logGroupName"]
        if name in self.groups:
            raise AwsError(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        self.groups[name] = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        return {}

    async def describe(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {
            "logGroups": [
                {"logGroupName": n, "creationTime": 1767323045000, "arn": ctx.arn("logs", n)}
                for n in sorted(self.groups)
            ]
        }


class StubCloudWatch(AwsService):
    model = "cloudwatch"
    validation_error = "InvalidParameterValue"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def operations(self) -> Mapping[str, Handler]:
        return {"PutMetricData": self.put, "ListMetrics": self.list}

    async def put(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self.calls.append(params)
        for datum in params["MetricData"]:
            if datum.get("Value") == -1:
                raise AwsError("InvalidParameterValue", "The value -1 is not allowed here.")
        return {}

    async def list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self.calls.append(params)
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


class StubXRay(AwsService):
    model = "xray"
    validation_error = "InvalidRequestException"

    def operations(self) -> Mapping[str, Handler]:
        return {"PutTraceSegments": self.put, "GetSamplingRules": self.rules}

    async def put(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if params["TraceSegmentDocuments"] == ["bad"]:
            raise AwsError("InvalidRequestException", "segment is not JSON")
        return {"UnprocessedTraceSegments": []}

    async def rules(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
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
    assert "at 'namespace'" in ET.fromstring(missing.content).find(".//cw:Message", ns).text  # type: ignore[union-attr,operator]
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


class StubAlarms(AwsService):
    """A second CloudWatch service object, as the alarms pillar registers one."""

    model = "cloudwatch"
    validation_error = "InvalidParameterValue"

    def operations(self) -> Mapping[str, Handler]:
        return {"DescribeAlarms": self.describe}

    async def describe(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if params.get("AlarmNamePrefix") == "boom":
            raise LookupError("a domain error the service maps")
        if params.get("AlarmNamePrefix") == "crash":
            raise RuntimeError("a bug")
        return {"MetricAlarms": [{"AlarmName": "high-latency", "Threshold": 1.5}]}

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, LookupError):
            return AwsError("ResourceNotFound", str(exc), 404)
        return None


def test_services_of_one_model_merge_and_requests_are_counted(stubs: tuple[Any, ...]) -> None:
    metrics = SelfMetrics()
    aws = AwsDispatcher([*stubs, StubAlarms()], Authenticator([]), {}, metrics=metrics)
    with serve(build_app(aws.routes(), Authenticator([]), lambda: True, exempt=aws.is_aws)) as url:
        cw = client("cloudwatch", url)
        assert cw.list_metrics()["Metrics"]
        alarms = cw.describe_alarms()["MetricAlarms"]
        assert alarms == [{"AlarmName": "high-latency", "Threshold": 1.5}]
        form = httpx.post(url, data={"Action": "DescribeAlarms", "Version": "2010-08-01"})
        assert form.status_code == 200
        assert b"<AlarmName>high-latency</AlarmName>" in form.content
        with pytest.raises(ClientError) as err:
            cw.describe_alarms(AlarmNamePrefix="boom")
        assert err.value.response["Error"]["Code"] == "ResourceNotFound"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        with pytest.raises(ClientError) as err:
            cw.describe_alarms(AlarmNamePrefix="crash")
        assert err.value.response["Error"]["Code"] == "InternalFailure"
    text = metrics.render().decode()
    assert aws.served() == {
        "logs": ["CreateLogGroup", "DescribeLogGroups"],
        "cloudwatch": ["DescribeAlarms", "ListMetrics", "PutMetricData"],
        "xray": ["GetSamplingRules", "PutTraceSegments"],
    }
    line = 'vigil_aws_requests_total{operation="DescribeAlarms",outcome="%s",service="cloudwatch"}'
    assert line % "ok" + " 2.0" in text
    assert line % "ResourceNotFound" + " 1.0" in text
    assert line % "InternalFailure" in text  # (botocore retries a 500)


def test_a_duplicate_or_unknown_operation_is_refused_at_start() -> None:
    class Twice(StubAlarms):
        pass

    with pytest.raises(ValueError, match="DescribeAlarms is registered twice"):
        AwsDispatcher([StubAlarms(), Twice()], Authenticator([]), {})

    class Invented(StubAlarms):
        def operations(self) -> Mapping[str, Handler]:
            return {"DescribeEverything": self.describe}

    with pytest.raises(ValueError, match="does not have"):
        AwsDispatcher([Invented()], Authenticator([]), {})


def _error(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    return (
        str(response["Error"]["Code"]),
        str(response["Error"]["Message"]),
        int(response["ResponseMetadata"]["HTTPStatusCode"]),
    )


def test_unknown_services_are_answered_in_the_clients_protocol(endpoint: str) -> None:
    """Issue 16 item 4: botocore parses the refusal (no ResponseParserError) and the
    message names the service, whatever the protocol the client speaks."""
    cases = {
        "sns (query)": lambda: client("sns", endpoint).publish(TopicArn="arn:t", Message="m"),
        "sts (query)": lambda: client("sts", endpoint).get_caller_identity(),
        "dynamodb (json)": lambda: client("dynamodb", endpoint).list_tables(),
        "sqs (json)": lambda: client("sqs", endpoint).list_queues(),
        "s3 (rest-xml)": lambda: client("s3", endpoint).list_buckets(),
        "lambda (rest-json)": lambda: client("lambda", endpoint).list_functions(),
    }
    for case, call in cases.items():
        code, message, status = _error(call)
        name = case.split()[0]
        assert f"service {name} is not supported by vigil" in message, case
        assert "cloudwatch, logs, xray" in message, case
        assert status == 400, case
        assert code == (
            "InvalidAction" if "query" in case or "xml" in case else ("UnknownOperationException")
        ), case


def test_every_query_protocol_error_is_xml(endpoint: str) -> None:
    """Issue 18 item 10 and the unsigned variants of issue 16 item 4."""
    ns = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}

    def xml_error(response: httpx.Response) -> tuple[str, str]:
        assert response.headers["content-type"].startswith("text/xml"), response.text
        root = ET.fromstring(response.content)
        assert root.tag == "ErrorResponse"
        return root.findtext("Error/Code") or "", root.findtext("Error/Message") or ""

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    not_utf8 = httpx.post(endpoint, content=b"Action=ListMetrics&Version=\xff\xfe", headers=form)
    assert not_utf8.status_code == 400
    assert xml_error(not_utf8)[0] == "MalformedQueryString"
    sns = httpx.post(endpoint, data={"Action": "Publish", "Version": "2010-03-31"})
    code, message = xml_error(sns)
    assert code == "InvalidAction"
    assert "API version '2010-03-31'" in message
    assert "not supported by vigil" in message
    assert xml_error(httpx.post(endpoint, data={"Action": "ListMetrics"}))[0] == "MissingParameter"
    no_action = httpx.post(endpoint, data={"Version": "2010-08-01"})
    assert xml_error(no_action)[0] == "MissingAction"
    unknown = httpx.get(endpoint, params={"Action": "DeleteEverything", "Version": "2010-08-01"})
    assert ET.fromstring(unknown.content).findtext(".//cw:Code", namespaces=ns) == "InvalidAction"


def test_unknown_protocol_and_paths(endpoint: str) -> None:
    # A service vigil does not serve over Smithy RPC v2 CBOR: a CBOR error that botocore's
    # own CBOR parser reads (CloudWatch's CBOR is tests/test_cloudwatch_cbor.py's).
    cbor = httpx.post(
        endpoint + "/service/DynamoDB_20120810/operation/ListTables",
        content=b"\xa0",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"},
    )
    assert cbor.status_code == 400
    assert cbor.headers["smithy-protocol"] == "rpc-v2-cbor"
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 400, "headers": dict(cbor.headers), "body": cbor.content}, None
    )
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert "smithy-rpc-v2-cbor protocol is not supported" in parsed["Error"]["Message"]
    # A JSON target of no served service, unsigned.
    dynamo = httpx.post(
        endpoint,
        content=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert dynamo.json()["__type"] == "UnknownOperationException"
    assert "target 'DynamoDB_20120810' is not supported by vigil" in dynamo.json()["message"]
    # A served rest-json service, an operation vigil does not serve.
    code, message, status = _error(
        lambda: client("xray", endpoint).get_group(GroupName="g")  # not served by the stub
    )
    assert (code, status) == ("UnknownOperationException", 400)
    assert "GetGroup is not supported" in message
    signed = "AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/{}/aws4_request,"
    signed += " SignedHeaders=host, Signature=" + "0" * 64
    elsewhere = httpx.get(
        endpoint + "/no/such/path", headers={"Authorization": signed.format("xray")}
    )
    assert elsewhere.status_code == 404
    assert elsewhere.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "xray has no operation at GET /no/such/path" in elsewhere.json()["message"]
    # Requests no AWS SDK sent keep the app's own answers.
    assert httpx.get(endpoint + "/no/such/path").status_code == 404
