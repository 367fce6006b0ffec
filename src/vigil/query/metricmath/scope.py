"""What a function that reads beyond its arguments may ask of the request (tenant, clock,
the request's query definitions and their values).

The evaluator's ``functions.Context`` is all most functions need. A few read state that
belongs to the request's tenant: ``ANOMALY_DETECTION_BAND`` (the detector's trained model
over the source query's history) and ``INSIGHT_RULE_METRIC`` (a Contributor Insights
rule's report). GetMetricData's context also implements ``RequestScope``; a context that
does not (a unit test's, a dashboard preview's) makes those functions fail with a
``MathError`` naming the function, never a wrong value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from vigil.query.metricmath.errors import MathError
from vigil.query.metricmath.series import Value


@runtime_checkable
class RequestScope(Protocol):
    tenant: str
    now: int  # the request's clock, epoch seconds
    # query id → the request's query definition (``query.metrics.MetricQuery``)
    queries: Mapping[str, Any]

    async def value(self, qid: str) -> Value:
        """The value of the request's query ``qid`` (evaluated once per request)."""
        ...


def request_scope(ctx: object, function: str) -> RequestScope:
    if not isinstance(ctx, RequestScope):
        raise MathError(f"{function} is not available in this context")
    return ctx
