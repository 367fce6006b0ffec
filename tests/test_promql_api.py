"""The PromQL HTTP API at /prometheus/api/v1: Grafana's Prometheus data-source requests
replayed (tests/fixtures/grafana_prometheus.json), bad input in Prometheus' error shapes,
the sample limit, the mapping of non-Prometheus metrics, staleness."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.runtime import InProcessVigil
from vigil.api.prometheus import PrometheusApi
from vigil.model.metrics import MetricColumns, PointKind
from vigil.pillar import Core, Pillar
from vigil.query import promql
from vigil.query.promql.names import labels_of
from vigil.query.promql.values import STALE_NAN_BITS, Samples
from vigil.server import PILLARS

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "grafana_prometheus.json").read_text())
T0 = int(time.time()) // 3600 * 3600 - 3 * 3600
MAX_SAMPLES = 5_000
ODD_NAME = "2xx.count/s"
ODD_DIMS = {"1abc": "v", "a-b.c": "w", "ok_name": "x", "empty": ""}


def _limited(core: Core) -> Pillar:
    api = PrometheusApi(core.store, clock=core.clock, limits=promql.Limits(max_samples=MAX_SAMPLES))
    return Pillar(name="promql", routes=api.routes())


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessVigil]:
    pillars = [p for p in PILLARS if p.__module__ != "vigil.pillars.promql"] + [_limited]
    v = InProcessVigil(tmp_path_factory.mktemp("promql-api"), pillars=pillars).start()
    cols = MetricColumns()
    for i in range(240):
        for job, inst, k in (("api", "a", 2.0), ("api", "b", 3.0), ("web", "c", 5.0)):
            cols.add(
                tenant="default",
                namespace="prometheus",
                name="http_requests_total",
                dimensions=[("instance", inst), ("job", job)],
                unit="None",
                timestamp=(T0 + 15 * i) * 10**9,
                kind=PointKind.SAMPLE,
                value=i * k,
                metric_type="counter",
            )
    cols.add(
        tenant="default",
        namespace="AWS/EC2",
        name="CPUUtilization",
        dimensions=[("InstanceId", "i-1"), ("service.name", "web")],
        unit="Percent",
        timestamp=(T0 + 600) * 10**9,
        kind=PointKind.SAMPLE,
        value=42.0,
        metric_type="cloudwatch",
    )
    cols.add(
        tenant="default",
        namespace="otel",
        name="http.server.duration",
        dimensions=[("http.route", "/x")],
        unit="ms",
        timestamp=(T0 + 600) * 10**9,
        kind=PointKind.SAMPLE,
        value=7.0,
        metric_type="gauge",
    )

    cols.add(
        tenant="default",
        namespace="otel",
        name=ODD_NAME,
        dimensions=sorted(ODD_DIMS.items()),
        unit="None",
        timestamp=(T0 + 600) * 10**9,
        kind=PointKind.SAMPLE,
        value=1.0,
        metric_type="gauge",
    )
    # An OTLP histogram: 10 bounds, one delta row a minute for 10 hours (11 _bucket series).
    for i in range(600):
        cols.add(
            tenant="default",
            namespace="shop",
            name="rpc.latency",
            dimensions=[],
            unit="Milliseconds",
            timestamp=(T0 - 7 * 3600 + 60 * i) * 10**9,
            kind=PointKind.HISTOGRAM,
            value=55.0,
            count=11.0,
            min=float("nan"),
            max=float("nan"),
            bounds=[float(b) for b in range(1, 11)],
            buckets=[1] * 11,
            metric_type="histogram",
        )

    async def write(runtime: Any) -> None:
        await runtime.core.writer.write({"metrics": cols.to_arrow()})

    v.call(write)
    yield v
    v.stop()


@pytest.fixture
def client(vigil: InProcessVigil) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vigil.url + "/prometheus", timeout=60) as c:
        yield c


def _fill(params: dict[str, str]) -> dict[str, str]:
    start = T0 - T0 % 60
    times = {"START": str(start), "END": str(start + 3600), "NOW": str(T0 + 3600)}
    return {k: times.get(v, v) for k, v in params.items()}


@pytest.mark.parametrize("req", FIXTURES["requests"], ids=[r["name"] for r in FIXTURES["requests"]])
def test_grafana_request(client: httpx.Client, req: dict[str, Any]) -> None:
    if req["method"] == "POST":
        r = client.post(req["path"], data=_fill(req["form"]))
    else:
        r = client.get(req["path"], params=_fill(req["query"]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "success"
    data = body["data"]
    if "resultType" in req:
        assert data["resultType"] == req["resultType"]
        if req["resultType"] in ("matrix", "vector"):
            assert data["result"], "Grafana would chart nothing"
            for series in data["result"]:
                assert isinstance(series["metric"], dict)
                points = series.get("values") or [series["value"]]
                assert all(isinstance(t, (int, float)) and isinstance(v, str) for t, v in points)
    if req.get("data") == "list":
        assert isinstance(data, list)
        assert data
    if req.get("data") == "object":
        assert isinstance(data, dict)
    if "contains" in req:
        assert req["contains"] in data


def test_range_points_are_step_aligned(client: httpx.Client) -> None:
    start = T0 - T0 % 60
    r = client.post(
        "/api/v1/query_range",
        data={"query": "http_requests_total", "start": start, "end": start + 600, "step": 60},
    )
    values = r.json()["data"]["result"][0]["values"]
    assert [t for t, _ in values] == list(range(start, start + 601, 60))


def test_syntax_error_has_prometheus_shape_and_position(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "sum(rate(x[5m]) by (job"})
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert body["error"].startswith("1:")
    assert "parse error" in body["error"]
    r = client.get("/api/v1/query", params={"query": "foo{job="})
    assert r.json()["error"].startswith("1:9: parse error:")


def test_unknown_function(client: httpx.Client) -> None:
    r = client.post("/api/v1/query", data={"query": "rate(x[5m]) + nosuch(y)"})
    assert r.status_code == 400
    assert r.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": '1:15: parse error: unknown function with name "nosuch"',
    }


def test_over_the_sample_limit_is_refused(client: httpx.Client) -> None:
    # 720 stored samples fit; a range query of 3 series x 3,601 steps does not.
    start = T0
    r = client.post(
        "/api/v1/query_range",
        data={"query": "http_requests_total", "start": start, "end": start + 3600, "step": 1},
    )
    assert r.status_code == 422
    assert r.json()["errorType"] == "execution"
    assert "too many samples" in r.json()["error"]
    # The same data at a coarser step is answered.
    r = client.post(
        "/api/v1/query_range",
        data={"query": "http_requests_total", "start": start, "end": start + 3600, "step": 60},
    )
    assert r.status_code == 200


def test_histogram_series_count_against_the_sample_limit(client: httpx.Client) -> None:
    # 600 rows of one OTLP histogram: its _count fits (600 samples), its 11 _bucket series
    # (6,600 samples) do not, and are refused before they are computed in full.
    at = T0 + 3 * 3600
    r = client.get("/api/v1/query", params={"query": "rpc_latency_count[10h]", "time": at})
    assert r.status_code == 200
    assert len(r.json()["data"]["result"][0]["values"]) == 600
    assert r.json()["data"]["result"][0]["values"][-1][1] == str(600 * 11)
    r = client.get("/api/v1/query", params={"query": "rpc_latency_bucket[10h]", "time": at})
    assert r.status_code == 422
    assert "too many samples" in r.json()["error"]


def test_bad_parameters(client: httpx.Client) -> None:
    r = client.get(
        "/api/v1/query_range", params={"query": "up", "start": "x", "end": "1", "step": "1"}
    )
    assert r.status_code == 400
    assert r.json()["error"] == 'invalid parameter "start": cannot parse "x" to a valid timestamp'
    r = client.get(
        "/api/v1/query_range", params={"query": "up", "start": 0, "end": 100000, "step": 1}
    )
    assert r.status_code == 400
    assert "11,000 points" in r.json()["error"]
    r = client.get("/api/v1/query", params={})
    assert r.status_code == 400
    r = client.get("/api/v1/series", params={})
    assert r.json()["error"] == "no match[] parameter provided"
    r = client.get("/api/v1/label/bad-name/values")
    assert r.status_code == 400


def test_every_stored_metric_is_visible_with_translated_names(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "CPUUtilization", "time": T0 + 700})
    [series] = r.json()["data"]["result"]
    assert series["metric"] == {
        "__name__": "CPUUtilization",
        "InstanceId": "i-1",
        "cloudwatch_namespace": "AWS/EC2",
        "service_name": "web",
    }
    r = client.get(
        "/api/v1/query",
        params={"query": 'http_server_duration{http_route="/x"}', "time": T0 + 700},
    )
    [series] = r.json()["data"]["result"]
    assert series["metric"]["cloudwatch_namespace"] == "otel"
    assert series["value"][1] == "7"
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert {"CPUUtilization", "http_server_duration", "http_requests_total"} <= set(names)


def test_sql_and_python_mappings_agree(client: httpx.Client) -> None:
    # The matchers run in SQL on names.labels_sql; labels shown are names.labels_of.
    want = dict(labels_of("otel", ODD_NAME, ODD_DIMS))
    assert want == {
        "__name__": "_2xx_count_s",
        "_1abc": "v",
        "a_b_c": "w",
        "ok_name": "x",
        "cloudwatch_namespace": "otel",
    }
    r = client.get("/api/v1/series", params={"match[]": '{_1abc="v",a_b_c=~"w",empty=""}'})
    assert r.json()["data"] == [want]
    r = client.get("/api/v1/query", params={"query": "_2xx_count_s", "time": T0 + 700})
    assert r.json()["data"]["result"][0]["metric"] == want


def _stale() -> float:
    return float(np.array([STALE_NAN_BITS], dtype=np.int64).view(np.float64)[0])


def test_staleness_marker_ends_a_series_before_the_lookback() -> None:
    # Pure evaluator: samples at 0, 15, 30 s, then a staleness marker at 45 s.
    times = np.array([0, 15_000, 30_000, 45_000], dtype=np.int64)
    values = np.array([1.0, 2.0, 3.0, _stale()])
    labels = (("__name__", "x"),)

    def fetch(matchers: Any, start: int, end: int) -> list[Samples]:
        return [Samples(labels, times, values)]

    def at(t: int, q: str = "x") -> list[Any]:
        return promql.instant(q, t, fetch)["result"]  # type: ignore[no-any-return]

    assert at(40_000)[0]["value"][1] == "3"
    assert at(45_000) == []
    assert at(200_000) == []
    # Range functions drop the marker and keep the samples before it.
    assert at(60_000, "count_over_time(x[1m])")[0]["value"][1] == "3"
    # Without a marker, the lookback (5 minutes) decides.
    values[3] = 4.0
    assert at(45_000 + 300_000)[0]["value"][1] == "4"
    assert at(45_000 + 300_001) == []
    assert not math.isnan(values[0])


# Hostile input found by the PromQL fuzz probe (issue 18): each was a 500, or killed the
# process (the first three: the parser's native recursion overflowed its thread's stack).
@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("(" * 20000 + "up" + ")" * 20000, "1:101: parse error: expression nested deeper than 100"),
        ("-" * 9000 + "up", "1:251: parse error: more than 250 operators"),
        ("+".join(["1"] * 5000), "1:502: parse error: more than 250 operators"),
        ("up @ 1700000000000000000000000000", "the @ modifier's time is out of range"),
    ],
)
def test_queries_too_deep_or_out_of_range_are_refused(
    client: httpx.Client, query: str, error: str
) -> None:
    r = client.post("/api/v1/query", data={"query": query, "time": T0})
    assert r.status_code == 400, r.text
    assert r.json()["errorType"] == "bad_data"
    assert r.json()["error"].startswith(error)
    # The process is alive and answers the next query.
    assert client.get("/api/v1/query", params={"query": "1", "time": T0}).status_code == 200


def test_hostile_times_steps_and_timeouts_are_bad_data(client: httpx.Client) -> None:
    hostile: list[dict[str, str | int]] = [
        {"query": "up", "time": "1e20"},
        {"query": "up", "time": T0, "timeout": "0"},
        {"query": "up", "time": T0, "timeout": "0s"},
    ]
    for params in hostile:
        r = client.get("/api/v1/query", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["errorType"] == "bad_data"
    r = client.get(
        "/api/v1/query_range",
        params={"query": "up", "start": T0, "end": T0 + 60, "step": "9999999999y"},
    )
    assert r.status_code == 400, r.text
    # A subquery whose inner grid would be 31.5 G steps is refused before it is built.
    r = client.get("/api/v1/query", params={"query": "max_over_time(up[1y:1ms])", "time": T0})
    assert r.status_code == 422, r.text
    assert r.json()["errorType"] == "execution"
