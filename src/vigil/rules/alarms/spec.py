"""Alarm definitions from their stored form: the boto3-shaped parameters that
PutMetricAlarm / PutCompositeAlarm accepted (already checked by the API), plus
``AlarmArn``. The API keeps the same dict to answer DescribeAlarms."""

from __future__ import annotations

from typing import Any

from vigil.query.metricmath import MathSyntaxError, parse
from vigil.query.metricmath.ast import Call, Name, Number
from vigil.rules.alarms.fetch import metric_query
from vigil.rules.alarms.model import CompositeAlarm, MetricAlarm, MetricRef

BAND_FUNCTIONS = ("ANOMALY_DETECTION_BAND", "ANOMALY_DETECTION_FUNCTION")


def arn_parts(arn: str) -> tuple[str, str]:
    """(region, account id) of an alarm ARN."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) > 5 else ("us-east-1", "000000000000")


def metric_alarm(tenant: str, spec: dict[str, Any]) -> MetricAlarm:
    region, account = arn_parts(spec["AlarmArn"])
    metric = None
    if "MetricName" in spec:
        metric = MetricRef(
            spec["Namespace"],
            spec["MetricName"],
            tuple(sorted((d["Name"], d["Value"]) for d in spec.get("Dimensions", []))),
        )
    metrics = tuple(metric_query(q) for q in spec.get("Metrics", []))
    period = spec.get("Period")
    if period is None:
        ret = next(
            (q for q in metrics if q.return_data and q.id != spec.get("ThresholdMetricId")), None
        )
        period = (ret.period if ret is not None else None) or _first_period(metrics)
    return MetricAlarm(
        tenant=tenant,
        name=spec["AlarmName"],
        arn=spec["AlarmArn"],
        period=int(period),
        evaluation_periods=int(spec["EvaluationPeriods"]),
        comparison=spec["ComparisonOperator"],
        datapoints_to_alarm=spec.get("DatapointsToAlarm"),
        threshold=spec.get("Threshold"),
        threshold_metric_id=spec.get("ThresholdMetricId"),
        metric=metric,
        statistic=spec.get("Statistic") or spec.get("ExtendedStatistic"),
        extended="ExtendedStatistic" in spec,
        unit=spec.get("Unit"),
        metrics=metrics,
        treat_missing_data=spec.get("TreatMissingData", "missing"),
        evaluate_low_sample_count_percentile=spec.get("EvaluateLowSampleCountPercentile"),
        description=spec.get("AlarmDescription"),
        actions_enabled=spec.get("ActionsEnabled", True),
        ok_actions=tuple(spec.get("OKActions", [])),
        alarm_actions=tuple(spec.get("AlarmActions", [])),
        insufficient_data_actions=tuple(spec.get("InsufficientDataActions", [])),
        region=region,
        account_id=account,
    )


def _first_period(metrics: tuple[Any, ...]) -> int:
    for q in metrics:
        if q.period:
            return int(q.period)
    return 60


def composite_alarm(tenant: str, spec: dict[str, Any]) -> CompositeAlarm:
    region, account = arn_parts(spec["AlarmArn"])
    return CompositeAlarm(
        tenant=tenant,
        name=spec["AlarmName"],
        arn=spec["AlarmArn"],
        rule=spec["AlarmRule"],
        description=spec.get("AlarmDescription"),
        actions_enabled=spec.get("ActionsEnabled", True),
        ok_actions=tuple(spec.get("OKActions", [])),
        alarm_actions=tuple(spec.get("AlarmActions", [])),
        insufficient_data_actions=tuple(spec.get("InsufficientDataActions", [])),
        suppressor=spec.get("ActionsSuppressor"),
        wait_period=int(spec.get("ActionsSuppressorWaitPeriod", 0)),
        extension_period=int(spec.get("ActionsSuppressorExtensionPeriod", 0)),
        region=region,
        account_id=account,
    )


def band_call(expression: str) -> tuple[str, float] | None:
    """``ANOMALY_DETECTION_BAND(m1, 2)`` → ("m1", 2.0); None if it is not a band call."""
    try:
        tree = parse(expression)
    except MathSyntaxError:
        return None
    if not isinstance(tree, Call) or tree.function not in BAND_FUNCTIONS:
        return None
    if not tree.args or not isinstance(tree.args[0], Name):
        return None
    width = 2.0
    if len(tree.args) > 1:
        if not isinstance(tree.args[1], Number):
            return None
        width = tree.args[1].value
    return tree.args[0].name, width
