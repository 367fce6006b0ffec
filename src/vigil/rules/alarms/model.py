"""Alarm definitions and alarm state (plain data; the API maps boto3 dicts onto them).

A ``MetricAlarm`` watches one metric (``metric`` + ``statistic``) or a metric-math query
list (``metrics``, exactly one with ReturnData; an anomaly band named by
``threshold_metric_id``). A ``CompositeAlarm`` watches other alarms through ``rule``.
``AlarmState`` is what DescribeAlarms shows of the state, plus what the evaluator keeps
between evaluations (composite suppression timers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
BAND_COMPARISONS = COMPARISONS[4:]
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")


@dataclass(frozen=True, slots=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()  # sorted by name


@dataclass(frozen=True, slots=True)
class MathQuery:
    """One entry of PutMetricAlarm's ``Metrics``."""

    id: str
    metric: MetricRef | None = None
    stat: str | None = None
    period: int | None = None
    unit: str | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = False


@dataclass(slots=True)
class MetricAlarm:
    tenant: str
    name: str
    arn: str
    period: int
    evaluation_periods: int
    comparison: str
    datapoints_to_alarm: int | None = None
    threshold: float | None = None
    threshold_metric_id: str | None = None
    metric: MetricRef | None = None
    statistic: str | None = None  # Statistic or ExtendedStatistic, as given
    extended: bool = False  # statistic came as ExtendedStatistic
    unit: str | None = None
    metrics: tuple[MathQuery, ...] = ()
    treat_missing_data: str = "missing"
    evaluate_low_sample_count_percentile: str | None = None  # "evaluate" | "ignore"
    description: str | None = None
    actions_enabled: bool = True
    ok_actions: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    updated_ms: int = 0
    region: str = "us-east-1"
    account_id: str = "000000000000"

    @property
    def kind(self) -> str:
        return "MetricAlarm"

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def band(self) -> bool:
        return self.comparison in BAND_COMPARISONS

    def actions_for(self, state: str) -> tuple[str, ...]:
        return {
            OK: self.ok_actions,
            ALARM: self.alarm_actions,
            INSUFFICIENT_DATA: self.insufficient_data_actions,
        }[state]

    def return_query(self) -> MathQuery | None:
        for q in self.metrics:
            if q.return_data and q.id != self.threshold_metric_id:
                return q
        return None


@dataclass(slots=True)
class CompositeAlarm:
    tenant: str
    name: str
    arn: str
    rule: str
    description: str | None = None
    actions_enabled: bool = True
    ok_actions: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    suppressor: str | None = None  # alarm name or ARN
    wait_period: int = 0
    extension_period: int = 0
    updated_ms: int = 0
    region: str = "us-east-1"
    account_id: str = "000000000000"

    @property
    def kind(self) -> str:
        return "CompositeAlarm"

    def actions_for(self, state: str) -> tuple[str, ...]:
        return {
            OK: self.ok_actions,
            ALARM: self.alarm_actions,
            INSUFFICIENT_DATA: self.insufficient_data_actions,
        }[state]


Alarm = MetricAlarm | CompositeAlarm


@dataclass(slots=True)
class AlarmState:
    value: str = INSUFFICIENT_DATA
    reason: str = "Unchecked: Initial alarm creation"
    reason_data: str | None = None
    updated_ms: int = 0  # StateUpdatedTimestamp
    transitioned_ms: int = 0  # StateTransitionedTimestamp
    # Composite suppression (ActionsSuppressor): when a wait or extension period ends
    # (epoch ms), and by what the current state's actions are suppressed.
    suppressed_by: str | None = None
    suppressed_reason: str | None = None
    suppress_until_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> AlarmState:
        return AlarmState(
            self.value,
            self.reason,
            self.reason_data,
            self.updated_ms,
            self.transitioned_ms,
            self.suppressed_by,
            self.suppressed_reason,
            self.suppress_until_ms,
            dict(self.extra),
        )
