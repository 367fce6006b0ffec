"""The remote-write receiver (``/prometheus/api/v1/write``) over real HTTP: 1.0 and 2.0
requests built from the protobuf messages (``vigil.ingest.prom.proto``), negotiation,
the spec's answers and headers, bad input, and what lands in the metrics model (read
back through ``/api/v1/metrics/series``, ``GetMetricData`` and the metadata reader)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import cramjam
import httpx
import pytest

from tests.runtime import InProcessVigil
from tests.vigil_process import ServedAddresses, VigilProcess
from vigil.ingest.prom import proto
from vigil.ingest.prom.handler import HEADER_EXEMPLARS, HEADER_HISTOGRAMS, HEADER_SAMPLES
from vigil.server import Runtime
from vigil.store.prometheus import read_metadata

V1_TYPE = "application/x-protobuf"
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
STALE_NAN = 0x7FF0000000000002


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    server = InProcessVigil(
        tmp_path_factory.mktemp("rw") / "data", "--no-self-metrics", "--max-body-bytes", "200000"
    ).start()
    yield server
    server.stop()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _post(
    vigil: ServedAddresses, body: bytes, ctype: str = V1_TYPE, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=cramjam.snappy.compress_raw(body).read() if body is not None else b"",
        headers={
            "Content-Type": ctype,
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "2.0.0" if "v2" in ctype else "0.1.0",
            **headers,
        },
        timeout=30,
    )


def _series(vigil: ServedAddresses, name: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{vigil.url}/api/v1/metrics/series",
        params={"namespace": "prometheus", "name": name},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["series"], key=lambda s: sorted(s["dimensions"].items()))


def _points(vigil: InProcessVigil, name: str) -> list[tuple[int, float, dict[str, str]]]:
    async def read(runtime: Runtime) -> list[tuple[int, float, dict[str, str]]]:
        assert runtime.core is not None
        rows = await runtime.core.store.query(
            "SELECT toUnixTimestamp64Milli(timestamp), value, dimensions FROM metrics"
            " WHERE namespace = 'prometheus' AND name = {n:String} ORDER BY timestamp, value",
            {"n": name},
        )
        return [(int(t), float(v), dict(d)) for t, v, d in rows.rows]

    return vigil.call(read)


def test_v1_samples_land_as_namespace_prometheus_with_labels_as_dimensions(
    vigil: InProcessVigil,
) -> None:
    t = _now_ms() - 60_000
    req = proto.WriteRequest()
    for instance, base in (("a:9100", 10.0), ("b:9100", 20.0)):
        ts = req.timeseries.add()
        for k, v in (("__name__", "rw1_requests_total"), ("instance", instance), ("job", "node")):
            ts.labels.add(name=k, value=v)
        for i in range(3):
            ts.samples.add(value=base + i, timestamp=t + i * 15_000)
    md = req.metadata.add(
        metric_family_name="rw1_requests_total", help="Requests.", unit="", type=1
    )
    assert md.type == 1
    answer = _post(vigil, req.SerializeToString())
    assert answer.status_code == 204, answer.text
    assert HEADER_SAMPLES not in answer.headers  # 1.0 answers carry no 2.0 headers
    series = _series(vigil, "rw1_requests_total")
    assert [s["dimensions"] for s in series] == [
        {"instance": "a:9100", "job": "node"},
        {"instance": "b:9100", "job": "node"},
    ]
    points = _points(vigil, "rw1_requests_total")
    # Counters are stored raw (cumulative, as sent).
    assert [(p[0], p[1]) for p in points if p[2]["instance"] == "a:9100"] == [
        (t, 10.0),
        (t + 15_000, 11.0),
        (t + 30_000, 12.0),
    ]
    meta = vigil.call(lambda r: read_metadata(r.core.store, "default", "rw1_requests_total"))  # type: ignore[union-attr]
    assert meta == {"rw1_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}]}

    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "prometheus",
                        "MetricName": "rw1_requests_total",
                        "Dimensions": [
                            {"Name": "instance", "Value": "b:9100"},
                            {"Name": "job", "Value": "node"},
                        ],
                    },
                    "Period": 300,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=(t - 600_000) / 1000,
        EndTime=(t + 600_000) / 1000,
    )
    assert result["MetricDataResults"][0]["Values"] == [22.0]
    cw.close()


def test_v2_symbols_metadata_exemplars_and_written_headers(vigil: InProcessVigil) -> None:
    t = _now_ms() - 30_000
    symbols = ["", "__name__", "rw2_latency_seconds", "job", "api", "Latency.", "seconds"]
    symbols += ["trace_id", "abc123", "rw2_temp", "A gauge."]
    req = proto.RequestV2(symbols=symbols)
    gauge = req.timeseries.add(labels_refs=[1, 9, 3, 4])
    gauge.samples.add(value=21.5, timestamp=t)
    gauge.samples.add(value=float("nan"), timestamp=t + 1000)  # NaN: skipped, not stored
    gauge.metadata.type = 2
    gauge.metadata.help_ref = 10
    hist = req.timeseries.add(labels_refs=[1, 2, 3, 4])
    h = hist.histograms.add(count_int=6, sum=3.5, schema=0, zero_threshold=1e-128, timestamp=t)
    h.zero_count_int = 1
    h.positive_spans.add(offset=0, length=2)  # buckets (0.5, 1] and (1, 2]
    h.positive_deltas.extend([2, 1])  # counts 2 and 3
    hist.metadata.type = 3
    hist.metadata.help_ref = 5
    hist.metadata.unit_ref = 6
    ex = hist.exemplars.add(labels_refs=[7, 8], value=0.7, timestamp=t)
    assert ex.value == 0.7
    answer = _post(vigil, req.SerializeToString(), V2_TYPE)
    assert answer.status_code == 204, answer.text
    assert answer.headers[HEADER_SAMPLES] == "1"
    assert answer.headers[HEADER_HISTOGRAMS] == "1"
    assert answer.headers[HEADER_EXEMPLARS] == "1"
    assert [(p[1], p[2]) for p in _points(vigil, "rw2_temp")] == [(21.5, {"job": "api"})]
    buckets = {p[2]["le"]: p[1] for p in _points(vigil, "rw2_latency_seconds_bucket")}
    assert buckets == {"1e-128": 1.0, "1": 3.0, "2": 6.0, "+Inf": 6.0}
    assert [p[1] for p in _points(vigil, "rw2_latency_seconds_count")] == [6.0]
    assert [p[1] for p in _points(vigil, "rw2_latency_seconds_sum")] == [3.5]
    meta = vigil.call(lambda r: read_metadata(r.core.store, "default"))  # type: ignore[union-attr]
    assert meta["rw2_latency_seconds"] == [
        {"type": "histogram", "help": "Latency.", "unit": "seconds"}
    ]
    assert meta["rw2_temp"] == [{"type": "gauge", "help": "A gauge.", "unit": ""}]

    async def exemplars(runtime: Runtime) -> list[tuple[Any, ...]]:
        assert runtime.core is not None
        rows = await runtime.core.store.query(
            "SELECT name, dimensions, labels, value FROM prom_exemplars"
        )
        return [tuple(r) for r in rows.rows]

    assert vigil.call(exemplars) == [
        ("rw2_latency_seconds", {"job": "api"}, {"trace_id": "abc123"}, 0.7)
    ]


def test_v2_as_prometheus_sends_it_takes_the_native_decoder(vigil: InProcessVigil) -> None:
    """Prometheus ≥ 2.54's 2.0 shape (one series per sample, interned symbols, metadata
    on every series): decoded natively, stored, metadata per family, the spec's headers;
    one sample out of the window sends the whole request to the reference, which stores
    the rest and answers 400 with the same headers."""
    from vigil.ingest.prom.remote_write import NATIVE_V2

    t = _now_ms() - 5_000
    symbols = ["", "__name__", "rw2n_bytes", "rw2n_total", "instance", "a:1", "b:1"]
    symbols += ["Bytes in use.", "bytes", "Requests served."]
    req = proto.RequestV2(symbols=symbols)
    for name, instance, value, mtype, help_ref, unit_ref in (
        (2, 5, 10.0, 2, 7, 8),
        (2, 6, 20.0, 2, 7, 8),
        (3, 5, 7.0, 1, 9, 0),
        (3, 6, float("nan"), 1, 9, 0),  # a stale marker: skipped, not counted
    ):
        ts = req.timeseries.add(labels_refs=[1, name, 4, instance])
        ts.samples.add(value=value, timestamp=t)
        ts.metadata.type = mtype
        ts.metadata.help_ref = help_ref
        ts.metadata.unit_ref = unit_ref
    body = req.SerializeToString()
    assert NATIVE_V2 is not None
    assert NATIVE_V2(body, "default", time.time_ns()) is not None
    answer = _post(vigil, body, V2_TYPE)
    assert answer.status_code == 204, answer.text
    assert answer.headers[HEADER_SAMPLES] == "3"
    assert answer.headers[HEADER_HISTOGRAMS] == "0"
    assert answer.headers[HEADER_EXEMPLARS] == "0"
    assert [(p[1], p[2]) for p in _points(vigil, "rw2n_bytes")] == [
        (10.0, {"instance": "a:1"}),
        (20.0, {"instance": "b:1"}),
    ]
    assert [p[1] for p in _points(vigil, "rw2n_total")] == [7.0]
    meta = vigil.call(lambda r: read_metadata(r.core.store, "default"))  # type: ignore[union-attr]
    assert meta["rw2n_bytes"] == [{"type": "gauge", "help": "Bytes in use.", "unit": "bytes"}]
    assert meta["rw2n_total"] == [{"type": "counter", "help": "Requests served.", "unit": ""}]
    late = req.timeseries.add(labels_refs=[1, 3, 4, 6])
    late.samples.add(value=8.0, timestamp=t - 30 * 86400 * 1000)
    body = req.SerializeToString()
    assert NATIVE_V2(body, "default", time.time_ns()) is None
    answer = _post(vigil, body, V2_TYPE)
    assert answer.status_code == 400
    assert "past 14 days" in answer.text
    assert answer.headers[HEADER_SAMPLES] == "3"


def test_stale_markers_are_skipped_and_bad_series_refused_after_storing_the_rest(
    vigil: InProcessVigil,
) -> None:
    import struct

    stale = struct.unpack("<d", struct.pack("<Q", STALE_NAN))[0]
    assert math.isnan(stale)
    t = _now_ms()
    req = proto.WriteRequest()
    good = req.timeseries.add()
    good.labels.add(name="__name__", value="rw_partial")
    good.samples.add(value=1.0, timestamp=t)
    good.samples.add(value=stale, timestamp=t + 1)
    nameless = req.timeseries.add()
    nameless.labels.add(name="job", value="x")
    nameless.samples.add(value=2.0, timestamp=t)
    old = req.timeseries.add()
    old.labels.add(name="__name__", value="rw_partial")
    old.labels.add(name="age", value="old")
    old.samples.add(value=3.0, timestamp=t - 30 * 86400 * 1000)
    answer = _post(vigil, req.SerializeToString())
    assert answer.status_code == 400
    assert "no __name__" in answer.text
    assert "past 14 days" in answer.text
    assert [p[1] for p in _points(vigil, "rw_partial")] == [1.0]


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (b"\x10not snappy at all", {}, 400, "snappy"),
        (None, {"Content-Type": "application/json"}, 415, "content type"),
        (None, {"Content-Type": "application/x-protobuf;proto=foo.Bar"}, 415, "proto message"),
        (None, {"Content-Encoding": "gzip"}, 415, "encoding"),
    ],
)
def test_bad_requests_get_the_specs_codes(
    vigil: InProcessVigil, body: bytes | None, headers: dict[str, str], status: int, text: str
) -> None:
    raw = body if body is not None else cramjam.snappy.compress_raw(b"").read()
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=raw,
        headers={"Content-Type": V1_TYPE, "Content-Encoding": "snappy", **headers},
        timeout=30,
    )
    assert answer.status_code == status, answer.text
    assert text in answer.text


def test_corrupt_snappy_and_bodies_over_the_limit(vigil: InProcessVigil) -> None:
    req = proto.WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="rw_corrupt")
    ts.samples.add(value=1.0, timestamp=_now_ms())
    compressed = bytearray(cramjam.snappy.compress_raw(req.SerializeToString()).read())
    compressed[3] ^= 0xFF  # a flipped byte inside the block
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=bytes(compressed[:-4]),
        headers={"Content-Type": V1_TYPE, "Content-Encoding": "snappy"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    # Over the limit on the wire (200,000 bytes in this server) …
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=b"\x00" * 300_000,
        headers={"Content-Type": V1_TYPE, "Content-Encoding": "snappy"},
        timeout=30,
    )
    assert answer.status_code == 413
    # … and once decompressed: a small body that says it inflates to 2 MB is refused
    # before anything is decompressed.
    big = cramjam.snappy.compress_raw(b"\x00" * 2_000_000).read()
    assert len(big) < 200_000
    answer = httpx.post(
        f"{vigil.url}/prometheus/api/v1/write",
        content=big,
        headers={"Content-Type": V2_TYPE, "Content-Encoding": "snappy"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.headers[HEADER_SAMPLES] == "0"
    # A snappy body that is not the protobuf message.
    answer = _post(vigil, b"\xff\xff\xff garbage", V2_TYPE)
    assert answer.status_code == 400
    assert "io.prometheus.write.v2.Request" in answer.text
    assert _points(vigil, "rw_corrupt") == []


def test_a_full_queue_answers_429_and_stores_nothing(tmp_path: Path) -> None:
    """The writer's back-pressure, as remote-write senders retry it (a process of its own:
    chDB opens one data directory per process, and the module's server holds one)."""
    server = VigilProcess(
        tmp_path / "data",
        "--no-self-metrics",
        "--max-queue-rows",
        "5",
        "--flush-interval-ms",
        "60000",
    ).start()
    try:
        t = _now_ms()

        def request(name: str) -> bytes:
            req = proto.WriteRequest()
            ts = req.timeseries.add()
            ts.labels.add(name="__name__", value=name)
            for i in range(10):
                ts.samples.add(value=float(i), timestamp=t + i)
            return bytes(req.SerializeToString())

        # The first batch fills the queue (taken whole: the queue was empty) and waits
        # there for a minute; the next one is refused.
        assert _post(server, request("rw_first")).status_code == 204
        answer = _post(server, request("rw_full"))
        assert answer.status_code == 429, answer.text
        assert answer.headers["Retry-After"]
        assert [s["name"] for s in _series(server, "rw_first")] == ["rw_first"]
        assert _series(server, "rw_full") == []
    finally:
        assert server.stop() == 0


