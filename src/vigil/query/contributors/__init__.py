"""Contributor Insights over the stored log events.

* ``rule`` — the rule language (CloudWatch's ``CloudWatchLogRule`` JSON): ``parse(text)
  -> RuleDefinition`` or ``RuleError`` with the reason; pure.
* ``report`` — ``report(store, rule, tenant, start, end, period, n, order_by)``: the top
  ``n`` contributors with their values per period and the rule's per-period metrics, and
  ``period_metrics(…)`` (what ``INSIGHT_RULE_METRIC`` graphs), each computed in the store
  (GROUP BY over the keys read from the messages, topK by the ranking value) when asked.
  Safe to call concurrently (each call is its own store queries).
"""

from vigil.query.contributors.report import METRICS, Contributor, Report, period_metrics, report
from vigil.query.contributors.rule import RuleDefinition, RuleError, parse

__all__ = [
    "METRICS",
    "Contributor",
    "Report",
    "RuleDefinition",
    "RuleError",
    "parse",
    "period_metrics",
    "report",
]
