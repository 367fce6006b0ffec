"""The PromQL pillar: Prometheus' HTTP query API at ``/prometheus/api/v1`` over every
metric vigil stores (the mapping is in ``vigil.query.promql.names``)."""

from __future__ import annotations

from vigil.api.prometheus import PrometheusApi
from vigil.pillar import Core, Pillar


def build(core: Core) -> Pillar:
    api = PrometheusApi(core.store, clock=core.clock, metrics=core.metrics)
    return Pillar(name="promql", routes=api.routes())
