"""OTLP histograms in PromQL as Prometheus' classic series (``_bucket{le}``, ``_sum``,
``_count``, cumulative counters): the real OpenTelemetry SDK exports histograms (cumulative
and delta temporality) through vigil's OTLP/HTTP endpoint, then PromQL over HTTP reads them
— instant values, ``rate`` and ``histogram_quantile`` (which the pushdown must leave to the
evaluator), and ``/series``, ``/labels``, ``/label/__name__/values``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from tests.runtime import InProcessVigil
from vigil.query.promql.histograms import le_sql

BOUNDS = [5.0, 10.0, 25.0, 50.0, 100.0]
# Three exports: the first point of a stream counts in full (it started after vigil did).
BATCHES = [(3, 7, 7, 30), (1, 60, 120, 8, 9), (40, 45, 300)]
LES = ["5", "10", "25", "50", "100", "+Inf"]


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    v = InProcessVigil(tmp_path_factory.mktemp("promql-otlp-hist")).start()
    yield v
    v.stop()


def _export(
    vigil: InProcessVigil,
    service: str,
    temporality: AggregationTemporality,
    exponential: bool,
    batches: Sequence[Sequence[float]] = BATCHES,
) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=f"{vigil.otlp_http_url}/v1/metrics",
            preferred_temporality={Histogram: temporality},
            timeout=30,
        ),
        export_interval_millis=3_600_000,
    )
    aggregation = (
        ExponentialBucketHistogramAggregation(max_size=20)
        if exponential
        else ExplicitBucketHistogramAggregation(boundaries=BOUNDS)
    )
    mp = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[reader],
        views=[View(instrument_name="http.server.duration", aggregation=aggregation)],
    )
    hist = mp.get_meter("shop").create_histogram("http.server.duration", unit="ms")
    for batch in batches:
        for v in batch:
            hist.record(v, {"http.route": "/checkout"})
        reader.force_flush()
        time.sleep(0.01)  # distinct milliseconds per export
    mp.shutdown()


def _client(vigil: InProcessVigil) -> httpx.Client:
    return httpx.Client(base_url=vigil.url + "/prometheus/api/v1", timeout=60)


def _instant(http: httpx.Client, query: str) -> list[dict[str, Any]]:
    body = http.get("/query", params={"query": query, "time": time.time() + 1}).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(http: httpx.Client, query: str) -> float:
    (only,) = _instant(http, query)
    return float(only["value"][1])


def _wait(http: httpx.Client, query: str) -> None:
    deadline = time.monotonic() + 20
    while not _instant(http, query):
        assert time.monotonic() < deadline, f"{query} never answered"
        time.sleep(0.2)


def _cumulative_counts(values: Sequence[float]) -> dict[str, float]:
    arr = np.array(values)
    out = {str(int(b)): float((arr <= b).sum()) for b in BOUNDS}
    out["+Inf"] = float(len(arr))
    return out


@pytest.mark.parametrize(
    "temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]
)
def test_explicit_histogram_reads_as_classic_buckets(
    vigil: InProcessVigil, temporality: AggregationTemporality
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    _export(vigil, service, temporality, exponential=False)
    sel = f'{{cloudwatch_namespace="{service}"}}'
    every = [v for batch in BATCHES for v in batch]
    with _client(vigil) as http:
        _wait(http, f"http_server_duration_count{sel}")
        assert _value(http, f"http_server_duration_count{sel}") == len(every)
        assert _value(http, f"http_server_duration_sum{sel}") == sum(every)
        buckets = _instant(http, f"http_server_duration_bucket{sel}")
        got = {b["metric"]["le"]: float(b["value"][1]) for b in buckets}
        assert got == _cumulative_counts(every)
        labels = buckets[0]["metric"]
        assert labels["http_route"] == "/checkout"
        assert labels["__name__"] == "http_server_duration_bucket"
        assert labels["cloudwatch_namespace"] == service

        # The counters over time: one sample per export, cumulative.
        body = http.get(
            "/query",
            params={"query": f'http_server_duration_bucket{{le="+Inf",{sel[1:-1]}}}[10m]'},
        ).json()
        (matrix,) = body["data"]["result"]
        running = np.cumsum([len(b) for b in BATCHES]).tolist()
        seen = [float(v) for _, v in matrix["values"]]
        # (the SDK's shutdown exports once more: nothing new, the same total)
        assert seen[:3] == running
        assert set(seen[3:]) <= {running[-1]}

        # rate and histogram_quantile, through the general path (the pushdown declines).
        rate = _value(http, f"sum(rate(http_server_duration_count{sel}[5m]))")
        assert rate > 0
        inc = _instant(http, f"sum by (le) (increase(http_server_duration_bucket{sel}[5m]))")
        assert sorted(x["metric"]["le"] for x in inc) == sorted(LES)
        # The quantile of what the 2nd and 3rd exports added (the window's first sample is
        # the 1st export): (1, 60, 120, 8, 9, 40, 45, 300); its 0.5 lies in (25, 50].
        q50 = _value(
            http,
            f"histogram_quantile(0.5, sum by (le) (rate(http_server_duration_bucket{sel}[5m])))",
        )
        assert 25 < q50 <= 50
        q90 = _value(
            http,
            f"histogram_quantile(0.9, sum by (le) (rate(http_server_duration_bucket{sel}[5m])))",
        )
        assert q90 == 100  # past the highest finite bound: Prometheus answers that bound

        # The catalog lists the new names (and the stored one: the mean stays).
        series = http.get(
            "/series", params={"match[]": f"{{__name__=~'http_server.*',{sel[1:-1]}}}"}
        )
        names = {(s["__name__"], s.get("le")) for s in series.json()["data"]}
        assert names == {
            ("http_server_duration", None),
            ("http_server_duration_sum", None),
            ("http_server_duration_count", None),
            *(("http_server_duration_bucket", le) for le in LES),
        }
        values = http.get("/label/__name__/values", params={"match[]": sel}).json()["data"]
        assert values == sorted(
            [
                "http_server_duration",
                *(f"http_server_duration{s}" for s in ("_bucket", "_count", "_sum")),
            ]
        )
        les = http.get("/label/le/values", params={"match[]": sel}).json()["data"]
        assert sorted(les) == sorted(LES)
        assert "le" in http.get("/labels", params={"match[]": sel}).json()["data"]
        # Matchers on le and on the virtual name, with regexes (RE2, anchored).
        picked = _instant(http, f'http_server_duration_bucket{{le=~"1.*",{sel[1:-1]}}}')
        assert sorted(x["metric"]["le"] for x in picked) == ["10", "100"]
        picked = _instant(http, f'{{__name__=~".*_(sum|count)",{sel[1:-1]}}}')
        assert len(picked) == 2


def test_exponential_histogram_reads_as_buckets_at_its_edges(vigil: InProcessVigil) -> None:
    # The first export spans the whole range, so the buckets' bounds never change (range
    # growth: tests/test_otlp_histogram_changes.py).
    batches = [(1, 300, 7), (3, 60, 120, 8, 9), (40, 45, 300)]
    service = f"svc-{uuid.uuid4().hex[:8]}"
    _export(vigil, service, AggregationTemporality.CUMULATIVE, exponential=True, batches=batches)
    sel = f'{{cloudwatch_namespace="{service}"}}'
    every = np.array([v for batch in batches for v in batch])
    with _client(vigil) as http:
        _wait(http, f"http_server_duration_count{sel}")
        assert _value(http, f"http_server_duration_count{sel}") == len(every)
        buckets = _instant(http, f"http_server_duration_bucket{sel}")
        by_le = {b["metric"]["le"]: float(b["value"][1]) for b in buckets}
        assert len(by_le) > 5
        # Each le is a bucket's upper edge (base**k): the count at or below it is exact.
        assert by_le == {
            le: float((every <= float(le.replace("+Inf", "inf"))).sum()) for le in by_le
        }


def test_le_is_written_as_prometheus_writes_it(vigil: InProcessVigil) -> None:
    bounds = [0.005, 1.0, 2.5, 1e-6, 1e-7, 1.5e-7, 1e15, 1e21, 1.2345e25, -0.5, -3e-9, 0.0, 2**-20]
    sql = f"SELECT arrayMap(b -> {le_sql('b')}, {{b:Array(Float64)}}) AS les"

    async def ask(runtime: Any) -> Any:
        return await runtime.core.store.query(sql, {"b": bounds})

    got = vigil.call(ask).rows[0][0]
    # Go's strconv.FormatFloat(b, 'f', -1, 64): positional, shortest round-trip digits.
    want = [np.format_float_positional(b, unique=True, trim="-") for b in bounds]
    assert got == want


def test_running_sums_over_changing_bounds_missing_sums_and_one_millisecond() -> None:
    """``histograms._samples`` (pure): the counters start from what the rows before the
    read added; a row without a bound adds its count at its largest bound below it; a row
    without a sum adds no ``_sum`` sample; two rows at one millisecond give one sample,
    after both."""
    import pyarrow as pa

    from vigil.query.promql.histograms import _samples

    lbl = [("__name__", "x")]
    virtual = pa.table(
        {
            "series_id": pa.array([7, 7, 7, 7, 7], pa.uint64()),
            "suffix": ["_count", "_sum", "_bucket", "_bucket", "_bucket"],
            "bound": [float("nan"), float("nan"), 1.0, 2.0, float("inf")],
            "lbl": [lbl] * 5,
        }
    )
    # Before the read: one layout with bound 1 (count 4 at or below it), one without
    # buckets (a row of count and sum only).
    before = pa.table(
        {
            "series_id": pa.array([7, 7], pa.uint64()),
            "bs": pa.array([[1.0], []], pa.list_(pa.float64())),
            "c": [8.0, 2.0],
            "v": [90.0, 10.0],
            "m": pa.array([[4.0], []], pa.list_(pa.float64())),
        }
    )
    rows = pa.table(
        {
            "series_id": pa.array([7, 7, 7], pa.uint64()),
            "t": pa.array([1000, 2000, 2000], pa.int64()),
            "count": [3.0, 2.0, 1.0],
            "value": [6.0, float("nan"), 1.5],
            # row 1: bounds [1]; rows 2 and 3: bounds [1, 2] (cumulative counts per row)
            "bounds": pa.array([[1.0], [1.0, 2.0], [1.0, 2.0]], pa.list_(pa.float64())),
            "cum": pa.array([[1, 3], [0, 1, 2], [1, 1, 1]], pa.list_(pa.uint64())),
        }
    )
    out = [(s.times.tolist(), s.values.tolist()) for s in _samples(virtual, before, rows)]
    assert out[0] == ([1000, 2000], [13.0, 16.0])  # _count: 10 + 3, then + 2 + 1
    assert out[1] == ([1000, 2000], [106.0, 107.5])  # _sum: the NaN row adds nothing
    assert out[2] == ([1000, 2000], [5.0, 6.0])  # le=1: 4 + 1, then + 0 + 1
    # le=2: row 1 (bounds [1]) adds its count at 1; so does the layout before the read
    assert out[3] == ([1000, 2000], [5.0, 7.0])
    assert out[4] == ([1000, 2000], [13.0, 16.0])  # +Inf: the count


def test_a_stored_series_named_like_a_virtual_one_wins(vigil: InProcessVigil) -> None:
    """An OTLP service sends histogram ``x`` and, under the names of its virtual series,
    gauges: ``x_count`` and ``x_bucket{le="1"}`` with the histogram's very labels (they
    clash: the stored series is listed and read, once; the virtual one is not made) and
    ``x_sum`` with other labels (no clash: both)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA

    service = f"svc-{uuid.uuid4().hex[:8]}"
    now = time.time_ns()
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    scope = rm.scope_metrics.add()
    hist = scope.metrics.add()
    hist.name = "x"
    hist.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
    point = hist.histogram.data_points.add()
    point.start_time_unix_nano, point.time_unix_nano = now - 10**9, now
    point.explicit_bounds.extend([1.0, 2.0])
    point.bucket_counts.extend([1, 2, 0])
    point.count, point.sum = 3, 5.0
    a = point.attributes.add()
    a.key, a.value.string_value = "route", "/a"
    for name, value, labels in [
        ("x_count", 42.0, {"route": "/a"}),
        ("x_bucket", 7.0, {"route": "/a", "le": "1"}),
        ("x_sum", 9.0, {"route": "/b"}),
    ]:
        gauge = scope.metrics.add()
        gauge.name = name
        gp = gauge.gauge.data_points.add()
        gp.time_unix_nano, gp.as_double = now, value
        for k, v in labels.items():
            a = gp.attributes.add()
            a.key, a.value.string_value = k, v
    response = httpx.post(
        f"{vigil.otlp_http_url}/v1/metrics",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text

    ns = f'cloudwatch_namespace="{service}"'
    at = now / 1e9 + 1
    with _client(vigil) as http:
        _wait(http, f"x_count{{{ns}}}")

        def read(query: str) -> list[tuple[str, str, str, float]]:
            body = http.get("/query", params={"query": query, "time": at}).json()
            assert body["status"] == "success", body
            return sorted(
                (
                    r["metric"]["__name__"],
                    r["metric"].get("route", ""),
                    r["metric"].get("le", ""),
                    float(r["value"][1]),
                )
                for r in body["data"]["result"]
            )

        assert read(f"x_count{{{ns}}}") == [("x_count", "/a", "", 42.0)]
        assert read(f"x_sum{{{ns}}}") == [("x_sum", "/a", "", 5.0), ("x_sum", "/b", "", 9.0)]
        assert read(f"x_bucket{{{ns}}}") == [
            ("x_bucket", "/a", "+Inf", 3.0),
            ("x_bucket", "/a", "1", 7.0),
            ("x_bucket", "/a", "2", 3.0),
        ]
        every = read(f'{{__name__=~"x.*",{ns}}}')
        assert len(every) == len({e[:3] for e in every}) == 7

        # Over a range too: one x_count series, the gauge's.
        body = http.get(
            "/query_range",
            params={"query": f"x_count{{{ns}}}", "start": at - 60, "end": at, "step": 15},
        ).json()
        (only,) = body["data"]["result"]
        assert {float(v) for _, v in only["values"]} == {42.0}

        series = http.get("/series", params={"match[]": f"{{{ns}}}"}).json()["data"]
        keys = [tuple(sorted(s.items())) for s in series]
        assert len(keys) == len(set(keys)) == 7
        names = http.get("/label/__name__/values", params={"match[]": f"{{{ns}}}"}).json()
        assert names["data"] == ["x", "x_bucket", "x_count", "x_sum"]
