"""PromQL over vigil's metrics (the ``/prometheus/api/v1`` query API).

Modules: ``parse`` (text → AST, Prometheus-shaped syntax errors), ``names`` (how stored
metrics look to PromQL), ``sql`` (selectors → ClickHouse SQL through the store),
``histograms`` (OTLP histograms as ``_bucket{le}``/``_sum``/``_count`` counters),
``eval`` (the pure evaluator), ``rangefuncs``/``functions``/``aggregate``/``binary`` (the
operations), ``format`` (Prometheus' JSON), ``catalog`` (series, labels, values, metadata),
``pushdown`` (``sum by (…) (rate(x[r]))`` and its kin computed in the store).

``instant`` and ``range_`` are the two entry points: a query text and times in, a
Prometheus ``data`` object out. The evaluator is synchronous (numpy) and runs on a worker
thread; its ``fetch`` (and ``reduce``, the pushdown, when given) reaches the store on the
event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.query.promql.errors import BadData, PromQLError, QueryTimeout, TooManySamples
from vigil.query.promql.eval import DEFAULT_LOOKBACK_MS, Evaluator, Fetch, Reduce
from vigil.query.promql.format import instant_result, range_result
from vigil.query.promql.parse import parse
from vigil.query.promql.values import Matrix, String

__all__ = [
    "BadData",
    "Limits",
    "PromQLError",
    "QueryTimeout",
    "Reduce",
    "TooManySamples",
    "instant",
    "range_",
]

MAX_POINTS = 11_000  # per series in a range query, as Prometheus
BAD_STEP = "zero or negative query resolution step widths are not accepted. Try a positive integer"
_NOT_RANGE = 'invalid expression type "{}" for range query, must be Scalar or instant Vector'


@dataclass(frozen=True, slots=True)
class Limits:
    max_samples: int = 20_000_000
    lookback_ms: int = DEFAULT_LOOKBACK_MS


def instant(
    query: str,
    t_ms: int,
    fetch: Fetch,
    limits: Limits = Limits(),
    reduce: Reduce | None = None,
) -> dict[str, Any]:
    expr = parse(query)
    ev = Evaluator(fetch, t_ms, t_ms, limits.lookback_ms, limits.max_samples, reduce=reduce)
    value = ev.eval(expr, np.array([t_ms], dtype=np.int64))
    return instant_result(value, t_ms)


def range_(
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    fetch: Fetch,
    limits: Limits = Limits(),
    reduce: Reduce | None = None,
) -> dict[str, Any]:
    if end_ms < start_ms:
        raise BadData("end timestamp must not be before start time")
    if step_ms <= 0:
        raise BadData(BAD_STEP)
    if (end_ms - start_ms) // step_ms > MAX_POINTS:
        raise BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the"
            " query resolution (?step=XX)"
        )
    expr = parse(query)
    ev = Evaluator(fetch, start_ms, end_ms, limits.lookback_ms, limits.max_samples, reduce=reduce)
    times = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
    value = ev.eval(expr, times)
    if isinstance(value, Matrix):
        raise BadData(_NOT_RANGE.format("range vector"))
    if isinstance(value, String):
        raise BadData(_NOT_RANGE.format("string"))
    return range_result(value, times)
