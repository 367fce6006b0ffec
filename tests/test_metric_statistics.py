"""Statistic names, the distribution statistics, the sketch's error bound, SEARCH syntax and
the PutMetricData decoder's rules (pure code, no server)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ingest.cloudwatch_metrics import InvalidMetricData, decode_put_metric_data
from vigil.model.sketch import ALPHA, key_of, values_of
from vigil.query.metrics.search import Candidate, SearchError, parse_search
from vigil.query.metrics.statistics import StatisticError, distribution_value, parse_statistic


@pytest.mark.parametrize(
    ("name", "kind", "q", "lower", "upper", "percent"),
    [
        ("p99", "percentile", 0.99, None, None, False),
        ("p99.99", "percentile", 0.9999, None, None, False),
        ("p0", "percentile", 0.0, None, None, False),
        ("tm90", "TM", 0, None, 0.9, True),
        ("TM(10%:90%)", "TM", 0, 0.1, 0.9, True),
        ("tm(:95%)", "TM", 0, None, 0.95, True),
        ("TM(150:1000)", "TM", 0, 150.0, 1000.0, False),
        ("WM(5%:)", "WM", 0, 0.05, None, True),
        ("IQM", "TM", 0, 0.25, 0.75, True),
        ("tc99", "TC", 0, None, 0.99, True),
        ("TS(:500)", "TS", 0, None, 500.0, False),
        ("PR(100:2000)", "PR", 0, 100.0, 2000.0, False),
    ],
)
def test_statistic_names(
    name: str, kind: str, q: float, lower: float | None, upper: float | None, percent: bool
) -> None:
    stat = parse_statistic(name)
    assert (stat.kind, stat.q, stat.lower, stat.upper, stat.percent) == (
        kind,
        q,
        lower,
        upper,
        percent,
    )


@pytest.mark.parametrize(
    "name",
    ["p101", "p99.999", "Median", "TM(10%:90)", "PR(10%:20%)", "TM(:)", "TM(90%:10%)", "p", ""],
)
def test_bad_statistic_names(name: str) -> None:
    with pytest.raises(StatisticError):
        parse_statistic(name)


def _dist(name: str, values: list[float], weights: list[float] | None = None) -> float | None:
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    return distribution_value(parse_statistic(name), np.asarray(values, dtype=np.float64), w)


def test_distribution_statistics_use_weights() -> None:
    assert _dist("p50", [1, 2, 3], [1, 1, 5]) == 3
    assert _dist("p25", [1, 2, 3], [2, 1, 1]) == 1
    assert _dist("TC(1:3)", [1, 2, 3], [2, 1, 4]) == 5
    assert _dist("PR(:1)", [1, 2], [3, 1]) == 75
    assert _dist("p50", [], []) is None
    assert _dist("TM(5:6)", [1, 2]) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0, max_value=1),
)
def test_sketch_percentiles_are_within_one_percent(values: list[float], q: float) -> None:
    exact = _dist(f"p{round(q * 100, 2)}", values)
    keys = np.array([key_of(v) for v in values], dtype=np.int64)
    approx = distribution_value(
        parse_statistic(f"p{round(q * 100, 2)}"), values_of(keys), np.ones(len(values))
    )
    assert exact is not None
    assert approx is not None
    assert math.isclose(approx, exact, rel_tol=ALPHA + 1e-9, abs_tol=1e-300)


def test_search_expressions() -> None:
    a = Candidate("AWS/EC2", "CPUUtilization", {"InstanceId": "i-1", "Type": "t3"})
    b = Candidate("AWS/EC2", "CPUUtilization", {"InstanceId": "i-2"})
    c = Candidate("App", "Latency", {"Host": "web-1"})

    def matches(text: str) -> list[Candidate]:
        return [x for x in (a, b, c) if parse_search(text).matches(x)]

    assert matches('{AWS/EC2,InstanceId} MetricName="CPUUtilization"') == [b]
    assert matches('{"AWS/EC2",InstanceId,Type} cpu') == [a]
    assert matches("InstanceId=i-1 OR Host=web-1") == [a, c]
    assert matches("NOT CPUUtilization") == [c]
    assert matches('"web" (Latency OR Errors)') == [c]
    assert matches("") == [a, b, c]
    for bad in ("{AWS/EC2", "MetricName=", "(cpu", "cpu )"):
        with pytest.raises(SearchError):
            parse_search(bad)


def _put(datum: dict[str, object], now: datetime) -> None:
    decode_put_metric_data(
        {"Namespace": "App", "MetricData": [datum]}, "t", int(now.timestamp() * 1e9)
    )


def test_decoder_rules() -> None:
    now = datetime(2027, 1, 15, tzinfo=UTC)
    cols = decode_put_metric_data(
        {
            "Namespace": "App",
            "MetricData": [
                {
                    "MetricName": "x",
                    "Values": [1.0, 2.0, 3.0],
                    "Counts": [1.0, 0.0, 2.0],
                    "Dimensions": [{"Name": "b", "Value": "2"}, {"Name": "a", "Value": "1"}],
                    "StorageResolution": 1,
                    "Timestamp": now - timedelta(minutes=1),
                }
            ],
        },
        "t",
        int(now.timestamp() * 1e9),
    )
    assert cols.value == [1.0, 3.0]  # a zero count stores nothing
    assert cols.count == [1.0, 2.0]
    assert cols.dimensions[0] == [("a", "1"), ("b", "2")]
    assert cols.resolution == [1, 1]
    assert cols.metric_type == ["cloudwatch", "cloudwatch"]
    refusals: list[tuple[dict[str, object], str]] = [
        ({"MetricName": "x", "Value": 2.0**361}, "out of range"),
        ({"MetricName": " ", "Value": 1.0}, "non-whitespace"),
        (
            {
                "MetricName": "x",
                "Value": 1.0,
                "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}],
            },
            "appears twice",
        ),
        ({"MetricName": "x", "Value": 1.0, "Dimensions": [{"Name": "a", "Value": "é"}]}, "ASCII"),
        ({"MetricName": "x", "Values": [1.0] * 151}, "150"),
        ({"MetricName": "x", "Values": [1.0], "Counts": [-1.0]}, "negative"),
        (
            {
                "MetricName": "x",
                "StatisticValues": {"SampleCount": 0, "Sum": 0, "Minimum": 0, "Maximum": 0},
            },
            "SampleCount",
        ),
    ]
    for datum, text in refusals:
        with pytest.raises(InvalidMetricData) as err:
            _put(datum, now)
        assert text in err.value.message, datum
    with pytest.raises(InvalidMetricData) as err:
        decode_put_metric_data(
            {"Namespace": "App", "MetricData": [{"MetricName": "x", "Value": 1.0}] * 1001},
            "t",
            int(now.timestamp() * 1e9),
        )
    assert "1000" in err.value.message


def test_retention_ladder() -> None:
    from vigil.store.retention import MetricRetention, parse_retention

    assert parse_retention("") == MetricRetention()
    assert parse_retention("raw=1h,1h=10w") == MetricRetention(raw=3600, hour=70 * 86400)
    assert MetricRetention().capped(30 * 86400) == MetricRetention(
        raw=3 * 3600, minute=15 * 86400, five_minutes=30 * 86400, hour=30 * 86400
    )
    for bad in ("raw=3x", "2m=1d", "5m=0d", "1m=70d", "raw"):
        with pytest.raises(ValueError, match=r"LEVEL=DURATION|positive|coarser"):
            parse_retention(bad)
