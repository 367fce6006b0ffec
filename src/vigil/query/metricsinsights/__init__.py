"""CloudWatch Metrics Insights: the SQL dialect of GetMetricData's ``Expression`` (and of
``/api/v1``'s metric queries) — ``SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/EC2",
InstanceId) WHERE … GROUP BY InstanceId ORDER BY AVG() DESC LIMIT 10``.

Contract:

* ``looks_like_insights(text)`` — whether an expression is a Metrics Insights query;
* ``parse(text) -> Query`` — pure; ``InsightsSyntaxError`` names the position;
* ``evaluate(query, fetch, start, end, period) -> Outcome`` — reads the store (async,
  safe to run beside other queries); the outcome's value is a metric math value (a
  ``Series``, or a list of them with GROUP BY) so metric math expressions can use it, and
  its messages are the limits it hit, by CloudWatch's codes.

Modules: ``syntax`` (tokens, grammar, quoting), ``compile`` (FROM/SCHEMA/WHERE → SQL),
``evaluate`` (aggregation per group and period, ORDER BY, LIMIT, the documented limits).
"""

from vigil.query.metricsinsights.evaluate import (
    MAX_METRICS,
    MAX_RANGE,
    MAX_SERIES,
    Outcome,
    evaluate,
)
from vigil.query.metricsinsights.syntax import (
    InsightsSyntaxError,
    Query,
    looks_like_insights,
    parse,
)

__all__ = [
    "MAX_METRICS",
    "MAX_RANGE",
    "MAX_SERIES",
    "InsightsSyntaxError",
    "Outcome",
    "Query",
    "evaluate",
    "looks_like_insights",
    "parse",
]
