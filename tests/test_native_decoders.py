"""The native OTLP decoders against the reference ones: same rows, same rejections, same 400s.

Hypothesis builds OTLP requests (odd ids, limits, future times, odd UTF-8, typed and nested
values, repeated keys) and checks that ``native.decode_protobuf`` gives exactly what the
reference decoder gives; fuzz tests feed random and mutated bytes and check that the native
decoder never crashes and never accepts what protobuf refuses.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil.ingest.interface import Decoded, RequestError
from vigil.ingest.otlp import _wire, native
from vigil.ingest.otlp.common import json_text, parse_protobuf
from vigil.ingest.otlp.signals import SIGNALS
from vigil.model.common import MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_BODY_BYTES

NOW = 1_700_000_000_000_000_000
HOUR = 3600 * 10**9
# VIGIL_FUZZ_EXAMPLES=5000 for a longer run than the suite's.
SETTINGS = settings(
    max_examples=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------- strategies

texts = st.one_of(
    st.sampled_from(["", "a", "service.name", "host.name", "é", "日本", "\x00", "k"]),
    st.text(max_size=12),
    # JSON messages that name a trace id (ingest.logfields), valid and not.
    st.sampled_from(
        [
            '{"trace_id":"0123456789abcdef0123456789abcdef","msg":"x"}',
            ' {"traceId": "1-5f84c7a3-0123456789abcdef01234567"}',
            '{"@xrayTraceId":"00000000000000000000000000000000"}',
            '{"trace_id": 5}',
            "no trace here",
        ]
    ),
)
keys = st.sampled_from(
    [
        "k",
        "service.name",
        "service.instance.id",
        "host.name",
        "aws.log.group.names",
        "aws.log.stream.names",
        "service.namespace",
        "é",
        "",
    ]
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-5, 1.5e-5, 1e-7, 1e16, 123.0, 0.1]),
)


def scalar_values() -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        texts.map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        floats.map(lambda f: AnyValue(double_value=f)),
        st.binary(max_size=10).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    )


def _array(items: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(items)
    return value


def _kvlist(items: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in items)
    return value


any_values = st.recursive(
    scalar_values(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(_array),
        st.lists(st.tuples(keys, inner), max_size=3).map(_kvlist),
    ),
    max_leaves=6,
)


@st.composite
def key_values(draw: st.DrawFn) -> KeyValue:
    kv = KeyValue(key=draw(keys))
    if draw(st.integers(0, 9)):
        kv.value.CopyFrom(draw(any_values))
    return kv


ids = st.one_of(
    st.just(b""),
    st.binary(min_size=16, max_size=16),
    st.just(bytes(16)),
    st.binary(min_size=8, max_size=8),
    st.just(bytes(8)),
    st.binary(max_size=20),
)
times = st.one_of(
    st.just(0),
    st.integers(NOW - 10 * HOUR, NOW + HOUR),
    st.integers(NOW + 2 * HOUR - 2, NOW + 2 * HOUR + 2),
    st.integers(0, 2**64 - 1),
)


@st.composite
def log_records(draw: st.DrawFn) -> LogRecord:
    record = LogRecord(
        time_unix_nano=draw(times),
        observed_time_unix_nano=draw(times),
        severity_number=draw(  # type: ignore[arg-type]
            st.one_of(st.integers(0, 24), st.integers(-(2**31), 2**31 - 1))
        ),
        severity_text=draw(texts),
        flags=draw(st.integers(0, 2**32 - 1)),
        trace_id=draw(ids),
        span_id=draw(ids),
        event_name=draw(texts),
    )
    if draw(st.booleans()):
        record.body.CopyFrom(draw(any_values))
    record.attributes.extend(draw(st.lists(key_values(), max_size=5)))
    return record


@st.composite
def logs_requests(draw: st.DrawFn) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rl = req.resource_logs.add()
        if draw(st.booleans()):
            rl.resource.attributes.extend(draw(st.lists(key_values(), max_size=5)))
        rl.schema_url = draw(texts)
        for _ in range(draw(st.integers(0, 2))):
            sl = rl.scope_logs.add()
            if draw(st.booleans()):
                sl.scope.name = draw(texts)
                sl.scope.version = draw(texts)
                sl.scope.attributes.extend(draw(st.lists(key_values(), max_size=2)))
            sl.log_records.extend(draw(st.lists(log_records(), max_size=4)))
    return req


@st.composite
def spans(draw: st.DrawFn) -> Span:
    start = draw(times)
    span = Span(
        trace_id=draw(ids),
        span_id=draw(ids),
        parent_span_id=draw(ids),
        trace_state=draw(texts),
        name=draw(texts),
        kind=draw(st.one_of(st.integers(0, 5), st.integers(-3, 9))),  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=draw(st.one_of(st.just(start), times)),
        flags=draw(st.integers(0, 2**32 - 1)),
    )
    span.attributes.extend(draw(st.lists(key_values(), max_size=4)))
    if draw(st.booleans()):
        span.status.code = draw(st.integers(-1, 3))  # type: ignore[assignment]
        span.status.message = draw(texts)
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(time_unix_nano=draw(times), name=draw(texts))
        event.attributes.extend(draw(st.lists(key_values(), max_size=2)))
    for _ in range(draw(st.integers(0, 2))):
        link = span.links.add(trace_id=draw(ids), span_id=draw(ids), trace_state=draw(texts))
        link.attributes.extend(draw(st.lists(key_values(), max_size=2)))
    return span


@st.composite
def traces_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        if draw(st.booleans()):
            rs.resource.attributes.extend(draw(st.lists(key_values(), max_size=4)))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            if draw(st.booleans()):
                ss.scope.name = draw(texts)
                ss.scope.version = draw(texts)
            ss.spans.extend(draw(st.lists(spans(), max_size=4)))
    return req


def _valid_span(i: int) -> Span:
    return Span(
        trace_id=bytes([i + 1]) * 16,
        span_id=bytes([i + 1]) * 8,
        start_time_unix_nano=NOW - HOUR,
        end_time_unix_nano=NOW - HOUR + 5,
        name="GET /",
    )


point_times = st.one_of(st.integers(NOW - HOUR, NOW), times)


@st.composite
def number_points(draw: st.DrawFn) -> NumberDataPoint:
    point = NumberDataPoint(
        time_unix_nano=draw(point_times),
        start_time_unix_nano=draw(st.one_of(st.just(0), point_times)),
        flags=draw(st.sampled_from([0, 0, 0, 1, 2])),
    )
    which = draw(st.integers(0, 2))
    if which == 1:
        point.as_double = draw(floats)
    elif which == 2:
        point.as_int = draw(st.integers(-(2**63), 2**63 - 1))
    point.attributes.extend(draw(st.lists(key_values(), max_size=4)))
    return point


@st.composite
def histogram_points(draw: st.DrawFn) -> HistogramDataPoint:
    bounds = sorted(set(draw(st.lists(st.floats(-1e6, 1e6), max_size=5))))
    if draw(st.integers(0, 9)) == 0:
        bounds = draw(st.lists(floats, max_size=4))  # unsorted or not finite
    counts = draw(st.lists(st.integers(0, 50), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    if draw(st.integers(0, 9)) == 0:
        counts = draw(st.lists(st.integers(0, 2**64 - 1), max_size=4))
    point = HistogramDataPoint(
        time_unix_nano=draw(point_times),
        start_time_unix_nano=draw(st.one_of(st.just(0), point_times)),
        count=min(sum(counts), 2**64 - 1)
        if draw(st.integers(0, 5))
        else draw(st.integers(0, 2**64 - 1)),
        explicit_bounds=bounds,
        bucket_counts=counts if draw(st.integers(0, 7)) else [],
        flags=draw(st.sampled_from([0, 0, 1])),
    )
    if draw(st.booleans()):
        point.sum = draw(floats)
    if draw(st.booleans()):
        point.min = draw(floats)
    if draw(st.booleans()):
        point.max = draw(floats)
    point.attributes.extend(draw(st.lists(key_values(), max_size=3)))
    return point


@st.composite
def metrics(draw: st.DrawFn) -> Metric:
    metric = Metric(
        name=draw(st.one_of(st.just(""), texts, st.just("http.server.duration"))),
        unit=draw(st.sampled_from(["", "1", "ms", "By", "{request}", "kBy/s", "weird"])),
        description=draw(texts),
    )
    kind = draw(st.integers(0, 3))
    temporality = draw(st.integers(0, 3))
    if kind == 0:
        metric.gauge.data_points.extend(draw(st.lists(number_points(), max_size=4)))
    elif kind == 1:
        metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
        metric.sum.is_monotonic = draw(st.booleans())
        metric.sum.data_points.extend(draw(st.lists(number_points(), max_size=4)))
    elif kind == 2:
        metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
        metric.histogram.data_points.extend(draw(st.lists(histogram_points(), max_size=3)))
    return metric


@st.composite
def metrics_requests(draw: st.DrawFn) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rm = req.resource_metrics.add()
        if draw(st.booleans()):
            rm.resource.attributes.extend(draw(st.lists(key_values(), max_size=4)))
        for _ in range(draw(st.integers(0, 2))):
            sm = rm.scope_metrics.add()
            if draw(st.booleans()):
                sm.scope.name = draw(texts)
            sm.metrics.extend(draw(st.lists(metrics(), max_size=3)))
    return req


# ---------------------------------------------------------------- comparison


def _reference(signal: str, body: bytes, tenant: str = "t1") -> Decoded | RequestError:
    spec = SIGNALS[signal]
    try:
        return spec.decode(parse_protobuf(body, spec.request), tenant, NOW)
    except RequestError as exc:
        return exc


def _table(decoded: Decoded) -> pa.Table:
    cols = {"logs": decoded.logs, "traces": decoded.spans, "metrics": decoded.metrics}[
        decoded.signal
    ]
    assert cols is not None
    return cols.to_arrow()


def assert_same(native_result: Decoded, reference: Decoded) -> None:
    got, want = _table(native_result), _table(reference)
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        if pa.types.is_floating(want.schema.field(name).type):
            # NaN (an unknown histogram sum, min or max) equals NaN here.
            assert np.array_equal(got[name].to_numpy(), want[name].to_numpy(), equal_nan=True)
        else:
            assert got[name].to_pylist() == want[name].to_pylist(), name
    assert native_result.log_streams == reference.log_streams
    assert native_result.rejected.count == reference.rejected.count
    assert native_result.rejected.messages == reference.rejected.messages
    assert native_result.cumulative == reference.cumulative


def check_body(signal: str, body: bytes, *, must_decode: bool) -> None:
    """The native decoder gives the reference's result, or declines; never anything else."""
    result = getattr(_wire, f"decode_{signal}")(body, "t1", NOW)
    reference = _reference(signal, body)
    if result is None:
        assert not must_decode, "the native decoder declined a plain request"
        return
    assert not isinstance(reference, RequestError), (
        f"native accepted what protobuf refuses: {reference}"
    )
    assert_same(result, reference)


