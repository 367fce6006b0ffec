"""PutMetricAlarm / PutCompositeAlarm / PutAnomalyDetector input checks, in CloudWatch's
error codes and words (what botocore's model check cannot see: combinations, periods,
statistics, math). Each check returns the normalized boto3-shaped definition that is
stored and shown back by DescribeAlarms."""

from __future__ import annotations

import re
from typing import Any

from vigil.api.aws.interface import AwsError
from vigil.query.metricmath import MathSyntaxError, parse
from vigil.query.metricmath.ast import Call, Name
from vigil.query.metrics.statistics import StatisticError, parse_statistic
from vigil.query.metricsinsights import looks_like_insights
from vigil.rules.alarms.model import BAND_COMPARISONS, COMPARISONS, TREAT_MISSING
from vigil.rules.alarms.spec import BAND_FUNCTIONS, band_call

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MAX_DAY = 86_400
MAX_METRICS = 10
ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
# Members of newer CloudWatch features vigil does not implement: refused, not ignored.
UNSUPPORTED = (
    "EvaluationWindow",
    "WarmUpConfiguration",
    "EvaluationCriteria",
    "EvaluationInterval",
    "ActionConfiguration",
)


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def check_period(period: int, where: str = "Period") -> None:
    if not (period in (10, 20, 30) or (period >= 60 and period % 60 == 0)):
        raise validation(f"{where} must be 10, 20, 30 or a multiple of 60.")


def _unsupported(params: dict[str, Any]) -> None:
    for key in UNSUPPORTED:
        if key in params:
            raise validation(f"The parameter {key} is not supported by vigil.")


def _actions(params: dict[str, Any]) -> None:
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        for action in params.get(key, []):
            if not action.startswith("arn:"):
                raise validation(f"Invalid arn syntax: {action}")


