"""Cumulative OTLP histograms whose buckets change between exports keep every export.

* An exponential histogram from the real OpenTelemetry SDK whose recorded range grows
  (its offset moves and its scale goes down as values arrive) is differenced after the
  earlier point is downscaled into the later one's buckets: ``_count``/``_sum``/``_bucket``
  in PromQL and SampleCount/Sum in GetMetricData see every observation.
* Explicit bounds that change (the SDK cannot change a view's bounds within a run, so the
  OTLP protobuf is built here and sent over real OTLP/HTTP) are a reset, like a counter's:
  the point itself is stored as the delta — with the start time unchanged and after a
  restart (a new start time).
* ``exponential.previous_in`` and the converter on the edge cases: merging buckets on a
  downscale, a wider zero threshold, a finer scale (a reset).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from tests.runtime import InProcessVigil
from vigil.ingest.interface import CumulativePoint, Rejections
from vigil.ingest.otlp.cumulative import CumulativeConverter
from vigil.ingest.otlp.exponential import Exponential, layout, previous_in
from vigil.model.metrics import MetricColumns


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    v = InProcessVigil(tmp_path_factory.mktemp("otlp-hist-changes")).start()
    yield v
    v.stop()


def _instant(vigil: InProcessVigil, query: str, at: float) -> list[dict[str, Any]]:
    body = httpx.get(
        f"{vigil.url}/prometheus/api/v1/query", params={"query": query, "time": at}, timeout=60
    ).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _wait_count(vigil: InProcessVigil, query: str, at: float, want: float) -> float:
    """The query's single value once it reaches ``want`` (exports land asynchronously)."""
    deadline = time.monotonic() + 20
    got = math.nan
    while time.monotonic() < deadline:
        result = _instant(vigil, query, at)
        if result:
            got = float(result[0]["value"][1])
            if got == want:
                break
        time.sleep(0.2)
    return got


def _cloudwatch(vigil: InProcessVigil) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )


def _count_and_sum(
    vigil: InProcessVigil, service: str, name: str, dims: list[dict[str, str]], start_s: int
) -> tuple[float, float]:
    """GetMetricData's SampleCount and Sum over one period holding every export."""
    cw = _cloudwatch(vigil)
    metric = {"Namespace": service, "MetricName": name, "Dimensions": dims}
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": s.lower(), "MetricStat": {"Metric": metric, "Period": 3600, "Stat": s}}
            for s in ("SampleCount", "Sum")
        ],
        StartTime=datetime.fromtimestamp(start_s - start_s % 3600, UTC),
        EndTime=datetime.fromtimestamp(start_s - start_s % 3600 + 7200, UTC),
    )
    cw.close()
    got = {r["Id"]: sum(r["Values"]) for r in answer["MetricDataResults"]}
    return got["samplecount"], got["sum"]


# Each export widens the recorded range: up, then up by decades, then down and up.
GROWING = [(3.0, 3.5), (5.0, 7.0), (100.0,), (0.4, 1000.0, 6.0)]


