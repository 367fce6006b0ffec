"""The metric alarm evaluator: ``evaluate(alarm, state, now, query) -> (state, events)``.

Pure: the clock (``now``, epoch seconds) and the data (``query``) are arguments.

When and over what (CloudWatch's documented rules, and the choices vigil makes where
CloudWatch publishes none):

* Alarms with periods of 10, 20 or 30 s are evaluated every 10 s, others every minute, on
  the boundary; an evaluation at ``t`` reads the periods ending at ``t`` (not aligned to
  the period: at the end of minute 6 a 5-minute alarm reads minutes 2 to 6).
* The *evaluation range* is ``EvaluationPeriods + 2`` periods (CloudWatch's documented
  examples use 5 for 3; it does not publish its rule). Its newest ``EvaluationPeriods``
  real data points are evaluated; with fewer real points than that, the missing ones are
  filled as ``TreatMissingData`` says, as few as needed, and every real point counts.
* ``missing``/``ignore`` with some but too few points: ALARM when at least M points
  breach, or (*premature alarm rule*) when every real point breaches and the oldest is at
  least M periods old; OK when a real point does not breach; otherwise INSUFFICIENT_DATA
  (``missing``) or the current state (``ignore``). With no point at all: INSUFFICIENT_DATA,
  or the current state for ``ignore``.
* Percentiles with ``EvaluateLowSampleCountPercentile: ignore`` keep the state while an
  evaluated period has fewer than 10/(1-p) samples (p ≥ 0.5) or 10/p (p < 0.5).
* The state changes only on a transition; each transition yields one ``AlarmEvent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.query.metrics.statistics import StatisticError, parse_statistic
from vigil.rules.alarms import reasons as words
from vigil.rules.alarms.interface import AlarmEvent, Datapoints, Floats, Window, WindowQuery
from vigil.rules.alarms.model import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Alarm,
    AlarmState,
    MathQuery,
    MetricAlarm,
)

BREACH, CLEAR, MISSING = "X", "0", "-"
EXTRA_PERIODS = 2


def cadence(period: int) -> int:
    """Seconds between evaluations of an alarm with this period."""
    return 10 if period < 60 else 60


def evaluation_window(alarm: MetricAlarm, now: int) -> Window:
    step = cadence(alarm.period)
    return Window(now - now % step, alarm.period, alarm.evaluation_periods + EXTRA_PERIODS)


def is_due(alarm: MetricAlarm, last_eval: int | None, now: int) -> bool:
    step = cadence(alarm.period)
    return last_eval is None or now - now % step > last_eval - last_eval % step


@dataclass(slots=True)
class Outcome:
    state: str | None  # None: keep the current state
    reason: str = ""
    used: list[int] | None = None  # indices of evaluated real points
    filled: int = 0


def classify(alarm: MetricAlarm, dp: Datapoints) -> list[str]:
    values = dp.values
    marks = []
    for i, value in enumerate(values):
        if math.isnan(value):
            marks.append(MISSING)
            continue
        if alarm.band:
            low = dp.lower[i] if dp.lower is not None else math.nan
            high = dp.upper[i] if dp.upper is not None else math.nan
            if math.isnan(low) or math.isnan(high):
                marks.append(MISSING)  # the model has no band here yet
                continue
            breach = _band_breach(alarm.comparison, value, low, high)
        else:
            breach = _breach(alarm.comparison, value, alarm.threshold or 0.0)
        marks.append(BREACH if breach else CLEAR)
    return marks


def _breach(op: str, value: float, threshold: float) -> bool:
    if op == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if op == "GreaterThanThreshold":
        return value > threshold
    if op == "LessThanThreshold":
        return value < threshold
    return value <= threshold


def _band_breach(op: str, value: float, low: float, high: float) -> bool:
    if op == "LessThanLowerThreshold":
        return value < low
    if op == "GreaterThanUpperThreshold":
        return value > high
    return value < low or value > high


def decide(marks: list[str], n: int, m: int, treat: str) -> Outcome:
    """The state a window of marks (oldest first) calls for (see the module docstring)."""
    real = [i for i, mark in enumerate(marks) if mark != MISSING]
    if len(real) >= n:
        used = real[-n:]
        breaching = sum(marks[i] == BREACH for i in used)
        return Outcome(ALARM if breaching >= m else OK, used=used)
    if not real:
        if treat == "breaching":
            return Outcome(ALARM, used=[], filled=n)
        if treat == "notBreaching":
            return Outcome(OK, used=[], filled=n)
        if treat == "ignore":
            return Outcome(None)
        return Outcome(INSUFFICIENT_DATA, used=[], filled=n)
    fill = n - len(real)
    breaching = sum(marks[i] == BREACH for i in real)
    if treat in ("breaching", "notBreaching"):
        total = breaching + (fill if treat == "breaching" else 0)
        return Outcome(ALARM if total >= m else OK, used=real, filled=fill)
    if breaching >= m:
        return Outcome(ALARM, used=real)
    if breaching == len(real) and len(marks) - real[0] >= m:
        # Premature-alarm rule: every real point breaches and the oldest is old enough.
        return Outcome(None if treat == "ignore" else ALARM, used=real)
    if breaching < len(real):
        return Outcome(OK, used=real)
    return Outcome(None if treat == "ignore" else INSUFFICIENT_DATA, used=real, filled=fill)


def low_sample_limit(statistic: str | None) -> float | None:
    """Fewest samples a percentile period needs to count (None: not a percentile)."""
    if not statistic:
        return None
    try:
        stat = parse_statistic(statistic)
    except StatisticError:
        return None
    if stat.kind != "percentile":
        return None
    q = stat.q
    if 0.5 <= q < 1:
        return round(10 / (1 - q), 6)
    if 0 < q < 0.5:
        return round(10 / q, 6)
    return None


def evaluate(
    alarm: MetricAlarm, state: AlarmState, now: int, query: WindowQuery
) -> tuple[AlarmState, list[AlarmEvent]]:
    window = evaluation_window(alarm, now)
    dp = query(alarm, window)
    if dp.error is not None:
        return state, []
    marks = classify(alarm, dp)
    n, m = alarm.evaluation_periods, alarm.m
    outcome = decide(marks, n, m, alarm.treat_missing_data)
    if outcome.state is None or outcome.state == state.value:
        return state, []
    limit = low_sample_limit(alarm.statistic)
    if (
        limit is not None
        and alarm.evaluate_low_sample_count_percentile == "ignore"
        and dp.samples is not None
        and any(dp.samples[i] < limit for i in outcome.used or [])
    ):
        return state, []
    reason = _reason(alarm, state.value, outcome, marks, dp)
    data = _reason_data(alarm, now, window, outcome, dp)
    return transition(alarm, state, outcome.state, reason, data, now * 1000, _trigger(alarm))


def transition(
    alarm: Alarm,
    state: AlarmState,
    new_value: str,
    reason: str,
    reason_data: str | None,
    now_ms: int,
    trigger: dict[str, Any],
) -> tuple[AlarmState, list[AlarmEvent]]:
    """The state after a change to ``new_value`` and its event (no event without change)."""
    if new_value == state.value:
        return state, []
    new = state.copy()
    new.value, new.reason, new.reason_data = new_value, reason, reason_data
    new.updated_ms = new.transitioned_ms = now_ms
    enabled = alarm.actions_enabled
    actions = list(alarm.actions_for(new_value)) if enabled else []
    event = AlarmEvent(
        tenant=alarm.tenant,
        alarm_name=alarm.name,
        alarm_arn=alarm.arn,
        alarm_type=alarm.kind,
        description=alarm.description,
        account_id=alarm.account_id,
        region=alarm.region,
        old_state=state.value,
        new_state=new_value,
        reason=reason,
        reason_data=reason_data,
        timestamp_ms=now_ms,
        actions=actions,
        ok_actions=list(alarm.ok_actions),
        alarm_actions=list(alarm.alarm_actions),
        insufficient_data_actions=list(alarm.insufficient_data_actions),
        trigger=dict(trigger),
    )
    return new, [event]


# --- reasons ------------------------------------------------------------------------------


def _reason(
    alarm: MetricAlarm, old: str, outcome: Outcome, marks: list[str], dp: Datapoints
) -> str:
    new = outcome.state
    n, m = alarm.evaluation_periods, alarm.m
    used = outcome.used or []
    if new == INSUFFICIENT_DATA:
        unknown = n - len(used)
        text = words.plural(unknown, "datapoint")
        return f"Insufficient Data: {text} {words.was(unknown)} unknown."
    treated = "[Breaching]" if alarm.treat_missing_data == "breaching" else "[NonBreaching]"
    if not used:
        return (
            f"Threshold Crossed: no datapoints were received for {words.plural(n, 'period')}"
            f" and {words.plural(outcome.filled, 'missing datapoint')}"
            f" {words.was(outcome.filled)} treated as {treated}."
        )
    wanted = BREACH if new == ALARM else CLEAR
    shown = [i for i in reversed(used) if marks[i] == wanted]
    points = [(dp.timestamps[i], float(dp.values[i])) for i in shown]
    negate = "" if new == ALARM else "not "
    if alarm.band:
        lows = [float(dp.lower[i]) for i in shown] if dp.lower is not None else []
        highs = [float(dp.upper[i]) for i in shown] if dp.upper is not None else []
        low_text = f"less than the lower thresholds {words.numbers(lows)}"
        high_text = f"greater than the upper thresholds {words.numbers(highs)}"
        condition = {
            "LessThanLowerThreshold": low_text,
            "GreaterThanUpperThreshold": high_text,
        }.get(alarm.comparison, f"{low_text} or {high_text}")
        head, tail = "Thresholds Crossed", f"{negate}{condition}"
    else:
        threshold = words.java_double(alarm.threshold or 0.0)
        phrase = words.PHRASES[alarm.comparison]
        head, tail = "Threshold Crossed", f"{negate}{phrase} the threshold ({threshold})"
    count = len(points)
    listed = words.points_list(points)
    if n == 1 and not outcome.filled and count == 1:
        return f"{head}: 1 datapoint [{listed}] was {tail}."
    need = m if new == ALARM else n - m + 1
    minimum = f"(minimum {words.plural(need, 'datapoint')} for {old} -> {new} transition)"
    treated_fill = outcome.filled and alarm.treat_missing_data in ("breaching", "notBreaching")
    filled = (
        f"{words.plural(outcome.filled, 'missing datapoint')} {words.was(outcome.filled)}"
        f" treated as {treated}"
        if treated_fill
        else ""
    )
    if not points:
        # Only the filled points decided it (e.g. one breaching point and missing data
        # treated as not breaching).
        return f"{head}: {filled or 'no datapoints were ' + tail} {minimum}."
    and_filled = f" and {filled}" if filled else ""
    return (
        f"{head}: {count} out of the last {n} datapoints [{listed}] {words.was(count)}"
        f" {tail}{and_filled} {minimum}."
    )


def _reason_data(
    alarm: MetricAlarm, now: int, window: Window, outcome: Outcome, dp: Datapoints
) -> str:
    used = outcome.used or []
    data: dict[str, object] = {"version": "1.0", "queryDate": words.iso_time_ms(now * 1000)}
    first = used[0] if used else 0
    data["startDate"] = words.iso_time_ms(dp.timestamps[first] * 1000 if dp.timestamps else 0)
    if alarm.metric is not None:
        if alarm.unit:
            data["unit"] = alarm.unit
        data["statistic"] = alarm.statistic
    data["period"] = alarm.period
    present = [i for i, v in enumerate(dp.values) if not math.isnan(v)]
    data["recentDatapoints"] = [float(dp.values[i]) for i in present]
    if alarm.band:
        data["recentLowerThresholds"] = _band_values(dp.lower, present)
        data["recentUpperThresholds"] = _band_values(dp.upper, present)
    else:
        data["threshold"] = float(alarm.threshold or 0.0)
    evaluated = []
    for i in reversed(used):
        point: dict[str, object] = {"timestamp": words.iso_time_ms(dp.timestamps[i] * 1000)}
        if dp.samples is not None and not math.isnan(dp.samples[i]):
            point["sampleCount"] = float(dp.samples[i])
        point["value"] = float(dp.values[i])
        evaluated.append(point)
    data["evaluatedDatapoints"] = evaluated
    return orjson.dumps(data).decode()


def _band_values(values: Floats | None, present: list[int]) -> list[float]:
    if values is None:
        return []
    return [float(values[i]) for i in present if not math.isnan(values[i])]


def _trigger(alarm: MetricAlarm) -> dict[str, Any]:
    """The ``Trigger`` of CloudWatch's SNS message."""
    trigger: dict[str, Any] = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.m,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": alarm.treat_missing_data,
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.metric is not None:
        trigger.update(
            MetricName=alarm.metric.name,
            Namespace=alarm.metric.namespace,
            StatisticType="ExtendedStatistic" if alarm.extended else "Statistic",
            Statistic=(alarm.statistic or "").upper() if not alarm.extended else None,
            ExtendedStatistic=alarm.statistic if alarm.extended else None,
            Unit=alarm.unit,
            Dimensions=[{"value": v, "name": k} for k, v in alarm.metric.dimensions],
        )
    else:
        trigger["Metrics"] = [_math_trigger(q) for q in alarm.metrics]
    if alarm.threshold_metric_id:
        trigger["ThresholdMetricId"] = alarm.threshold_metric_id
    else:
        trigger["Threshold"] = float(alarm.threshold or 0.0)
    return trigger


def _math_trigger(q: MathQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": q.id, "ReturnData": q.return_data}
    if q.expression is not None:
        out["Expression"] = q.expression
        if q.label:
            out["Label"] = q.label
    elif q.metric is not None:
        metric = q.metric
        out["MetricStat"] = {
            "Metric": {
                "Dimensions": [{"value": v, "name": k} for k, v in metric.dimensions],
                "MetricName": metric.name,
                "Namespace": metric.namespace,
            },
            "Period": q.period,
            "Stat": q.stat,
        }
    return out