def metric_alarm(params: dict[str, Any], arn: str) -> dict[str, Any]:
    _unsupported(params)
    _actions(params)
    spec = {k: v for k, v in params.items() if k != "Tags"}
    spec["AlarmArn"] = arn
    spec.setdefault("ActionsEnabled", True)
    op = params.get("ComparisonOperator")
    if op is None:
        raise AwsError("MissingParameter", "The parameter ComparisonOperator is required.")
    if op not in COMPARISONS:
        raise validation(
            f"1 validation error detected: Value '{op}' at 'comparisonOperator' failed to"
            f" satisfy constraint: Member must satisfy enum value set: [{', '.join(COMPARISONS)}]"
        )
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING:
        raise validation(
            f"Invalid value for TreatMissingData: {treat}. Valid values are"
            " breaching, notBreaching, ignore, missing."
        )
    low = params.get("EvaluateLowSampleCountPercentile")
    if low is not None and low not in ("evaluate", "ignore"):
        raise validation(
            f"Invalid value for EvaluateLowSampleCountPercentile: {low}. Valid values are"
            " evaluate, ignore."
        )
    n = params.get("EvaluationPeriods")
    if n is None:
        raise AwsError("MissingParameter", "The parameter EvaluationPeriods is required.")
    if n < 1:
        raise validation("EvaluationPeriods must be greater than or equal to 1.")
    m = params.get("DatapointsToAlarm")
    if m is not None and not 1 <= m <= n:
        raise validation(
            "DatapointsToAlarm must be greater than or equal to 1 and less than or equal to"
            " EvaluationPeriods."
        )
    single = any(k in params for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic"))
    if single and "Metrics" in params:
        raise AwsError(
            "InvalidParameterCombination",
            "The parameters MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions,"
            " Period and Unit can not be used with Metrics.",
        )
    period = _math(params) if "Metrics" in params else _single(params)
    if period * n > MAX_DAY:
        raise validation(
            "Metrics cannot be checked across more than a day (EvaluationPeriods * Period"
            f" must be <= {MAX_DAY})."
        )
    band_id = params.get("ThresholdMetricId")
    if op in BAND_COMPARISONS:
        if band_id is None:
            raise validation(
                f"ComparisonOperator {op} is only supported for alarms on anomaly detection"
                " models: set ThresholdMetricId."
            )
        if "Threshold" in params:
            raise AwsError(
                "InvalidParameterCombination",
                "Threshold can not be used with ThresholdMetricId.",
            )
    else:
        if band_id is not None:
            raise validation(
                "ThresholdMetricId can only be used with the comparison operators"
                f" {', '.join(BAND_COMPARISONS)}."
            )
        if "Threshold" not in params:
            raise AwsError("MissingParameter", "The parameter Threshold is required.")
    return spec


def _single(params: dict[str, Any]) -> int:
    for key in ("MetricName", "Namespace", "Period"):
        if key not in params:
            raise AwsError("MissingParameter", f"The parameter {key} is required.")
    stat, ext = params.get("Statistic"), params.get("ExtendedStatistic")
    if (stat is None) == (ext is None):
        raise AwsError(
            "InvalidParameterCombination",
            "Exactly one of the parameters Statistic or ExtendedStatistic must be specified.",
        )
    if stat is not None and stat not in STATISTICS:
        raise AwsError(
            "InvalidParameterValue",
            f"The value {stat} for parameter Statistic is not supported.",
        )
    if ext is not None:
        try:
            kind: str = parse_statistic(ext).kind
        except StatisticError:
            kind = "invalid"
        if kind in ("aggregate", "invalid"):
            raise AwsError(
                "InvalidParameterValue",
                f"The value {ext} for parameter ExtendedStatistic is not supported.",
            )
    if params.get("ThresholdMetricId") is not None:
        raise validation("ThresholdMetricId can only be used with Metrics.")
    check_period(params["Period"])
    return int(params["Period"])


def _math(params: dict[str, Any]) -> int:
    metrics: list[dict[str, Any]] = params["Metrics"]
    if not metrics or len(metrics) > MAX_METRICS:
        raise validation(f"The Metrics list must hold between 1 and {MAX_METRICS} elements.")
    band_id = params.get("ThresholdMetricId")
    ids = set()
    periods = set()
    for q in metrics:
        qid = q["Id"]
        if not ID_RE.match(qid):
            raise validation(
                f"Invalid metrics list: the Id {qid} must start with a lowercase letter and"
                " hold only letters, digits and underscores."
            )
        if qid in ids:
            raise validation(f"Invalid metrics list: the Id {qid} is used twice.")
        ids.add(qid)
        stat = q.get("MetricStat")
        if (stat is None) == ("Expression" not in q):
            raise validation(
                f"Invalid metrics list: {qid} must have exactly one of MetricStat and Expression."
            )
        if stat is not None:
            check_period(stat["Period"], f"The period of {qid}")
            try:
                parse_statistic(stat["Stat"])
            except StatisticError:
                raise AwsError(
                    "InvalidParameterValue",
                    f"The value {stat['Stat']} for parameter Metrics[{qid}].MetricStat.Stat"
                    " is not supported.",
                ) from None
            periods.add(int(stat["Period"]))
        else:
            _check_expression(q, band_id)
            if q.get("Period") is not None:
                check_period(q["Period"], f"The period of {qid}")
                periods.add(int(q["Period"]))
    returning = [q for q in metrics if q.get("ReturnData", True) and q["Id"] != band_id]
    if len(returning) != 1:
        raise validation("Exactly one element of the metrics list should return data.")
    if band_id is not None:
        band = next((q for q in metrics if q["Id"] == band_id), None)
        if band is None:
            raise validation(f"ThresholdMetricId {band_id} is not an Id of the Metrics list.")
        call = band_call(band.get("Expression", ""))
        if call is None:
            raise validation(
                f"The ThresholdMetricId {band_id} must refer to an ANOMALY_DETECTION_BAND"
                " expression."
            )
        if call[0] not in ids or call[0] == band_id:
            raise validation(
                f"The anomaly detection band {band_id} refers to {call[0]}, which is not an"
                " Id of the Metrics list."
            )
    if len(periods) > 1:
        raise validation("All metrics of a metric math alarm must use the same period.")
    ret = returning[0]
    if ret.get("MetricStat"):
        return int(ret["MetricStat"]["Period"])
    if ret.get("Period"):
        return int(ret["Period"])
    if periods:
        return periods.pop()
    raise validation(f"The expression {ret['Id']} needs a Period.")


def _check_expression(q: dict[str, Any], band_id: str | None) -> None:
    text = q["Expression"]
    if looks_like_insights(text):
        # Metrics Insights alarms (CloudWatch evaluates the last 3 h of the query) are not
        # implemented: refused by name rather than as a metric math syntax error.
        raise validation(
            f"Error in expression {q['Id']}: alarms on Metrics Insights queries are not"
            " supported by vigil; use metric math over MetricStat queries."
        )
    try:
        tree = parse(text)
    except MathSyntaxError as exc:
        raise validation(f"Error in expression {q['Id']}: {exc}") from None
    if isinstance(tree, Call) and tree.function in BAND_FUNCTIONS:
        arg = tree.args[0] if tree.args else None
        if not isinstance(arg, Name):
            raise validation(
                f"Error in expression {q['Id']}: the first argument of {tree.function} must"
                " be the Id of a metric or expression (a band on SEARCH is not supported by"
                " alarms)."
            )
        if q["Id"] != band_id:
            raise validation(
                f"Error in expression {q['Id']}: {tree.function} is allowed only in the"
                " expression named by ThresholdMetricId."
            )
    elif "SEARCH" in text.upper():
        raise validation(f"Error in expression {q['Id']}: alarms can not use SEARCH expressions.")


def composite_alarm(params: dict[str, Any], arn: str) -> dict[str, Any]:
    _unsupported(params)
    _actions(params)
    spec = {k: v for k, v in params.items() if k != "Tags"}
    spec["AlarmArn"] = arn
    spec.setdefault("ActionsEnabled", True)
    wait = params.get("ActionsSuppressorWaitPeriod")
    extension = params.get("ActionsSuppressorExtensionPeriod")
    if params.get("ActionsSuppressor") is None and (wait is not None or extension is not None):
        raise validation(
            "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod need"
            " ActionsSuppressor."
        )
    if params.get("ActionsSuppressor") is not None:
        if wait is None or extension is None:
            raise validation(
                "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are required"
                " with ActionsSuppressor."
            )
        if wait < 0 or extension < 0:
            raise validation("Suppressor wait and extension periods must not be negative.")
    return spec
