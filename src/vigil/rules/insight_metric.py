"""``INSIGHT_RULE_METRIC(ruleName, metricName)``: a Contributor Insights rule's metric as
a metric-math series, for GetMetricData and metric-math alarms.

``metricName`` is one of ``UniqueContributors``, ``MaxContributorValue``, ``SampleCount``,
``Sum``, ``Minimum``, ``Maximum``, ``Average`` (CloudWatch's list, the same values as
GetInsightRuleReport's ``MetricDatapoints``), on the expression's period grid; periods
without a matching event have no value. A rule that does not exist, or an unknown metric
name, is a ``MathError`` (GetMetricData: ``ValidationError``; an alarm: its periods are
missing and the reason says why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.query.contributors.report import METRICS, period_metrics
from vigil.query.contributors.rule import RuleError, parse
from vigil.query.metricmath import MathError
from vigil.query.metricmath.functions import Context, FunctionSpec
from vigil.query.metricmath.scope import request_scope
from vigil.query.metricmath.series import Series, Value
from vigil.state.insight_rules import InsightRules
from vigil.store.interface import Store

NAME = "INSIGHT_RULE_METRIC"


def insight_functions(rules: InsightRules, store: Store) -> list[FunctionSpec]:
    async def impl(ctx: Context, args: Sequence[Any]) -> Value:
        scope = request_scope(ctx, NAME)
        name, metric = args
        if not isinstance(name, str) or not isinstance(metric, str):
            raise MathError(f"{NAME} takes a rule name and a metric name, both strings")
        if metric not in METRICS:
            raise MathError(f"{NAME}: unknown metric {metric!r}; one of {', '.join(METRICS)}")
        rule = await asyncio.to_thread(rules.get, scope.tenant, name)
        if rule is None:
            raise MathError(f"{NAME}: there is no Contributor Insights rule named {name!r}")
        try:
            definition = parse(rule.definition)
        except RuleError as exc:  # stored rules were checked; a newer parser may differ
            raise MathError(f"{NAME}: the rule {name!r} is not valid: {exc}") from None
        stamps = ctx.grid(ctx.period)
        values = np.full(len(stamps), np.nan)
        if len(stamps):
            found = await period_metrics(
                store,
                definition,
                scope.tenant,
                int(stamps[0]),
                ctx.end,
                ctx.period,
                origin=int(stamps[0]),
            )
            index = {int(t): i for i, t in enumerate(stamps)}
            for t, metrics in found.items():
                i = index.get(t)
                if i is not None:
                    values[i] = metrics[metric]
        return Series(stamps, values, ctx.period, label=f"{name} {metric}")

    return [FunctionSpec(NAME, impl, 2, 2)]