# ---------------------------------------------------------------- logs


@SETTINGS
@given(logs_requests())
def test_native_logs_match_the_reference(req: ExportLogsServiceRequest) -> None:
    check_body("logs", req.SerializeToString(), must_decode=True)


@SETTINGS
@given(traces_requests())
def test_native_traces_match_the_reference(req: ExportTraceServiceRequest) -> None:
    check_body("traces", req.SerializeToString(), must_decode=True)


@SETTINGS
@given(st.lists(st.integers(0, 200), min_size=1, max_size=40))
def test_mostly_valid_traces_match_the_reference(kinds: list[int]) -> None:
    # Valid spans, some with events and links, so that the accepted path is well covered.
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(_attrs(3))
    ss = rs.scope_spans.add()
    for i, k in enumerate(kinds):
        span = _valid_span(i % 200)
        span.kind = k % 6  # type: ignore[assignment]
        if k % 3 == 0:
            span.events.add(time_unix_nano=NOW, name="e").attributes.extend(_attrs(k % 4))
        if k % 5 == 0:
            span.links.add(trace_id=bytes([7]) * 16, span_id=bytes([8]) * 8, trace_state="x=1")
        ss.spans.append(span)
    check_body("traces", req.SerializeToString(), must_decode=True)


@SETTINGS
@given(metrics_requests())
def test_native_metrics_match_the_reference(req: ExportMetricsServiceRequest) -> None:
    # Bucket counts whose sum passes 2**64 cannot be added up in the native decoder's
    # unsigned 64-bit arithmetic: it declines, and the reference answers (rejects the point).
    check_body("metrics", req.SerializeToString(), must_decode=not _counts_overflow(req))


