"""The Contributor Insights pillar: the CloudWatch insight-rule operations (a service
object of the ``cloudwatch`` model, merged by the front door with the metrics ones),
rules as taggable CloudWatch resources, and ``INSIGHT_RULE_METRIC`` in the core's
metric-math functions (GetMetricData graphs and metric-math alarms read it). Reports are
computed in the store when asked: no task, nothing to start or stop."""

from __future__ import annotations

from vigil.api.aws.insight_rules import InsightRulesService
from vigil.pillar import Core, Pillar
from vigil.rules.insight_metric import insight_functions
from vigil.state.insight_rules import InsightRules
from vigil.state.metrictags import TagStore


def build(core: Core) -> Pillar:
    rules = InsightRules(core.state, lambda: core.clock() // 10**6)
    service = InsightRulesService(
        rules,
        core.store,
        TagStore(core.state, core.cloudwatch_resources),
        core.cloudwatch_resources,
    )
    for spec in insight_functions(rules, core.store):
        core.metric_functions.register(spec)
    return Pillar(name="insight-rules", aws_services=[service])
