"""Requests checked against botocore's service models as AWS checks them (issue 17 part 2):
one test per difference a public suite of AWS-behaviour tests found, each with AWS's code
and message, through boto3 with its own client-side checks turned off (so the server's
answer is what is tested), against a vigil process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import aws_protocols
from tests.vigil_process import VigilProcess
from vigil.api.aws import validation
from vigil.api.aws.protocols import load_model

UNCHECKED = Config(retries={"max_attempts": 1}, parameter_validation=False)


def _client(vigil: VigilProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=UNCHECKED,
    )


@pytest.fixture
def logs(vigil: VigilProcess) -> Iterator[Any]:
    client = _client(vigil, "logs")
    yield client
    client.close()


def _refusal(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**params)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _one(where: str, value: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy"
        f" constraint: {constraint}"
    )


@pytest.mark.parametrize("operation", ["get_log_events", "filter_log_events"])
def test_logs_event_limit_over_10000(logs: Any, operation: str) -> None:
    params: dict[str, Any] = {"logGroupName": "g", "limit": 10001}
    if operation == "get_log_events":
        params["logStreamName"] = "s"
    assert _refusal(getattr(logs, operation), **params) == (
        "InvalidParameterException",
        _one("limit", "10001", "Member must have value less than or equal to 10000"),
    )


def test_logs_describe_limit_over_50(logs: Any) -> None:
    expected = (
        "InvalidParameterException",
        _one("limit", "51", "Member must have value less than or equal to 50"),
    )
    assert _refusal(logs.describe_log_groups, limit=51) == expected
    assert _refusal(logs.describe_log_streams, logGroupName="g", limit=51) == expected


def test_logs_group_name_over_512_characters(logs: Any) -> None:
    name = "a" * 513
    assert _refusal(logs.create_log_group, logGroupName=name) == (
        "InvalidParameterException",
        _one("logGroupName", name[:256] + "…", "Member must have length less than or equal to 512"),
    )


def test_logs_order_by_outside_its_enum(logs: Any) -> None:
    assert _refusal(logs.describe_log_streams, logGroupName="g", orderBy="sth") == (
        "InvalidParameterException",
        _one(
            "orderBy",
            "sth",
            "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
        ),
    )


def test_logs_invalid_metric_filter_names(logs: Any) -> None:
    # Before: ResourceNotFoundException (the name was looked up); AWS refuses the pattern.
    pattern = "Member must satisfy regular expression pattern: [^:*]*"
    assert _refusal(logs.delete_metric_filter, logGroupName="g", filterName="a:b") == (
        "InvalidParameterException",
        _one("filterName", "a:b", pattern),
    )
    assert _refusal(
        logs.put_metric_filter,
        logGroupName="g",
        filterName="errors*",
        filterPattern="ERROR",
        metricTransformations=[
            {"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}
        ],
    ) == ("InvalidParameterException", _one("filterName", "errors*", pattern))


def test_logs_group_identifier_arn_ending_in_star(logs: Any) -> None:
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:g-{uuid.uuid4().hex[:6]}:*"
    assert _refusal(logs.get_log_events, logGroupIdentifier=arn, logStreamName="s") == (
        "InvalidParameterException",
        _one(
            "logGroupIdentifier",
            arn,
            "Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*",
        ),
    )


def test_logs_missing_members_and_several_errors_in_one_message(logs: Any) -> None:
    assert _refusal(logs.get_log_events, logGroupName="g") == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'logStreamName' failed to satisfy"
        " constraint: Member must not be null",
    )
    code, message = _refusal(logs.get_log_events, logStreamName="s", limit=0, startFromHead=True)
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint:"
        " Member must have value greater than or equal to 1"
    )
    code, message = _refusal(logs.describe_log_streams, logGroupName="", limit=51)
    assert message == (
        "3 validation errors detected: Value '' at 'logGroupName' failed to satisfy"
        " constraint: Member must have length greater than or equal to 1; Value '' at"
        " 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression"
        " pattern: [\\.\\-_/#A-Za-z0-9]+; Value '51' at 'limit' failed to satisfy constraint:"
        " Member must have value less than or equal to 50"
    )


@pytest.mark.parametrize("protocol", ["json", "query", "cbor"])
def test_cloudwatch_codes_on_every_protocol(vigil: VigilProcess, protocol: str) -> None:
    cw = aws_protocols.client("cloudwatch", protocol, vigil.url, config=UNCHECKED)
    # A broken constraint: ValidationError (the model's ValidationException), as AWS's own
    # SDK integration tests expect of SetAlarmState with a StateValue outside the enum.
    assert _refusal(cw.set_alarm_state, AlarmName="a", StateValue="mno", StateReason="x") == (
        "ValidationError",
        _one(
            "stateValue",
            "mno",
            "Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]",
        ),
    )
    # A missing member: MissingParameter, in CloudWatch's own words.
    assert _refusal(cw.list_metrics, Dimensions=[{"Value": "v"}]) == (
        "MissingParameter",
        "The parameter Dimensions.member.1.Name is required.",
    )
    if protocol == "json":  # (botocore's CBOR and query writers cannot send a text here)
        # A value of the wrong type: InvalidParameterValue.
        assert _refusal(cw.describe_alarms, MaxRecords="many")[0] == "InvalidParameterValue"
    assert _refusal(cw.describe_alarms, MaxRecords=101) == (
        "ValidationError",
        _one("maxRecords", "101", "Member must have value less than or equal to 100"),
    )
    cw.close()


def test_xray_constraints(vigil: VigilProcess) -> None:
    xray = _client(vigil, "xray")
    rule = {
        "RuleName": "r",
        "ResourceARN": "*",
        "Priority": 1,
        "FixedRate": 1.5,
        "ReservoirSize": 1,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "*",
        "Version": 1,
    }
    assert _refusal(xray.create_sampling_rule, SamplingRule=rule) == (
        "InvalidRequestException",
        _one("samplingRule.fixedRate", "1.5", "Member must have value less than or equal to 1"),
    )
    xray.close()


# --- the validator itself ------------------------------------------------------------


def test_every_model_pattern_compiles() -> None:
    """Each pattern of the three served models is checked: RE2 reads all but those using
    Java-only syntax, which the translation or Python's ``re`` handle."""
    for name in ("logs", "cloudwatch", "xray"):
        model = load_model(name)
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern:
                assert validation.compile_pattern(pattern) is not None, (name, pattern)
    dash = validation.compile_pattern("[\\w-_]*")
    assert dash is not None
    assert dash("a-b_c")
    assert not dash("a b")
    # Java's \w is ASCII, as RE2's is (Python's re would take "é").
    word = validation.compile_pattern("[\\w]*")
    assert word is not None
    assert not word("é")


