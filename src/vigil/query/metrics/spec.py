"""What a metric request says: the metric, its queries and results, and the checks
CloudWatch makes on them (periods, statistics, the start's alignment)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vigil.query.metrics.statistics import Statistic, StatisticError, parse_statistic

HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
LIST_WINDOW = 14 * 86400  # ListMetrics and SEARCH see metrics with data in the last 2 weeks
MAX_QUERIES = 500
# Ten full GetMetricData pages of 100,800 datapoints: the most periods one request may span.
MAX_GRID_CELLS = 1_008_000
ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


class QueryError(ValueError):
    """A request CloudWatch would refuse: ``code`` is the AWS error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def valid_period(period: int) -> bool:
    return period in HIGH_RES_PERIODS or (period > 0 and period % 60 == 0)


def align_start(start: int, now: int, period: int) -> int:
    """CloudWatch's rounding of StartTime: sub-minute periods to the period; otherwise to
    the minute (younger than 15 days), 5 minutes (15–63 days) or the hour (older)."""
    if period < 60:
        return start - start % period
    age = now - start
    step = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
    return start - start % step


@dataclass(frozen=True, slots=True)
class MetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class MetricQuery:
    id: str
    metric: MetricSpec | None = None
    stat: str | None = None
    unit: str | None = None
    period: int | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = True


@dataclass(slots=True)
class Result:
    id: str
    label: str
    timestamps: list[int]  # epoch seconds, ascending
    values: list[float]
    status: str = "Complete"
    messages: list[dict[str, str]] = field(default_factory=list)


def check_stat(text: str) -> Statistic:
    try:
        return parse_statistic(text)
    except StatisticError as exc:
        raise QueryError("InvalidParameterValue", str(exc)) from None


def check_period(period: int, where: str = "Period") -> None:
    if not valid_period(period):
        raise QueryError(
            "InvalidParameterValue",
            f"The parameter {where} must be 1, 5, 10, 20, 30 or a multiple of 60"
            f" (got {period}); standard-resolution metrics need a multiple of 60.",
        )