def _request(*series: tuple[list[tuple[str, str]], list[tuple[float, int]]]) -> bytes:
    req = proto.WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k, v in labels:
            ts.labels.add(name=k, value=v)
        for value, t in samples:
            ts.samples.add(value=value, timestamp=t)
    return bytes(req.SerializeToString())


def test_the_native_decoder_matches_the_reference_or_declines() -> None:
    from vigil.ingest.prom import remote_write
    from vigil.ingest.prom.remote_write import NATIVE, decode_v1_reference

    assert NATIVE is not None, "the native remote-write decoder is not built"
    now = time.time_ns()
    t = now // 1_000_000
    stale = float("nan")
    node = [("__name__", "node_load1"), ("instance", "h:9100"), ("job", "node")]
    same = [
        _request((node, [(0.5, t - 2000), (0.75, t - 1000)])),
        _request((node, [(stale, t)]), ([("__name__", "m"), ("a", ""), ("b", "x")], [(1.0, t)])),
        _request(),
    ]
    for body in same:
        result = NATIVE(body, "default", now)
        assert result is not None
        native = remote_write.decode_v1(body, "default", now).decoded(now)
        reference = decode_v1_reference(body, "default").decoded(now)
        if reference.metrics is None:
            assert native.metrics is None
        else:
            assert native.metrics is not None
            assert native.metrics.to_arrow().equals(reference.metrics.to_arrow())
    declined = [
        _request(([("job", "x"), ("__name__", "m")], [(1.0, t)])),  # unsorted
        _request(([("job", "x")], [(1.0, t)])),  # no __name__
        _request(([("__name__", "m"), ("host", "café")], [(1.0, t)])),  # not ASCII
        _request(([("__name__", "m")], [(1.0, t - 30 * 86400 * 1000)])),  # too old
        b"\x0a\xff\xff",  # truncated
    ]
    for body in declined:
        assert NATIVE(body, "default", now) is None


