"""The metrics pillar: the CloudWatch metrics API (PutMetricData, GetMetricData, …) and
the expiry of metric rollups and day partitions."""

from __future__ import annotations

import asyncio

from vigil.api.aws.cloudwatch import CloudWatchService
from vigil.pillar import Core, Pillar
from vigil.state.metrictags import TagStore
from vigil.store.retention import drop_expired_partitions, expire_metric_rollups
from vigil.tasks import Task


def build(core: Core) -> Pillar:
    cfg = core.config
    cloudwatch = CloudWatchService(
        core.pipeline,
        core.store,
        TagStore(core.state, core.cloudwatch_resources),
        cfg.metric_retention,
        core.metrics,
        clock=core.clock,
        search_limit=cfg.metric_search_limit,
        functions=core.metric_functions,
    )

    def retention_pass(now: int) -> None:
        # Day-partitioned metric tables only: standard-resolution raw rows and the 1-minute
        # rollup live as long as one-minute data; the weekly and monthly partitions of the
        # coarser rollups expire by TTL.
        minute_days = -(-cfg.metric_retention.minute // 86400)
        expire_metric_rollups(core.store, cfg.metric_retention, now)
        drop_expired_partitions(
            core.store, {"metrics": minute_days, "metric_rollup_1m": minute_days}, now
        )

    async def retention() -> None:
        await asyncio.to_thread(retention_pass, core.clock())

    return Pillar(
        name="metrics",
        aws_services=[cloudwatch],
        tasks=[Task("metric-retention", retention, cfg.retention_interval)],
    )
