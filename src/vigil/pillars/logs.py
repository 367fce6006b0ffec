"""The logs pillar: CloudWatch Logs (metric filters and EMF at ingest, Logs Insights,
scheduled queries), the ``/api/v1/logs/…`` query routes, and log retention."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from vigil.api.aws.interface import AwsService
from vigil.api.aws.internal import LogsInternalRefusals
from vigil.api.aws.logs import logs_services
from vigil.api.aws.logs.scheduled import CatalogRules, insights_query
from vigil.api.logs_v1 import LogsApi
from vigil.ingest.interface import Decoded
from vigil.ingest.logmetrics import MetricFilterProcessor, emf_metrics
from vigil.model.metrics import MetricColumns
from vigil.pillar import Core, Pillar
from vigil.query.insights.runner import QueryRegistry
from vigil.rules.scheduled_queries import ScheduledQueryManager
from vigil.state.logs import LogsCatalog
from vigil.store.retention import enforce_log_retention
from vigil.tasks import Task


@dataclass(eq=False)
class LogsPillar(Pillar):
    catalog: LogsCatalog | None = None
    filters: MetricFilterProcessor | None = None
    queries: QueryRegistry | None = None
    scheduled: ScheduledQueryManager | None = None
    services: list[AwsService] | None = None


def build(core: Core) -> LogsPillar:
    cfg = core.config
    catalog = LogsCatalog(core.state)
    filters = MetricFilterProcessor(core.metrics)
    # Every log batch, whatever its protocol, goes through the metric filters and EMF.
    core.pipeline.log_processors.extend([filters, emf_metrics])
    queries = QueryRegistry(
        core.store,
        clock=lambda: core.clock() / 1e9,
        timeout=cfg.insights_timeout,
        metrics=core.metrics,
    )
    pipeline = core.pipeline

    async def publish(points: MetricColumns) -> None:
        # Scheduled queries' metrics are written like any other: through the pipeline.
        await pipeline.accept(Decoded(signal="metrics", metrics=points))

    scheduled = ScheduledQueryManager(
        CatalogRules(catalog),
        insights_query(core.store, core.registry, cfg.insights_timeout),
        publish,
        core.clock,
        timeout=cfg.insights_timeout,
    )
    services = logs_services(
        core.store,
        catalog,
        core.registry,
        core.pipeline,
        queries,
        filters,
        core.metrics,
        clock=core.clock,
        running=core.is_ready,
    )
    api = LogsApi(core.store, core.registry, queries, scheduled, clock=core.clock)

    async def load_filters() -> None:
        # Before any listener opens: no log batch is ingested without its filters.
        filters.load(await asyncio.to_thread(catalog.metric_filters))

    async def scheduled_pass() -> None:
        await scheduled.tick()

    async def retention_pass() -> None:
        now = core.clock()
        await asyncio.to_thread(
            enforce_log_retention, core.store, core.registry.groups, cfg.log_retention_days, now
        )
        core.metrics.retention_deleted.inc()

    return LogsPillar(
        name="logs",
        routes=api.routes(),
        aws_services=[*services, LogsInternalRefusals()],
        tasks=[
            Task("log-retention", retention_pass, cfg.retention_interval),
            Task("scheduled-queries", scheduled_pass, cfg.scheduled_query_interval),
        ],
        on_start=[load_filters],
        on_stop=[queries.close],
        catalog=catalog,
        filters=filters,
        queries=queries,
        scheduled=scheduled,
        services=services,
    )