def test_native_histograms_expand_into_cumulative_classic_buckets() -> None:
    from vigil.ingest.prom.histograms import HistogramError, expand

    # Schema 1 (base √2), integer counts as deltas, negative and positive buckets.
    h = proto.Histogram(count_int=10, sum=-1.5, schema=1, zero_threshold=0.001)
    h.zero_count_int = 2
    h.negative_spans.add(offset=1, length=1)  # bucket 1: (-√2, -1]
    h.negative_deltas.extend([3])
    h.positive_spans.add(offset=0, length=1)  # bucket 0: (1/√2, 1]
    h.positive_spans.add(offset=1, length=1)  # bucket 2: (√2, 2]
    h.positive_deltas.extend([4, -3])  # counts 4 and 1
    count, total, buckets = expand(h)
    assert (count, total) == (10.0, -1.5)
    assert buckets == [("-1", 3.0), ("0.001", 5.0), ("1", 9.0), ("2", 10.0), ("+Inf", 10.0)]
    # Float counts, custom bounds (schema -53: native histograms with custom buckets).
    f = proto.Histogram(count_float=6.0, sum=9.0, schema=-53, custom_values=[0.5, 1.0, 5.0])
    f.positive_spans.add(offset=0, length=2)
    f.positive_spans.add(offset=1, length=1)  # buckets 0, 1 and 3 (the overflow)
    f.positive_counts.extend([1.0, 2.0, 3.0])
    assert expand(f)[2] == [("0.5", 1.0), ("1", 3.0), ("+Inf", 6.0)]
    bad = proto.Histogram(count_int=1, schema=0)
    bad.positive_spans.add(offset=0, length=2)
    bad.positive_deltas.extend([1])
    with pytest.raises(HistogramError, match="do not match"):
        expand(bad)
    with pytest.raises(HistogramError, match="schema 9"):
        expand(proto.Histogram(count_int=0, schema=9))