def test_lists_maps_and_values_shown_as_aws_shows_them() -> None:
    logs = load_model("logs")
    problem = validation.check(
        {"logGroupName": "g", "logStreamNames": ["ok", ""]},
        logs.operation_model("FilterLogEvents").input_shape,
    )
    assert problem is not None
    assert problem.message == (
        "1 validation error detected: Value '[ok, ]' at 'logStreamNames' failed to satisfy"
        " constraint: Member must satisfy constraint: [Member must have length greater than"
        " or equal to 1]"
    )
    problem = validation.check(
        {"logGroupName": "g", "tags": {"k" * 129: "v"}},
        logs.operation_model("CreateLogGroup").input_shape,
    )
    assert problem is not None
    assert "Map keys must satisfy constraint: [Member must have" in (problem.message)
    assert (
        validation.check(
            {"logGroupName": "g", "logStreamName": "s", "limit": 10},
            logs.operation_model("GetLogEvents").input_shape,
        )
        is None
    )


def test_put_log_events_names_checked_by_the_model(logs: Any) -> None:
    """PutLogEvents checks its input itself (a raw operation, 10,000 events): the names
    get the model's constraints and AWS's wording all the same."""
    name = "g" * 513
    event = [{"timestamp": 1, "message": "m"}]
    assert _refusal(logs.put_log_events, logGroupName=name, logStreamName="s", logEvents=event) == (
        "InvalidParameterException",
        _one("logGroupName", name[:256] + "…", "Member must have length less than or equal to 512"),
    )
    assert _refusal(
        logs.put_log_events, logGroupName="g", logStreamName="a:b*", logEvents=event
    ) == (
        "InvalidParameterException",
        _one("logStreamName", "a:b*", "Member must satisfy regular expression pattern: [^:*]*"),
    )
    code, message = _refusal(logs.put_log_events, logStreamName="s", logEvents=event)
    assert (code, message) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'logGroupName' failed to satisfy"
        " constraint: Member must not be null",
    )


def test_null_elements_are_refused_by_type() -> None:
    """A null in a list of structures or a map (the fuzz run's one 5xx: GetSamplingTargets
    with ``[null]``) is the wrong type, named in botocore's words."""
    xray = load_model("xray").operation_model("GetSamplingTargets").input_shape
    problem = validation.check({"SamplingStatisticsDocuments": [None]}, xray)
    assert problem is not None
    assert problem.kind == "type"
    assert "SamplingStatisticsDocuments[0], value: None" in problem.message
    logs = load_model("logs").operation_model("CreateLogGroup").input_shape
    problem = validation.check({"logGroupName": "g", "tags": {"a": None}}, logs)
    assert problem is not None
    assert problem.kind == "type"


@pytest.mark.parametrize("member", ["Unit", "StorageResolution", "MetricName"])
def test_put_metric_data_deep_member_is_a_400(vigil: VigilProcess, member: str) -> None:
    """PutMetricData's body is its decoder's (no depth check before it): a member nested
    1,000 deep must not reach repr() (a RecursionError was a 500, found by bench/fuzz.py)."""
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    datum = {"MetricName": "m", "Value": 1.0, member: "__DEEP__"}
    body = json.dumps({"Namespace": "Fuzz/deep", "MetricData": [datum]})
    response = httpx.post(
        vigil.url,
        content=body.replace('"__DEEP__"', deep).encode(),
        headers={
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "InvalidParameterValueException"
