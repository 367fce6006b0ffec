"""vigil watching itself (``vigil.selfwatch``): every ``--self-metrics-interval`` seconds
its own counters go to namespace ``vigil`` (read by the ``vigil`` dashboard and by PromQL:
the only self-monitoring path) and its log lines to ``/vigil/server``, through its own
pipeline; kept in memory while the store is idle. Off with ``--no-self-metrics`` (then
this pillar has no task)."""

from __future__ import annotations

import asyncio

from vigil.model.common import DEFAULT_TENANT
from vigil.pillar import Core, Pillar
from vigil.selfwatch import LOG_GROUP, SelfWatch, drop_log_buffer, log_buffer
from vigil.tasks import Task


def build(core: Core) -> Pillar:
    cfg = core.config
    if not cfg.self_metrics:
        return Pillar(name="selfwatch")
    watch = SelfWatch(
        core.metrics,
        core.pipeline,
        core.clock,
        log_buffer(),
        activity=core.store.activity,
        settle=core.store.barrier,
    )

    async def start() -> None:
        # The log group exists from the start: the vigil dashboard's log widget reads it.
        await asyncio.to_thread(
            core.registry.ensure, {(DEFAULT_TENANT, LOG_GROUP, watch.stream)}, "api"
        )

    async def run() -> None:
        await watch.pass_once()

    async def stop() -> None:
        drop_log_buffer()

    return Pillar(
        name="selfwatch",
        tasks=[Task("self-metrics", run, cfg.self_metrics_interval)],
        on_start=[start],
        on_stop=[stop],
    )