def _counts_overflow(req: ExportMetricsServiceRequest) -> bool:
    return any(
        sum(point.bucket_counts) >= 2**64
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.HasField("histogram")
        for point in metric.histogram.data_points
    )


def test_exponential_histograms_and_summaries_take_the_reference_path() -> None:
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    point = metric.exponential_histogram.data_points.add(time_unix_nano=NOW, count=1, scale=0)
    point.positive.bucket_counts.append(1)
    body = req.SerializeToString()
    assert _wire.decode_metrics(body, "t1", NOW) is None
    decoded = native.decode_protobuf(SIGNALS["metrics"], body, "t1", NOW)
    assert decoded.accepted == 1


@SETTINGS
@given(floats)
@example(1e-5)
@example(-1.2345e-5)
@example(1e22)
@example(5e-324)
def test_doubles_render_as_the_reference_renders_them(value: float) -> None:
    assert _wire.double_text(value) == json_text(value)


def _one_record_request(record: LogRecord, resource: list[KeyValue] | None = None) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(
        resource or [KeyValue(key="service.name", value=AnyValue(string_value="svc"))]
    )
    rl.scope_logs.add().log_records.append(record)
    return req.SerializeToString()


def _attrs(n: int, value: Any = "v") -> list[KeyValue]:
    return [KeyValue(key=f"k{i}", value=AnyValue(string_value=value)) for i in range(n)]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(
            LogRecord(time_unix_nano=NOW, attributes=_attrs(MAX_ATTRIBUTES)), id="at-count-limit"
        ),
        pytest.param(
            LogRecord(time_unix_nano=NOW, attributes=_attrs(MAX_ATTRIBUTES + 1)),
            id="over-count-limit",
        ),
        pytest.param(
            LogRecord(time_unix_nano=NOW, attributes=_attrs(2, "é" * MAX_ATTRIBUTE_VALUE_BYTES)),
            id="multibyte-value-at-limit",
        ),
        pytest.param(
            LogRecord(
                time_unix_nano=NOW, attributes=_attrs(2, "x" * (MAX_ATTRIBUTE_VALUE_BYTES + 1))
            ),
            id="value-over-limit",
        ),
        pytest.param(
            LogRecord(time_unix_nano=NOW, body=AnyValue(string_value="日" * MAX_BODY_BYTES)),
            id="multibyte-body-at-limit",
        ),
        pytest.param(
            LogRecord(time_unix_nano=NOW, body=AnyValue(string_value="b" * (MAX_BODY_BYTES + 1))),
            id="body-over-limit",
        ),
        pytest.param(
            LogRecord(
                time_unix_nano=NOW,
                attributes=[
                    KeyValue(key=f"k{i % 40}", value=AnyValue(int_value=i)) for i in range(200)
                ]
                + [KeyValue(key="k3", value=AnyValue(string_value="last"))],
            ),
            id="many-repeated-keys",
        ),
    ],
)
def test_limits_and_repeated_keys(record: LogRecord) -> None:
    check_body("logs", _one_record_request(record), must_decode=True)


