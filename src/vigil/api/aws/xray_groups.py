"""X-Ray groups and the per-period statistics Grafana's X-Ray data source reads, on the
X-Ray model beside ``xray.XRayService`` (the front door merges the tables):

* GetGroups, GetGroup, CreateGroup, UpdateGroup, DeleteGroup — groups kept in the state
  database (``state.xray_groups``); a filter expression is parsed and compiled before it
  is kept (``InvalidRequestException`` naming the position otherwise);
* GetTimeSeriesServiceStatistics — per period (a multiple of 60 s, default 60) the
  statistics of one entity (``query.traces.timeseries``), of a group's traces when one is
  named; 60 periods a page (``NextToken``);
* GetInsightSummaries — vigil does not compute X-Ray Insights (anomaly detection over the
  service graph), so no group has any: the answer is an empty, well-formed list.
  Groups with ``InsightsEnabled`` are refused for the same reason.

A named group scopes a graph to its filter's traces: the newest ``GROUP_TRACES`` traces
of the window that match it (``group_trace_ids``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vigil.api import pagetoken
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.model.xray import parse_trace_id
from vigil.query import traces as xq
from vigil.query.traces.servicegraph import ServiceGraphKeeper
from vigil.query.traces.timeseries import parse_selector, period_statistics
from vigil.query.xrayfilter import FilterError, compile_filter, parse
from vigil.state.xray_groups import DEFAULT_GROUP, Group, GroupError, XRayGroups
from vigil.store.interface import Store

INVALID = "InvalidRequestException"
GROUP_TRACES = 10_000
PERIODS_PAGE = 60
MAX_PERIODS = 24 * 60  # one day of one-minute periods a request


def _ns(value: datetime) -> int:
    return int(value.timestamp() * 1e9)


class XRayGroupsService(AwsService):
    model = "xray"
    validation_error = INVALID
    throttling_error = ("ThrottledException", 429)
    unavailable_error = "ServiceUnavailable"

    def __init__(
        self, store: Store, groups: XRayGroups, graph: ServiceGraphKeeper | None = None
    ) -> None:
        self._store = store
        self._groups = groups
        self._graph = graph

    def operations(self) -> Mapping[str, Handler]:
        return {
            "GetGroups": self._get_groups,
            "GetGroup": self._get_group,
            "CreateGroup": self._create_group,
            "UpdateGroup": self._update_group,
            "DeleteGroup": self._delete_group,
            "GetTimeSeriesServiceStatistics": self._time_series,
            "GetInsightSummaries": self._insight_summaries,
        }

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, GroupError):
            return AwsError(exc.code, exc.message)
        if isinstance(exc, FilterError):
            return AwsError(INVALID, f"invalid expression: {exc}")
        return None

    # --- groups ------------------------------------------------------------------------

    def _record(self, group: Group, ctx: RequestContext) -> dict[str, Any]:
        resource = "group/Default" if not group.group_id else f"group/{group.name}/{group.group_id}"
        out: dict[str, Any] = {
            "GroupName": group.name,
            "GroupARN": ctx.arn("xray", resource),
            "InsightsConfiguration": {
                "InsightsEnabled": group.insights_enabled,
                "NotificationsEnabled": group.notifications_enabled,
            },
        }
        if group.filter_expression:
            out["FilterExpression"] = group.filter_expression
        return out

    def _name(self, params: dict[str, Any], ctx: RequestContext) -> str:
        return group_name(params, ctx)

    async def _get_groups(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if params.get("NextToken"):
            # Every group fits one page (at most 26): no token is ever handed out.
            raise AwsError(INVALID, "NextToken is not a token this API returned")
        groups = await asyncio.to_thread(self._groups.groups, ctx.tenant)
        return {"Groups": [self._record(g, ctx) for g in groups]}

    async def _get_group(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = await asyncio.to_thread(self._groups.get, ctx.tenant, self._name(params, ctx))
        return {"Group": self._record(group, ctx)}

    @staticmethod
    def _filter(params: dict[str, Any]) -> str | None:
        raw = params.get("FilterExpression")
        if raw is None:
            return None
        text = str(raw).strip()
        if text:
            compile_filter(parse(text))  # refuses what GetTraceSummaries would refuse
        return text

    @staticmethod
    def _insights(params: dict[str, Any]) -> tuple[bool | None, bool | None]:
        config = params.get("InsightsConfiguration") or {}
        enabled = config.get("InsightsEnabled")
        notify = config.get("NotificationsEnabled")
        if enabled or notify:
            raise AwsError(
                INVALID,
                "X-Ray Insights are not supported by vigil: InsightsEnabled and"
                " NotificationsEnabled must be false",
            )
        return enabled, notify

    async def _create_group(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if params.get("Tags"):
            raise AwsError(INVALID, "vigil keeps no tags on X-Ray groups: leave Tags out")
        enabled, notify = self._insights(params)
        group = Group(
            params["GroupName"], "", self._filter(params) or None, bool(enabled), bool(notify)
        )
        created = await asyncio.to_thread(self._groups.create, ctx.tenant, group)
        return {"Group": self._record(created, ctx)}

    async def _update_group(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = self._name(params, ctx)
        updated = await asyncio.to_thread(
            self._groups.update, ctx.tenant, name, self._filter(params), self._insights(params)
        )
        return {"Group": self._record(updated, ctx)}

    async def _delete_group(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await asyncio.to_thread(self._groups.delete, ctx.tenant, self._name(params, ctx))
        return {}

    # --- statistics --------------------------------------------------------------------

    async def _time_series(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        start, end = int(params["StartTime"].timestamp()), int(params["EndTime"].timestamp())
        if end <= start:
            raise AwsError(INVALID, "EndTime must be after StartTime")
        period = params.get("Period") or 60
        if period <= 0 or period % 60:
            raise AwsError(INVALID, f"Period must be a positive multiple of 60, not {period}")
        if params.get("ForecastStatistics"):
            raise AwsError(INVALID, "vigil does not forecast: ForecastStatistics must be false")
        selector = parse_selector(params.get("EntitySelectorExpression"))
        first = start - start % period
        count = math.ceil((end - first) / period)
        if count > MAX_PERIODS:
            raise AwsError(
                INVALID,
                f"the range holds {count} periods of {period} s; at most {MAX_PERIODS}:"
                " use a longer Period or a shorter range",
            )
        try:
            index = pagetoken.decode(params.get("NextToken") or None, lambda v: isinstance(v, int))
        except pagetoken.BadToken:
            raise AwsError(INVALID, "NextToken is not a token this API returned") from None
        index = index or 0
        periods = [first + i * period for i in range(index, min(count, index + PERIODS_PAGE))]
        trace_ids = await group_trace_ids(
            self._store, self._groups, params, ctx, first * 10**9, end * 10**9
        )
        found = []
        if trace_ids is None or trace_ids:
            found = await period_statistics(
                self._store, ctx.tenant, periods, period, selector, trace_ids, self._graph
            )
        field = (
            "ServiceSummaryStatistics" if selector.kind == "service" else "EdgeSummaryStatistics"
        )
        out: dict[str, Any] = {
            "TimeSeriesServiceStatistics": [
                {
                    "Timestamp": datetime.fromtimestamp(t).astimezone(),
                    field: statistics(stats),
                    "ResponseTimeHistogram": xq.histogram(stats),
                }
                for t, stats in found
            ],
            "ContainsOldGroupVersions": False,
        }
        if index + PERIODS_PAGE < count:
            out["NextToken"] = pagetoken.encode(index + PERIODS_PAGE)
        return out

    async def _insight_summaries(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        if params["EndTime"] <= params["StartTime"]:
            raise AwsError(INVALID, "EndTime must be after StartTime")
        if params.get("GroupName") or params.get("GroupARN"):
            # A named group must exist, as X-Ray checks.
            await asyncio.to_thread(self._groups.get, ctx.tenant, self._name(params, ctx))
        return {"InsightSummaries": []}


def group_name(params: dict[str, Any], ctx: RequestContext) -> str:
    """The group a request names by GroupName or GroupARN (GroupName wins)."""
    name = params.get("GroupName")
    arn = params.get("GroupARN")
    if not name and arn:
        prefix = ctx.arn("xray", "group/")
        if not arn.startswith(prefix):
            raise AwsError(INVALID, f"GroupARN {arn} is not a group of this account")
        name = arn.removeprefix(prefix).split("/", 1)[0]
    if not name:
        raise AwsError(INVALID, "GroupName or GroupARN is required")
    return str(name)


async def group_trace_ids(
    store: Store,
    groups: XRayGroups,
    params: dict[str, Any],
    ctx: RequestContext,
    start_ns: int,
    end_ns: int,
) -> list[str] | None:
    """The hex trace ids of the group a request names, in the window; None: every trace
    (no group named, the Default group, or a group without a filter)."""
    if not params.get("GroupName") and not params.get("GroupARN"):
        return None
    name = group_name(params, ctx)
    if name == DEFAULT_GROUP:
        return None
    group = await asyncio.to_thread(groups.get, ctx.tenant, name)
    if not group.filter_expression:
        return None
    search = xq.SummarySearch(
        tenant=ctx.tenant,
        start_ns=start_ns,
        end_ns=end_ns,
        filter=compile_filter(parse(group.filter_expression)),
        limit=GROUP_TRACES,
    )
    summaries, _ = await xq.search_summaries(store, search)
    ids = (parse_trace_id(s["Id"]) for s in summaries)
    return [raw.hex() for raw in ids if raw is not None]


def statistics(stats: xq.Stats) -> dict[str, Any]:
    """X-Ray's ServiceStatistics / EdgeStatistics of some requests."""
    return {
        "OkCount": stats.ok,
        "ErrorStatistics": {
            "ThrottleCount": stats.throttles,
            "OtherCount": max(0, stats.errors - stats.throttles),
            "TotalCount": stats.errors,
        },
        "FaultStatistics": {"OtherCount": stats.faults, "TotalCount": stats.faults},
        "TotalCount": stats.count,
        "TotalResponseTime": round(stats.total_s, 6),
    }
