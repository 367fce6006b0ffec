"""``ANOMALY_DETECTION_BAND(m, k)`` (and the alias ``ANOMALY_DETECTION_FUNCTION``) as a
metric-math function, for GetMetricData and every other reader of metric math.

CloudWatch documents the function as returning ``TS[]``: "two time series, one
representing the upper limit of the 'normal' expected value of the metric, and the other
representing the lower limit", ``k`` standard deviations wide (default 2). So a
GetMetricData query whose expression is a band answers two results with the query's id:
the upper bound first, then the lower one, each on the source's period grid. A query
Label applies to both; without one they are labelled ``<source label> upper`` and
``<source label> lower`` (CloudWatch does not document its default labels).

The band comes from the same models the band alarms use (``batch.Models``: one per
detector key and period, trained on demand on up to 14 days of the source and retrained
hourly, honouring PutAnomalyDetector's configuration), so a graph shows the band the alarm
compares against. Where the model has too little data to train, the band has no values.
The source is the id of a metric or of an expression of the same request (a detector on
metric math trains on the expression's values, computed from the queries it refers to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigil.query.metricmath import MathError, parse
from vigil.query.metricmath.ast import Name, Node, Number
from vigil.query.metricmath.evaluator import references
from vigil.query.metricmath.functions import Context, FunctionSpec
from vigil.query.metricmath.scope import request_scope
from vigil.query.metricmath.series import Series, Value
from vigil.rules.alarms.batch import Models, detector_key
from vigil.rules.alarms.interface import Window
from vigil.rules.alarms.model import MathQuery, MetricRef
from vigil.rules.alarms.spec import BAND_FUNCTIONS

DEFAULT_WIDTH = 2.0


def band_functions(models: Models) -> list[FunctionSpec]:
    """The band function under both its names, reading ``models``."""

    def spec(name: str) -> FunctionSpec:
        async def impl(ctx: Context, args: Sequence[Any]) -> Value:
            return await _band(models, name, ctx, args)

        return FunctionSpec(name, impl, 1, 2, raw_args=True)

    return [spec(name) for name in BAND_FUNCTIONS]


async def _band(models: Models, name: str, ctx: Context, args: Sequence[Node]) -> Value:
    scope = request_scope(ctx, name)
    source_id = _source_id(name, args[0], scope.queries)
    width = _width(name, args[1]) if len(args) > 1 else DEFAULT_WIDTH
    source = await scope.value(source_id)
    if not isinstance(source, Series):
        raise MathError(f"{name}: its first argument must be a single time series")
    queries = _math_queries(scope.queries, source_id)
    by_id = {q.id: q for q in queries}
    stamps = source.timestamps
    if not len(stamps):
        return [source.with_values(source.values.copy()) for _ in range(2)]
    window = Window(int(stamps[-1]) + source.period, source.period, len(stamps))
    lower, upper = await models.band(
        detector_key(scope.tenant, by_id[source_id]),
        by_id[source_id],
        queries,
        window,
        width,
        scope.now,
    )
    # the source's own result label: its Label, else the metric name or the expression id
    definition = scope.queries[source_id]
    label = definition.label or (
        definition.metric.name if definition.metric is not None else source_id
    )
    return [
        Series(stamps, upper, source.period, f"{label} upper", dict(source.meta)),
        Series(stamps, lower, source.period, f"{label} lower", dict(source.meta)),
    ]


def _source_id(name: str, node: Node, queries: Mapping[str, Any]) -> str:
    if not isinstance(node, Name) or node.name not in queries:
        raise MathError(
            f"{name}: its first argument must be the id of a metric or expression of the request"
        )
    return node.name


def _width(name: str, node: Node) -> float:
    if isinstance(node, Number) and node.value > 0:
        return node.value
    raise MathError(f"{name}: the band width must be a positive number of standard deviations")


def _math_queries(queries: Mapping[str, Any], source_id: str) -> list[MathQuery]:
    """The source query and the queries it depends on, as the models train them."""
    wanted: list[str] = []
    pending = [source_id]
    while pending:
        qid = pending.pop()
        if qid in wanted or qid not in queries:
            continue
        wanted.append(qid)
        expression = queries[qid].expression
        if expression:  # parsed already: the request refuses a syntax error up front
            pending.extend(references(parse(expression)))
    return [_math_query(queries[qid], qid == source_id) for qid in reversed(wanted)]


def _math_query(q: Any, returned: bool) -> MathQuery:
    metric = None
    if q.metric is not None:
        metric = MetricRef(q.metric.namespace, q.metric.name, tuple(sorted(q.metric.dimensions)))
    return MathQuery(
        id=q.id,
        metric=metric,
        stat=q.stat,
        period=q.period,
        unit=q.unit,
        expression=q.expression,
        label=q.label,
        return_data=returned,
    )