def test_over_limit_resource_rejects_all_its_records() -> None:
    body = _one_record_request(LogRecord(time_unix_nano=NOW), resource=_attrs(MAX_ATTRIBUTES + 5))
    result = _wire.decode_logs(body, "t1", NOW)
    assert result is not None
    assert (result.rejected.count, result.accepted) == (1, 0)
    check_body("logs", body, must_decode=True)


# ---------------------------------------------------------------- malformed input


def _serialized_samples() -> list[bytes]:
    rec = LogRecord(
        time_unix_nano=NOW,
        severity_text="INFO",
        body=_kvlist([("a", AnyValue(int_value=1)), ("b", _array([AnyValue(double_value=1.5)]))]),
        attributes=_attrs(3),
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
    )
    return [
        _one_record_request(rec),
        _one_record_request(LogRecord(body=AnyValue(string_value="é"))),
    ]


def _span_samples() -> list[bytes]:
    span = _valid_span(1)
    span.attributes.extend(_attrs(2))
    span.events.add(time_unix_nano=NOW, name="exception").attributes.extend(_attrs(1))
    span.links.add(trace_id=bytes([3]) * 16, span_id=bytes([4]) * 8)
    span.status.message = "boom"
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(_attrs(2))
    rs.scope_spans.add().spans.extend([span, _valid_span(2)])
    return [req.SerializeToString()]


def _metric_samples() -> list[bytes]:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(_attrs(2))
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add(name="g", unit="ms")
    gauge.gauge.data_points.add(time_unix_nano=NOW, as_double=1.5).attributes.extend(_attrs(2))
    hist = sm.metrics.add(name="h")
    hist.histogram.aggregation_temporality = 1  # type: ignore[assignment]
    hist.histogram.data_points.add(
        time_unix_nano=NOW, count=3, sum=4.0, explicit_bounds=[1.0, 2.0], bucket_counts=[1, 1, 1]
    )
    total = sm.metrics.add(name="c")
    total.sum.aggregation_temporality = 2  # type: ignore[assignment]
    total.sum.is_monotonic = True
    total.sum.data_points.add(time_unix_nano=NOW, start_time_unix_nano=NOW - HOUR, as_int=7)
    return [req.SerializeToString()]


