"""The alarms' adapter to the metric query engine (``query/metrics``).

Issue 10 plans one public call, "one statistic over N periods ending at t", and a batched
form; until it lands this module is that adapter, written against ``query.metrics``'
``statistic_series`` (one store query for many series of a statistic and period) and
``get_metric_data`` (metric-math alarms):

* ``series_ids`` — (namespace, name, dimensions) → the store's series reference, in one
  query per tenant and batch (``exact_series_many``, the dashboards' widgets' lookup;
  found ids are cached: a series id never changes);
* ``windows`` — the values of many series for one statistic, period, unit and window;
* ``math`` — the values of a math alarm's ReturnData query (and of the query its anomaly
  band is computed from) on the window's grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vigil.query import metrics as md
from vigil.query.metricmath.functions import FunctionTable, default_functions
from vigil.query.metrics.levels import SeriesRef
from vigil.rules.alarms.interface import Floats, Window
from vigil.rules.alarms.model import MathQuery, MetricRef
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


class MetricReader:
    def __init__(
        self,
        store: Store,
        retention: MetricRetention,
        clock: Callable[[], int],
        functions: FunctionTable | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.clock = clock  # epoch seconds
        # metric math's functions (the core's table: bands, insight rule metrics)
        self.functions = functions if functions is not None else default_functions()
        self._ids: dict[tuple[str, MetricRef], SeriesRef] = {}

    def fetch(self, tenant: str) -> md.Fetch:
        return md.Fetch(self.store, self.retention, tenant, self.clock())

    async def series_ids(
        self, tenant: str, metrics: Sequence[MetricRef]
    ) -> dict[MetricRef, SeriesRef]:
        out: dict[MetricRef, SeriesRef] = {}
        wanted: set[MetricRef] = set()
        for metric in metrics:
            ref = self._ids.get((tenant, metric))
            if ref is not None:
                out[metric] = ref
            else:
                wanted.add(metric)
        if not wanted:
            return out
        specs = {m: md.MetricSpec(m.namespace, m.name, m.dimensions) for m in wanted}
        found = await md.exact_series_many(self.store, tenant, list(specs.values()))
        for metric, spec in specs.items():
            ref = found.get(md.series_key(spec))
            if ref is not None:
                self._ids[(tenant, metric)] = ref
                out[metric] = ref
        return out

    async def windows(
        self,
        tenant: str,
        refs: Sequence[SeriesRef],
        stat: str,
        period: int,
        unit: str | None,
        window: Window,
    ) -> dict[int, Floats]:
        """series id → values on the window's grid (NaN: no data point)."""
        return await md.statistic_series(
            self.fetch(tenant),
            list(refs),
            md.check_stat(stat),
            period,
            window.start,
            window.end,
            unit,
        )

    async def math(
        self, tenant: str, queries: Sequence[MathQuery], wanted: Sequence[str], window: Window
    ) -> dict[str, Floats]:
        """Values of the ``wanted`` query ids on the window's grid."""
        request = [
            md.MetricQuery(
                id=q.id,
                metric=md.MetricSpec(q.metric.namespace, q.metric.name, q.metric.dimensions)
                if q.metric is not None
                else None,
                stat=q.stat,
                unit=q.unit,
                period=q.period,
                expression=q.expression,
                label=q.label,
                return_data=q.id in wanted,
            )
            for q in queries
        ]
        results = await md.get_metric_data(
            self.fetch(tenant), request, window.start, window.end, functions=self.functions
        )
        stamps = window.stamps()
        index = {t: i for i, t in enumerate(stamps)}
        out: dict[str, Floats] = {q: np.full(len(stamps), math.nan) for q in wanted}
        for result in results:
            values = out.get(result.id)
            if values is None:
                continue
            for t, v in zip(result.timestamps, result.values, strict=True):
                i = index.get(t)
                if i is not None:
                    values[i] = v
        return out


def metric_query(q: dict[str, Any]) -> MathQuery:
    """A PutMetricAlarm ``Metrics`` entry (boto3 shape) as a ``MathQuery``."""
    stat = q.get("MetricStat")
    metric = None
    if stat is not None:
        m = stat["Metric"]
        metric = MetricRef(
            m["Namespace"],
            m["MetricName"],
            tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", []))),
        )
    return MathQuery(
        id=q["Id"],
        metric=metric,
        stat=stat["Stat"] if stat else None,
        period=(stat["Period"] if stat else q.get("Period")),
        unit=stat.get("Unit") if stat else None,
        expression=q.get("Expression"),
        label=q.get("Label"),
        return_data=q.get("ReturnData", True),
    )