def test_sdk_exponential_histogram_whose_range_grows_keeps_every_export(
    vigil: InProcessVigil,
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    started = time.time()
    exporting = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=f"{vigil.otlp_http_url}/v1/metrics",
            preferred_temporality={Histogram: AggregationTemporality.CUMULATIVE},
            timeout=30,
        ),
        export_interval_millis=3_600_000,
    )
    # A second reader sees the same points, to know the scales and offsets sent.
    seen = InMemoryMetricReader()
    mp = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[exporting, seen],
        views=[
            View(
                instrument_name="lat",
                aggregation=ExponentialBucketHistogramAggregation(max_size=4),
            )
        ],
    )
    hist = mp.get_meter("shop").create_histogram("lat", unit="ms")
    layouts: list[tuple[int, int, int]] = []
    for batch in GROWING:
        for v in batch:
            hist.record(v, {"route": "/a"})
        exporting.force_flush()
        data = seen.get_metrics_data()
        assert data is not None
        (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
        assert isinstance(point, ExponentialHistogramDataPoint)
        layouts.append((point.scale, point.positive.offset, len(point.positive.bucket_counts)))
        time.sleep(0.01)  # distinct milliseconds per export
    mp.shutdown()
    # The scenario really moves the buckets: the scale goes down, the offset moves.
    scales = [s for s, _, _ in layouts]
    assert scales == sorted(scales, reverse=True), layouts
    assert scales[0] > scales[-1], layouts
    assert len({(s, o) for s, o, _ in layouts}) == len(layouts), layouts

    every = np.array([v for batch in GROWING for v in batch])
    sel = f'{{cloudwatch_namespace="{service}"}}'
    at = time.time() + 1
    assert _wait_count(vigil, f"lat_count{sel}", at, len(every)) == len(every)
    assert float(_instant(vigil, f"lat_sum{sel}", at)[0]["value"][1]) == pytest.approx(every.sum())
    by_le = {
        b["metric"]["le"]: float(b["value"][1]) for b in _instant(vigil, f"lat_bucket{sel}", at)
    }
    # The last export's edges (its scale is the coarsest): exact there; a finer edge only
    # earlier rows have is a lower bound; the buckets never decrease with le.
    scale, offset, n = layouts[-1]
    base = 2.0 ** (2.0**-scale)
    edges = [base ** (offset + i) for i in range(n + 1)]
    les = sorted(by_le, key=lambda le: float(le.replace("+Inf", "inf")))
    assert by_le["+Inf"] == len(every)
    for le in les:
        bound = float(le.replace("+Inf", "inf"))
        exact = float((every <= bound).sum())
        if le == "+Inf" or any(math.isclose(bound, e, rel_tol=1e-12) for e in edges):
            assert by_le[le] == exact, (le, by_le)
        else:
            assert by_le[le] <= exact, (le, by_le)
    assert [by_le[le] for le in les] == sorted(by_le[le] for le in les)
    # Each of the last export's upper edges is an le.
    assert all(any(math.isclose(float(le), e, rel_tol=1e-12) for le in les[:-1]) for e in edges[1:])

    count, total = _count_and_sum(
        vigil, service, "lat", [{"Name": "route", "Value": "/a"}], int(started)
    )
    assert count == len(every)
    assert total == pytest.approx(every.sum())


def _histogram_request(
    service: str, start: int, ts: int, bounds: list[float], counts: list[int], total: float
) -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    metric = rm.scope_metrics.add().metrics.add()
    metric.name, metric.unit = "rpc", "s"
    metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.histogram.data_points.add()
    point.start_time_unix_nano, point.time_unix_nano = start, ts
    point.explicit_bounds.extend(bounds)
    point.bucket_counts.extend(counts)
    point.count, point.sum = sum(counts), total
    return request.SerializeToString()


def test_explicit_bounds_change_is_a_reset_not_a_loss(vigil: InProcessVigil) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    s0 = time.time_ns()
    second = 10**9
    exports = [
        # (start, time, bounds, cumulative bucket counts, cumulative sum)
        (s0, s0 + 1 * second, [1.0, 5.0, 10.0], [1, 2, 0, 1], 20.0),  # first: in full
        (s0, s0 + 2 * second, [1.0, 5.0, 10.0], [2, 3, 1, 1], 30.0),  # +3 observations
        (s0, s0 + 3 * second, [2.0, 4.0, 8.0], [3, 3, 2, 1], 40.0),  # bounds changed: reset
        (s0, s0 + 4 * second, [2.0, 4.0, 8.0], [3, 4, 2, 2], 45.0),  # +2
        # a restart (new start time) with other bounds again: counts from 0, in full
        (s0 + 4 * second + 1, s0 + 5 * second, [1.0, 2.0, 3.0], [1, 0, 0, 0], 0.5),
    ]
    for start, ts, bounds, counts, total in exports:
        response = httpx.post(
            f"{vigil.otlp_http_url}/v1/metrics",
            content=_histogram_request(service, start, ts, bounds, counts, total),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text
        assert response.content == b"" or b"rejected" not in response.content

    sel = f'{{cloudwatch_namespace="{service}"}}'
    at = (s0 + 10 * second) / 1e9
    # Stored deltas: 4, 3, 9 (the reset), 2, 1 (the restart).
    assert _wait_count(vigil, f"rpc_count{sel}", at, 19.0) == 19.0
    assert float(_instant(vigil, f"rpc_sum{sel}", at)[0]["value"][1]) == 20 + 10 + 40 + 5 + 0.5
    by_le = {
        b["metric"]["le"]: float(b["value"][1]) for b in _instant(vigil, f"rpc_bucket{sel}", at)
    }
    # Every bound any row has; a row without one adds its count at its largest bound below.
    assert by_le == {
        "1": 1 + 1 + 0 + 0 + 1,
        "2": 1 + 1 + 3 + 0 + 1,
        "3": 1 + 1 + 3 + 0 + 1,
        "4": 1 + 1 + 6 + 1 + 1,
        "5": 3 + 2 + 6 + 1 + 1,
        "8": 3 + 2 + 8 + 1 + 1,
        "10": 3 + 3 + 8 + 1 + 1,
        "+Inf": 19.0,
    }
    # The counter series over time: one sample per export, never going back.
    body = httpx.get(
        f"{vigil.url}/prometheus/api/v1/query",
        params={"query": f'rpc_bucket{{le="+Inf",{sel[1:-1]}}}[1m]', "time": at},
        timeout=60,
    ).json()
    (matrix,) = body["data"]["result"]
    assert [float(v) for _, v in matrix["values"]] == [4, 7, 16, 18, 19]
    # A read starting after the first three rows (two layouts) adds what they counted.
    body = httpx.get(
        f"{vigil.url}/prometheus/api/v1/query",
        params={
            "query": f'rpc_bucket{{le="4",{sel[1:-1]}}}[1500ms]',
            "time": (s0 + 5 * second) / 1e9,
        },
        timeout=60,
    ).json()
    (matrix,) = body["data"]["result"]
    assert [float(v) for _, v in matrix["values"]] == [1 + 1 + 6 + 1, 1 + 1 + 6 + 1 + 1]

    count, total = _count_and_sum(vigil, service, "rpc", [], s0 // 10**9)
    assert (count, total) == (19.0, 75.5)


def _exp(scale: int, offset: int, counts: list[int], zero: int = 0, zt: float = 0.0) -> Exponential:
    return Exponential(scale, zt, zero, offset, tuple(counts), 0, ())


def test_previous_point_downscaled_into_the_later_buckets() -> None:
    # Scale 1 buckets 2, 3, 4 become scale 0 buckets 1, 1, 2 (index >> 1).
    prev = _exp(1, 2, [1, 2, 3])
    cur = _exp(0, 1, [4, 5])
    _, _, keys = layout(cur)
    assert keys == [("z", 0), ("p", 1), ("p", 2), None]
    assert previous_in(cur, prev) == [0, 3, 3, 0]
    # Two steps down (scale 2 → 0): indexes 4..7 all become 1.
    assert previous_in(_exp(0, 1, [9]), _exp(2, 4, [1, 1, 1, 1])) == [0, 4, 0]
    # Negative indexes floor: scale 1 bucket -1 is scale 0 bucket -1.
    assert previous_in(_exp(0, -1, [2, 0]), _exp(1, -1, [1])) == [0, 1, 0, 0]


def test_previous_point_that_cannot_continue_is_not_aligned() -> None:
    assert previous_in(_exp(1, 2, [1]), _exp(0, 1, [1])) is None  # a finer scale
    assert previous_in(_exp(0, 2, [5]), _exp(0, 1, [1, 1])) is None  # a counted cell is gone
    assert previous_in(_exp(0, 1, [5]), _exp(0, 1, [1], zt=0.5)) is None  # a narrower zero
    # An empty cell may go away.
    assert previous_in(_exp(0, 2, [5]), _exp(0, 1, [0, 1])) == [0, 1, 0]


def test_wider_zero_threshold_takes_in_the_buckets_inside_it() -> None:
    # (0.125, 0.25] lies within a zero threshold of 0.3; (0.25, 0.5] does not.
    prev = _exp(0, -3, [2, 1], zero=1)
    cur = _exp(0, -2, [3], zero=4, zt=0.3)
    assert previous_in(cur, prev) == [3, 1, 0]


def _point(ts: int, exp: Exponential, count: int, start: int = 5) -> CumulativePoint:
    bounds, buckets, _ = layout(exp)
    return CumulativePoint(
        stream_id=1,
        tenant="t",
        namespace="ns",
        name="lat",
        dimensions=[],
        unit="None",
        start_time=start,
        timestamp=ts,
        value=float(count),
        count=float(count),
        bounds=bounds,
        buckets=buckets,
        exponential=exp,
    )


def test_converter_downscales_and_resets_on_a_finer_scale() -> None:
    conv = CumulativeConverter(started_ns=1)
    out = MetricColumns()
    points = [
        _point(10, _exp(1, 2, [1, 2, 3]), 6),  # first (started after the converter): in full
        _point(20, _exp(0, 1, [4, 5]), 9),  # scale down: differenced, 3 more
        _point(30, _exp(1, 2, [2, 2, 3, 3]), 10),  # finer scale: a reset, in full
    ]
    rejected = Rejections()
    conv.convert(points, out, rejected)
    assert rejected.count == 0
    assert out.count == [6.0, 3.0, 10.0]
    assert out.buckets[1] == [0, 1, 2, 0]
    assert out.bounds[1] == [0.0, 4.0, 8.0]
    assert out.buckets[2] == [0, 2, 2, 3, 3, 0]
