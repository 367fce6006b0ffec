"""The pure metric-alarm evaluator: CloudWatch's documented missing-data tables, M of N,
reasons and reason data (no store: the query is a function over a list of marks)."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from vigil.rules.alarms.evaluate import decide, evaluate, evaluation_window
from vigil.rules.alarms.interface import Datapoints, Window
from vigil.rules.alarms.model import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmState,
    MetricAlarm,
    MetricRef,
)
from vigil.rules.alarms.reasons import java_double

RETAIN = "retain"
T0 = 1_796_601_600  # 2026-12-07 00:00:00 UTC

# CloudWatch's tables (AlarmThatSendsEmail, "How alarm state is evaluated when data is
# missing"): oldest point first; columns missing, ignore, breaching, notBreaching.
TABLE_3_OF_3 = [
    ("0-X-X", OK, OK, OK, OK),
    ("0----", OK, OK, OK, OK),
    ("-----", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0XX-X", ALARM, ALARM, ALARM, ALARM),
    ("--X--", ALARM, RETAIN, ALARM, OK),
    # the older edition's rows
    ("----X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("X----", ALARM, RETAIN, ALARM, OK),
]
TABLE_2_OF_3 = [
    ("0-X-X", ALARM, ALARM, ALARM, ALARM),
    ("00X0X", ALARM, ALARM, ALARM, ALARM),
    ("0-X--", OK, OK, ALARM, OK),
    ("----0", OK, OK, ALARM, OK),
    ("---X-", ALARM, RETAIN, ALARM, OK),
    ("----X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]
TREATS = ("missing", "ignore", "breaching", "notBreaching")


def _cases() -> list[tuple[str, int, str, str]]:
    out = []
    for m, table in ((3, TABLE_3_OF_3), (2, TABLE_2_OF_3)):
        for marks, *states in table:
            for treat, state in zip(TREATS, states, strict=True):
                out.append((marks, m, treat, state))
    return out


@pytest.mark.parametrize(("marks", "m", "treat", "expected"), _cases())
def test_documented_missing_data_tables(marks: str, m: int, treat: str, expected: str) -> None:
    outcome = decide(list(marks), 3, m, treat)
    assert (outcome.state or RETAIN) == expected


def _alarm(**kw: object) -> MetricAlarm:
    base: dict[str, object] = {
        "tenant": "t",
        "name": "a",
        "arn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a",
        "period": 60,
        "evaluation_periods": 3,
        "comparison": "GreaterThanThreshold",
        "threshold": 10.0,
        "metric": MetricRef("ns", "m"),
        "statistic": "Average",
    }
    base.update(kw)
    return MetricAlarm(**base)  # type: ignore[arg-type]


def _query(values: list[float], samples: list[float] | None = None):
    def query(alarm: MetricAlarm, window: Window) -> Datapoints:
        assert window.count == len(values)
        return Datapoints(
            window.stamps(),
            np.array(values, dtype=float),
            None if samples is None else np.array(samples, dtype=float),
        )

    return query


def test_reason_and_reason_data_in_cloudwatch_words() -> None:
    alarm = _alarm(datapoints_to_alarm=2, alarm_actions=("arn:aws:sns:us-east-1:0:t",))
    now = T0 + 36_000 + 5 * 60 + 7  # 10:05:07 → window of 5 minutes ending at 10:05
    state, events = evaluate(alarm, AlarmState(), now, _query([1, math.nan, 5, 12.0, 15.1]))
    assert state.value == ALARM
    assert state.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [15.1 (07/12/26 10:04:00),"
        " 12.0 (07/12/26 10:03:00)] were greater than the threshold (10.0) (minimum 2"
        " datapoints for INSUFFICIENT_DATA -> ALARM transition)."
    )
    data = orjson.loads(state.reason_data or "")
    assert data["version"] == "1.0"
    assert data["queryDate"] == "2026-12-07T10:05:07.000+0000"
    assert data["startDate"] == "2026-12-07T10:02:00.000+0000"
    assert data["statistic"] == "Average"
    assert data["period"] == 60
    assert data["recentDatapoints"] == [1.0, 5.0, 12.0, 15.1]
    assert data["threshold"] == 10.0
    assert [p["value"] for p in data["evaluatedDatapoints"]] == [15.1, 12.0, 5.0]
    [event] = events
    assert (event.old_state, event.new_state) == (INSUFFICIENT_DATA, ALARM)
    assert event.actions == ["arn:aws:sns:us-east-1:0:t"]
    assert event.sns_message()["Trigger"]["Threshold"] == 10.0
    # The same data again: no transition, no event.
    again, events = evaluate(alarm, state, now + 60, _query([math.nan, 5, 12.0, 15.1, 11]))
    assert again is state
    assert events == []


def test_single_datapoint_and_missing_reasons() -> None:
    alarm = _alarm(evaluation_periods=1, comparison="GreaterThanOrEqualToThreshold")
    state, _ = evaluate(alarm, AlarmState(value=ALARM), T0 + 60, _query([1, 2, 3.5]))
    assert state.reason == (
        "Threshold Crossed: 1 datapoint [3.5 (07/12/26 00:00:00)] was not greater than or"
        " equal to the threshold (10.0)."
    )
    alarm = _alarm(treat_missing_data="breaching")
    state, _ = evaluate(alarm, AlarmState(value=OK), T0 + 60, _query([math.nan] * 5))
    assert state.value == ALARM
    assert state.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing"
        " datapoints were treated as [Breaching]."
    )
    state, _ = evaluate(_alarm(), AlarmState(value=OK), T0 + 60, _query([math.nan] * 5))
    assert state.value == INSUFFICIENT_DATA
    assert state.reason == "Insufficient Data: 3 datapoints were unknown."
    # ignore keeps the state, whatever it is
    same, events = evaluate(
        _alarm(treat_missing_data="ignore"), AlarmState(value=ALARM), T0, _query([math.nan] * 5)
    )
    assert same.value == ALARM
    assert events == []


def test_low_sample_percentiles_keep_the_state_when_ignored() -> None:
    values = [20.0] * 5
    thin = [5.0] * 5  # p90 needs 10 / (1 - 0.9) = 100 samples
    alarm = _alarm(statistic="p90", extended=True, evaluate_low_sample_count_percentile="ignore")
    state, events = evaluate(alarm, AlarmState(value=OK), T0, _query(values, thin))
    assert state.value == OK
    assert events == []
    state, _ = evaluate(alarm, AlarmState(value=OK), T0, _query(values, [100.0] * 5))
    assert state.value == ALARM
    alarm.evaluate_low_sample_count_percentile = "evaluate"
    state, _ = evaluate(alarm, AlarmState(value=OK), T0, _query(values, thin))
    assert state.value == ALARM


def test_every_comparison_and_the_band() -> None:
    cases = {
        "GreaterThanOrEqualToThreshold": (10.0, ALARM),
        "GreaterThanThreshold": (10.0, OK),
        "LessThanThreshold": (9.0, ALARM),
        "LessThanOrEqualToThreshold": (10.0, ALARM),
    }
    for op, (value, expected) in cases.items():
        alarm = _alarm(evaluation_periods=1, comparison=op)
        state, _ = evaluate(alarm, AlarmState(), T0, _query([value] * 3))
        assert state.value == expected, op

    def band(values: list[float]):
        def query(alarm: MetricAlarm, window: Window) -> Datapoints:
            return Datapoints(
                window.stamps(),
                np.array(values),
                lower=np.full(3, 5.0),
                upper=np.full(3, 8.0),
            )

        return query

    for op, value, expected in [
        ("LessThanLowerOrGreaterThanUpperThreshold", 9.0, ALARM),
        ("LessThanLowerOrGreaterThanUpperThreshold", 4.0, ALARM),
        ("LessThanLowerOrGreaterThanUpperThreshold", 6.0, OK),
        ("LessThanLowerThreshold", 9.0, OK),
        ("GreaterThanUpperThreshold", 9.0, ALARM),
    ]:
        alarm = _alarm(
            evaluation_periods=1, comparison=op, threshold=None, threshold_metric_id="ad1"
        )
        state, _ = evaluate(alarm, AlarmState(), T0, band([value] * 3))
        assert state.value == expected, (op, value)
    alarm = _alarm(evaluation_periods=1, comparison="LessThanLowerOrGreaterThanUpperThreshold")
    state, _ = evaluate(alarm, AlarmState(), T0, band([9.0] * 3))
    assert state.reason == (
        "Thresholds Crossed: 1 datapoint [9.0 (06/12/26 23:59:00)] was less than the lower"
        " thresholds [5.0] or greater than the upper thresholds [8.0]."
    )
    data = orjson.loads(state.reason_data or "")
    assert data["recentUpperThresholds"] == [8.0, 8.0, 8.0]


def test_windows_end_on_the_cadence() -> None:
    assert evaluation_window(_alarm(period=300), T0 + 367) == Window(T0 + 360, 300, 5)
    assert evaluation_window(_alarm(period=10), T0 + 367) == Window(T0 + 360, 10, 5)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12.0, "12.0"),
        (15.1, "15.1"),
        (0.5, "0.5"),
        (1e7, "1.0E7"),
        (1.5e-4, "1.5E-4"),
        (123456.789, "123456.789"),
        (0.001, "0.001"),
        (-2.0, "-2.0"),
        (12345678.9, "1.23456789E7"),
    ],
)
def test_numbers_as_java_writes_them(value: float, text: str) -> None:
    assert java_double(value) == text