@SETTINGS
@given(st.sampled_from(["logs", "traces", "metrics"]), st.binary(max_size=300))
def test_random_bytes_never_crash(signal: str, body: bytes) -> None:
    check_body(signal, body, must_decode=False)


@SETTINGS
@given(
    st.sampled_from(
        [("logs", b) for b in _serialized_samples()]
        + [("traces", b) for b in _span_samples()]
        + [("metrics", b) for b in _metric_samples()]
    ),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 10_000),
)
def test_mutated_requests_never_crash_nor_pass_what_protobuf_refuses(
    sample: tuple[str, bytes], flips: list[tuple[int, int]], cut: int
) -> None:
    signal, body = sample
    data = bytearray(body)
    for at, value in flips:
        data[at % len(data)] = value
    mutated = bytes(data[: max(1, len(data) - cut % 8)])
    check_body(signal, mutated, must_decode=False)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x0a\x05\x12\x03\x12\x01\x1a", id="truncated"),
        pytest.param(
            _one_record_request(LogRecord(severity_text="x"))[:-1] + b"\xff", id="bad-utf8"
        ),
        pytest.param(b"\x0a\x02\x0b\x14", id="mismatched-group"),
        pytest.param(b"\x0f", id="bad-wire-type"),
    ],
)
def test_malformed_bodies_get_the_reference_400(body: bytes) -> None:
    with pytest.raises(DecodeError):
        ExportLogsServiceRequest.FromString(body)
    with pytest.raises(RequestError) as native_error:
        native.decode_protobuf(SIGNALS["logs"], body, "t1", NOW)
    reference = _reference("logs", body)
    assert isinstance(reference, RequestError)
    assert str(native_error.value) == str(reference)


def test_merged_sub_messages_are_left_to_the_reference() -> None:
    # Two body fields in one record: protobuf merges them, the native decoder declines.
    first = AnyValue(string_value="a").SerializeToString()
    second = AnyValue(int_value=3).SerializeToString()
    record = b"\x2a" + bytes([len(first)]) + first + b"\x2a" + bytes([len(second)]) + second
    scope = b"\x12" + bytes([len(record)]) + record
    resource_logs = b"\x12" + bytes([len(scope)]) + scope
    body = b"\x0a" + bytes([len(resource_logs)]) + resource_logs
    assert _wire.decode_logs(body, "t1", NOW) is None
    decoded = native.decode_protobuf(SIGNALS["logs"], body, "t1", NOW)
    assert decoded.logs is not None
    assert decoded.logs.to_arrow()["body"].to_pylist() == ["3"]


def test_deep_nesting_is_left_to_the_reference() -> None:
    value = AnyValue(string_value="x")
    for _ in range(40):
        value = _array([value])
    body = _one_record_request(LogRecord(time_unix_nano=NOW, body=value))
    assert _wire.decode_logs(body, "t1", NOW) is None
    decoded = native.decode_protobuf(SIGNALS["logs"], body, "t1", NOW)
    assert decoded.accepted == 1


@pytest.mark.parametrize(
    ("body", "trace_id"),
    [
        ('{"trace_id":"0123456789abcdef0123456789abcdef"}', b""),
        ('{"traceId":"1-5f84c7a3-0123456789abcdef01234567"}', bytes(16)),
        ('{"trace_id":"0123456789abcdef0123456789abcdef"}', bytes(range(1, 17))),
        ("a trace_id that is not JSON", b""),
    ],
)
def test_a_json_body_naming_a_trace_id_fills_an_empty_one(body: str, trace_id: bytes) -> None:
    record = LogRecord(time_unix_nano=NOW, body=AnyValue(string_value=body), trace_id=trace_id)
    check_body("logs", _one_record_request(record), must_decode=True)


def test_a_large_resource_repeated_on_many_records_is_refused_whole() -> None:
    # ~1 MiB of resource attributes on 300 records: 300 MiB of repeated resource.
    big = [KeyValue(key=f"r{i}", value=AnyValue(string_value="x" * 250_000)) for i in range(4)]
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(big)
    rl.scope_logs.add().log_records.extend(LogRecord(time_unix_nano=NOW) for _ in range(300))
    body = req.SerializeToString()
    assert len(body) < 2 * 2**20
    with pytest.raises(RequestError) as native_error:
        _wire.decode_logs(body, "t1", NOW)
    reference = _reference("logs", body)
    assert isinstance(reference, RequestError)
    assert str(native_error.value) == str(reference)
    assert "send smaller batches" in str(reference)
