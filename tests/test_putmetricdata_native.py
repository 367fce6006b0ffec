"""The native PutMetricData decoder against the reference, on generated request bodies.

Contract (vigil.ingest.cloudwatch_native): for every body the native decoder either
declines (None) or returns exactly the reference's rows; whatever the reference refuses it
declines (so the reference words the error). Bodies as the SDKs send them must not be
declined, or the fast path would silently never run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
import orjson
import pyarrow as pa
import pytest
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vigil.ingest import _putmetricdata, cloudwatch_native
from vigil.ingest.cloudwatch_metrics import InvalidMetricData, decode_put_metric_data

NOW = 1_700_000_000_000_000_000
NOW_S = NOW / 1e9
SETTINGS = settings(
    max_examples=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

names = st.one_of(
    st.sampled_from(["CPUUtilization", "Latency", "a", " x", " ", "", ":c", "AWS/x", "é"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8),
    st.text(max_size=4),
    st.just("n" * 256),
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, -0.0, 1.5, 2.0**360, -(2.0**361), 1e-300, 0.1, 123456789.123456789]),
)
timestamps = st.one_of(
    st.floats(NOW_S - 15 * 86400, NOW_S + 3 * 3600),
    st.integers(int(NOW_S) - 15 * 86400, int(NOW_S) + 3 * 3600),
    st.sampled_from(["2023-11-14T22:13:20Z", "1700000000", None, True]),
)
units = st.sampled_from(["Percent", "Count", "Bytes/Second", "None", "percent", "", "Bogus"])
dimension = st.fixed_dictionaries(
    {"Name": names, "Value": names},
    optional={"Extra": st.just(1)},
)
dimensions = st.one_of(st.lists(dimension, max_size=4), st.just(None), st.just("x"))


@st.composite
def datums(draw: st.DrawFn) -> dict[str, Any]:
    datum: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        datum["MetricName"] = draw(names)
    if draw(st.booleans()):
        datum["Dimensions"] = draw(dimensions)
    if draw(st.booleans()):
        datum["Timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        datum["Unit"] = draw(units)
    if draw(st.integers(0, 4)) == 0:
        datum["StorageResolution"] = draw(st.sampled_from([1, 60, 60.0, 5, True]))
    shape = draw(st.integers(0, 5))
    if shape in (0, 1, 5):
        datum["Value"] = draw(numbers)
    if shape in (2, 5):
        values = draw(st.lists(numbers, max_size=5))
        datum["Values"] = values
        if draw(st.booleans()):
            datum["Counts"] = draw(
                st.lists(st.sampled_from([0, 1, 2.5, -1]), min_size=len(values), max_size=6)
            )
    if shape == 3:
        datum["StatisticValues"] = draw(
            st.fixed_dictionaries(
                {"SampleCount": numbers, "Sum": numbers, "Minimum": numbers, "Maximum": numbers}
            )
        )
    if shape == 4 and draw(st.booleans()):
        datum["Counts"] = [1]
    return datum


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    request: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        request["Namespace"] = draw(names)
    if draw(st.integers(0, 9)):
        request["MetricData"] = draw(st.lists(datums(), max_size=4))
    if not draw(st.integers(0, 9)):
        request["StrictEntityValidation"] = draw(st.booleans())
    return orjson.dumps(request)


def _reference(body: bytes) -> pa.Table | Exception:
    try:
        return decode_put_metric_data(orjson.loads(body), "t", NOW).to_arrow()
    except (InvalidMetricData, orjson.JSONDecodeError) as exc:
        return exc


def _check(body: bytes) -> None:
    native = _putmetricdata.decode(body, "t", NOW)
    if native is None:
        return
    reference = _reference(body)
    assert not isinstance(reference, Exception), (body, reference)
    assert native.to_arrow().equals(reference), body


@SETTINGS
@given(bodies())
@example(b'{"Namespace":"N","MetricData":[{"MetricName":"m","Value":1}]}')
@example(b'{"Namespace":"N","MetricData":[{"MetricName":"m","Values":[],"Counts":[]}]}')
@example(b'{"Namespace":"N","MetricData":[{"MetricName":"m","Value":1,"Value":2}]}')
@example(b'{"Namespace":"N","MetricData":[{"MetricName":"m","Value":1e400}]}')
@example(b'{"Namespace":"N","MetricData":[{"MetricName":"m\\u0041","Value":1}]}')
def test_native_is_the_reference_or_declines(body: bytes) -> None:
    _check(body)


@SETTINGS
@given(bodies(), st.integers(0, 400), st.binary(max_size=3))
def test_corrupted_bodies(body: bytes, at: int, junk: bytes) -> None:
    at = min(at, len(body))
    _check(body[:at] + junk + body[at:])
    _check(body[:at])


def _sdk_body(count: int) -> bytes:
    # The shapes boto3 sends (epoch-second timestamps, every kind of datum).
    data: list[dict[str, Any]] = []
    for i in range(count):
        datum: dict[str, Any] = {
            "MetricName": "Latency",
            "Dimensions": [
                {"Name": "Service", "Value": f"api-{i % 7}"},
                {"Name": "Host", "Value": f"h{i}"},
            ],
            "Timestamp": NOW_S - 60 + i * 0.001,
            "Unit": "Milliseconds",
        }
        if i % 3 == 0:
            datum["Value"] = i * 1.25
        elif i % 3 == 1:
            datum["Values"], datum["Counts"] = [1.0, 2.5, 40.0], [3.0, 0.0, 1.0]
            datum["StorageResolution"] = 1
        else:
            datum["StatisticValues"] = {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}
        data.append(datum)
    return orjson.dumps({"Namespace": "App/Api", "MetricData": data})


def test_sdk_shaped_bodies_take_the_native_path() -> None:
    body = _sdk_body(1000)
    native = _putmetricdata.decode(body, "t", NOW)
    assert native is not None
    reference = _reference(body)
    assert isinstance(reference, pa.Table)
    assert native.to_arrow().equals(reference)
    assert reference.num_rows == 334 + 333 * 2 + 333


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            b'{"Namespace":"N","MetricData":[{"MetricName":"m","Value":"x"}]}',
            "InvalidParameterValue",
        ),
        (b'{"Namespace":"N","MetricData":[{"MetricName":"m"}]}', "MissingParameter"),
        (b'{"MetricData":[{"MetricName":"m","Value":1}]}', "MissingParameter"),
    ],
)
def test_declined_bodies_get_the_reference_error(body: bytes, code: str) -> None:
    with pytest.raises(InvalidMetricData) as err:
        cloudwatch_native.decode_body(body, "t", NOW, orjson.loads)
    assert err.value.code == code


def test_the_body_boto3_sends_takes_the_native_path() -> None:
    # botocore's own serializer (JSON 1.0 for CloudWatch), datetimes with microseconds.
    client = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    try:
        model = client.meta.service_model.operation_model("PutMetricData")
        stamp = datetime.fromtimestamp(NOW_S - 30.123456, UTC)
        params = {
            "Namespace": "App/Api",
            "MetricData": [
                {
                    "MetricName": "Latency",
                    "Dimensions": [{"Name": "Host", "Value": "h1"}],
                    "Timestamp": stamp,
                    "Value": 12.5,
                    "Unit": "Milliseconds",
                },
                {
                    "MetricName": "Latency",
                    "Timestamp": stamp,
                    "Values": [1.0, 2.0],
                    "Counts": [2.0, 1.0],
                    "StorageResolution": 1,
                },
            ],
        }
        # The JSON protocol, which boto3 uses against vigil (vigil does not serve CBOR).
        body = create_serializer("json").serialize_to_request(params, model)["body"]
    finally:
        client.close()
    assert isinstance(body, bytes)
    native = _putmetricdata.decode(body, "t", NOW)
    assert native is not None, body
    reference = _reference(body)
    assert isinstance(reference, pa.Table)
    assert native.to_arrow().equals(reference)
    assert reference.num_rows == 3