def test_v2_bad_references_are_refused_by_series(vigil: InProcessVigil) -> None:
    t = _now_ms()
    req = proto.RequestV2(symbols=["", "__name__", "rw2_refs", "job", "a"])
    good = req.timeseries.add(labels_refs=[1, 2, 3, 4])
    good.samples.add(value=5.0, timestamp=t)
    odd = req.timeseries.add(labels_refs=[1, 2, 3])
    odd.samples.add(value=6.0, timestamp=t)
    out_of_range = req.timeseries.add(labels_refs=[1, 2, 3, 99])
    out_of_range.samples.add(value=7.0, timestamp=t)
    answer = _post(vigil, req.SerializeToString(), V2_TYPE)
    assert answer.status_code == 400
    assert "odd length" in answer.text
    assert "out of range" in answer.text
    assert answer.headers[HEADER_SAMPLES] == "1"  # the valid series was written
    assert [p[1] for p in _points(vigil, "rw2_refs")] == [5.0]
    # A symbol table that does not start with "" is unusable: nothing is stored.
    bad = proto.RequestV2(symbols=["__name__", "rw2_nothing"])
    bad.timeseries.add(labels_refs=[0, 1]).samples.add(value=1.0, timestamp=t)
    answer = _post(vigil, bad.SerializeToString(), V2_TYPE)
    assert answer.status_code == 400
    assert "symbols[0]" in answer.text
    assert answer.headers[HEADER_SAMPLES] == "0"
