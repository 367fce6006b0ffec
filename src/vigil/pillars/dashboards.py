"""The dashboards pillar: CloudWatch PutDashboard/GetDashboard/ListDashboards/
DeleteDashboards (a service object of the ``cloudwatch`` model, merged by the front door
with the metrics operations), the UI's ``/api/v1/dashboards``, and dashboards as taggable
CloudWatch resources, and ``/api/v1/alarms`` (alarm states for alarm widgets). With
self-metrics on, it creates the built-in ``vigil`` dashboard
at start (a user's edits to it are kept)."""

from __future__ import annotations

import asyncio

from vigil.api.alarms_v1 import AlarmsApi
from vigil.api.aws.dashboards import DashboardsService
from vigil.api.dashboards_v1 import DashboardsApi
from vigil.model.common import DEFAULT_TENANT
from vigil.pillar import Core, Pillar
from vigil.selfwatch import DASHBOARD as SELF_DASHBOARD
from vigil.selfwatch import dashboard_body as self_dashboard
from vigil.state.alarms import AlarmStore
from vigil.state.dashboards import Dashboards
from vigil.state.metrictags import TagStore


def build(core: Core) -> Pillar:
    cfg = core.config
    dashboards = Dashboards(core.state, lambda: core.clock() // 10**6)
    service = DashboardsService(
        dashboards, TagStore(core.state, core.cloudwatch_resources), core.cloudwatch_resources
    )
    api = DashboardsApi(
        dashboards,
        core.store,
        core.metrics,
        cfg.metric_retention,
        clock=core.clock,
        search_limit=cfg.metric_search_limit,
        # the server's metric math (ANOMALY_DETECTION_BAND, INSIGHT_RULE_METRIC) in widgets
        functions=core.metric_functions,
    )

    async def start() -> None:
        if cfg.self_metrics:
            await asyncio.to_thread(
                dashboards.put_if_absent, DEFAULT_TENANT, SELF_DASHBOARD, self_dashboard()
            )

    # Alarm states as the UI reads them (alarm widgets, the home page's firing alarms).
    alarms = AlarmsApi(AlarmStore(core.state))
    return Pillar(
        name="dashboards",
        routes=[*api.routes(), *alarms.routes()],
        aws_services=[service],
        on_start=[start],
    )
