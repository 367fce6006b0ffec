"""Pure pieces, without a server: cumulative conversion, metric decoding, time parsing."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_DELTA,
    ExponentialHistogramDataPoint,
    Metric,
)

from vigil.api.params import ParamError, parse_time
from vigil.ingest.interface import CumulativePoint, Rejections
from vigil.ingest.otlp.cumulative import CumulativeConverter
from vigil.ingest.otlp.metrics import cloudwatch_unit, decode_metrics
from vigil.model.metrics import MetricColumns

STARTED = 1_000


def _point(value: float, ts: int, start: int = 500, stream: int = 1) -> CumulativePoint:
    return CumulativePoint(
        stream_id=stream,
        tenant="t",
        namespace="ns",
        name="c",
        dimensions=[],
        unit="Count",
        start_time=start,
        timestamp=ts,
        value=value,
    )


def _convert(conv: CumulativeConverter, *points: CumulativePoint) -> tuple[list[float], Rejections]:
    out, rejected = MetricColumns(), Rejections()
    conv.convert(list(points), out, rejected)
    return out.value, rejected


def test_first_point_of_an_old_stream_is_a_baseline() -> None:
    conv = CumulativeConverter(STARTED)
    values, _ = _convert(conv, _point(10, 2000, start=500), _point(15, 3000, start=500))
    assert values == [5.0]


def test_first_point_of_a_stream_started_after_vigil_counts_in_full() -> None:
    conv = CumulativeConverter(STARTED)
    values, _ = _convert(conv, _point(10, 2000, start=1500), _point(15, 3000, start=1500))
    assert values == [10.0, 5.0]


def test_resets_count_the_new_value() -> None:
    conv = CumulativeConverter(STARTED)
    values, _ = _convert(
        conv,
        _point(10, 2000),
        _point(20, 3000),
        _point(4, 4000, start=3500),  # restarted: new start time after the last point
        _point(6, 5000, start=3500),
        _point(2, 6000, start=3500),  # value went down with the same start: a reset too
    )
    assert values == [10.0, 4.0, 2.0, 2.0]


def test_a_start_time_moving_back_is_a_new_baseline_and_duplicates_are_refused() -> None:
    conv = CumulativeConverter(STARTED)
    values, rejected = _convert(
        conv,
        _point(10, 2000, start=1500),
        _point(12, 2000, start=1500),
        _point(30, 3000, start=100),
        _point(35, 4000, start=100),
    )
    assert values == [10.0, 5.0]
    assert rejected.count == 1
    assert "not newer" in rejected.text()


def test_streams_are_independent() -> None:
    conv = CumulativeConverter(STARTED)
    values, _ = _convert(
        conv,
        _point(1, 2000, 1500, stream=1),
        _point(100, 2000, 1500, stream=2),
        _point(3, 3000, 1500, stream=1),
        _point(150, 3000, 1500, stream=2),
    )
    assert values == [1.0, 100.0, 2.0, 50.0]


def test_exponential_histogram_becomes_explicit_buckets() -> None:
    req = ExportMetricsServiceRequest()
    metric = Metric(name="lat", unit="ms")
    metric.exponential_histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    point = ExponentialHistogramDataPoint(
        time_unix_nano=10**18, count=6, sum=21.0, scale=0, zero_count=1, min=0.0, max=7.0
    )
    point.positive.offset = 0
    point.positive.bucket_counts.extend([2, 3])  # (1, 2] and (2, 4]
    point.negative.offset = 0
    point.negative.bucket_counts.extend([0])  # [-2, -1)
    metric.exponential_histogram.data_points.append(point)
    req.resource_metrics.add().scope_metrics.add().metrics.append(metric)
    decoded = decode_metrics(req, "t", 10**18)
    assert decoded.rejected.count == 0
    cols = decoded.metrics
    assert cols is not None
    # Every cell with both edges; the buckets below -2 and above 4 are empty.
    assert cols.bounds == [[-2.0, -1.0, 0.0, 2.0, 4.0]]
    assert cols.buckets == [[0, 0, 1, 2, 3, 0]]
    assert cols.unit == ["Milliseconds"]


def test_exponential_histogram_zero_threshold_over_its_buckets_is_refused() -> None:
    req = ExportMetricsServiceRequest()
    metric = Metric(name="lat", unit="ms")
    metric.exponential_histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    point = ExponentialHistogramDataPoint(
        time_unix_nano=10**18, count=3, sum=9.0, scale=0, zero_count=1, zero_threshold=5.0
    )
    point.positive.offset = 0
    point.positive.bucket_counts.extend([2])  # (1, 2], below the zero threshold
    metric.exponential_histogram.data_points.append(point)
    req.resource_metrics.add().scope_metrics.add().metrics.append(metric)
    decoded = decode_metrics(req, "t", 10**18)
    assert decoded.rejected.count == 1
    assert "zero_threshold" in decoded.rejected.text()
    assert decoded.metrics is not None
    assert len(decoded.metrics) == 0


def test_units() -> None:
    assert [
        cloudwatch_unit(u) for u in ("ms", "By", "1", "{req}", "By/s", "{req}/s", "furlong")
    ] == ["Milliseconds", "Bytes", "None", "Count", "Bytes/Second", "Count/Second", "furlong"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1_700_000_000 * 10**9),
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000123", 1_700_000_000_123_000_000),
        ("1700000000123456789", 1_700_000_000_123_456_789),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456_789),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000 * 10**9),
        ("now", 5 * 10**18),
        ("now-15m", 5 * 10**18 - 900 * 10**9),
        ("-2h", 5 * 10**18 - 7200 * 10**9),
    ],
)
def test_parse_time(text: str, expected: int) -> None:
    assert parse_time("start", text, now_ns=5 * 10**18) == expected


@pytest.mark.parametrize("text", ["yesterday", "2023-11-14T22:13:20", "-1"])
def test_parse_time_errors_name_the_field(text: str) -> None:
    with pytest.raises(ParamError) as err:
        parse_time("start", text, now_ns=0)
    assert err.value.field == "start"
