"""The ``/api/v1`` read API over the three signals (logs, metric series and datapoints,
traces): one module shared by the logs, metrics and traces pillars' data."""

from __future__ import annotations

from vigil.api.metrics_browse_v1 import MetricsBrowseApi
from vigil.api.v1 import ReadApi
from vigil.pillar import Core, Pillar


def build(core: Core) -> Pillar:
    api = ReadApi(
        core.store,
        core.registry,
        core.metrics,
        clock=core.clock,
        metric_retention=core.config.metric_retention,
        metric_search_limit=core.config.metric_search_limit,
        metric_functions=core.metric_functions,
    )
    # the metrics explorer's namespaces and metric names
    browse = MetricsBrowseApi(core.store).routes()
    return Pillar(name="read-api", routes=[*api.routes(), *browse])
