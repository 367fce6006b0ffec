"""The traces pillar: the X-Ray API, the X-Ray daemon (UDP segments; the SDKs' sampling
calls over TCP on the same port), the service map and its background catch-up, the
``/api/v1`` trace routes of its own, and the expiry of span day partitions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from vigil.api.app import build_app
from vigil.api.aws.dispatch import AwsDispatcher
from vigil.api.aws.internal import XRayInternalRefusals
from vigil.api.aws.xray import SAMPLING_OPERATIONS, XRayService
from vigil.api.aws.xray_groups import XRayGroupsService
from vigil.api.v1_traces import TracesApi
from vigil.auth import Authenticator
from vigil.ingest.xray import ServiceNames
from vigil.ingest.xray_daemon import XRayDaemon, bind_pair
from vigil.pillar import Core, Pillar
from vigil.query.traces.servicegraph import (
    BACKGROUND_SHARE_K,
    CATCH_UP_INTERVAL,
    ServiceGraphKeeper,
)
from vigil.state.sampling import SamplingRules
from vigil.state.xray_groups import XRayGroups
from vigil.store.retention import drop_expired_partitions
from vigil.tasks import Task

SPAN_TABLES = ("spans", "trace_summary", "xray_in_progress", "service_graph")


@dataclass(eq=False)
class TracesPillar(Pillar):
    sampling: SamplingRules | None = None
    xray: XRayService | None = None
    graph: ServiceGraphKeeper | None = None
    daemon: XRayDaemon | None = None


def build(core: Core) -> TracesPillar:
    cfg = core.config
    sampling = SamplingRules(core.state, clock=core.clock)
    names = ServiceNames()
    graph = ServiceGraphKeeper(
        core.store, max_age_ns=cfg.trace_retention_days * 86400 * 10**9, clock=core.clock
    )
    groups = XRayGroups(core.state, clock=core.clock)
    xray = XRayService(
        core.pipeline,
        core.store,
        sampling,
        core.metrics,
        names,
        clock=core.clock,
        graph=graph,
        groups=groups,
    )
    xray_groups = XRayGroupsService(core.store, groups, graph)
    api = TracesApi(core.store, core.metrics, clock=core.clock, graph=graph)
    daemon = (
        XRayDaemon(core.pipeline, core.metrics, names, clock=core.clock)
        if cfg.xray_port is not None
        else None
    )

    async def start_daemon() -> None:
        """UDP segments and, on the same port number over TCP, the SDKs' sampling calls."""
        assert daemon is not None
        assert cfg.xray_port is not None
        udp, tcp = bind_pair(cfg.host, cfg.xray_port)
        await daemon.start(udp)
        # SDKs cannot authenticate to a daemon: the TCP side serves only the sampling calls.
        no_auth = Authenticator([])
        sampling_api = AwsDispatcher(
            [xray], no_auth, {}, metrics=core.metrics, only=SAMPLING_OPERATIONS
        )
        app = build_app(sampling_api.routes(), no_auth, core.is_ready)
        core.addresses["xray"] = await core.listeners.open(
            "xray", app, cfg.host, cfg.xray_port, sock=tcp
        )

    async def stop_daemon() -> None:
        # After the listeners: the daemon hands what it received to the pipeline.
        assert daemon is not None
        await daemon.stop()

    async def catch_up() -> bool:
        return await graph.catch_up_pass(slots=3)

    async def retention() -> None:
        days = dict.fromkeys(SPAN_TABLES, cfg.trace_retention_days)
        await asyncio.to_thread(drop_expired_partitions, core.store, days, core.clock())

    return TracesPillar(
        name="traces",
        routes=api.routes(),
        aws_services=[xray, xray_groups, XRayInternalRefusals()],
        tasks=[
            Task("service-graph", catch_up, CATCH_UP_INTERVAL, busy_ratio=BACKGROUND_SHARE_K),
            Task("trace-retention", retention, cfg.retention_interval),
        ],
        on_start=[start_daemon] if daemon is not None else [],
        on_stop=[stop_daemon] if daemon is not None else [],
        sampling=sampling,
        xray=xray,
        graph=graph,
        daemon=daemon,
    )
