"""CloudWatch Logs scheduled queries: CreateScheduledQuery … GetScheduledQueryHistory, and
the adapters that give ``rules.scheduled_queries`` its rules, its query function and its
runs' storage.

A scheduled query is kept as its request (the spec), in the logs catalog. Each run is kept
(the newest ``vigil:keep-runs`` runs, default 20): GetScheduledQueryHistory lists them and
GetQueryResults answers for their ``queryId``. A run can publish a numeric result column
as a metric, so that alarms can watch it; the scheduled query's tags say how:
  ``vigil:metric-namespace``, ``vigil:metric-name``, ``vigil:metric-value-field`` (required),
  ``vigil:metric-dimension-fields`` (comma-separated result columns), ``vigil:metric-unit``.
Errors: ValidationException, ConflictException, ResourceNotFoundException.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.api.aws.interface import AwsError, Handler, RequestContext
from vigil.api.aws.logs.common import QUERY_LANGUAGE, LogsApiBase, paged
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import QueryRequest, execute
from vigil.rules.schedule import ScheduleError, parse_schedule
from vigil.rules.scheduled_queries import (
    InsightsQuery,
    MetricOutput,
    QueryFunc,
    QueryOutcome,
    Run,
    ScheduledQuery,
)
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import AlreadyExists, LogsCatalog, ScheduledQueryRow
from vigil.store.interface import Store

DEFAULT_KEEP_RUNS = 20
_SPEC_KEYS = (
    "description",
    "queryLanguage",
    "queryString",
    "logGroupIdentifiers",
    "scheduleExpression",
    "timezone",
    "startTimeOffset",
    "endTimeOffset",
    "destinationConfiguration",
    "scheduleStartTime",
    "scheduleEndTime",
    "executionRoleArn",
    "state",
    "tags",
)
_SUMMARY_KEYS = (
    "scheduledQueryArn",
    "name",
    "state",
    "scheduleType",
    "lastTriggeredTime",
    "lastExecutionStatus",
    "scheduleExpression",
    "timezone",
    "destinationConfiguration",
    "creationTime",
    "lastUpdatedTime",
)


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _missing() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified scheduled query does not exist.")


def _name(identifier: str) -> str:
    """The name in a scheduled query ARN, or the name itself."""
    if identifier.startswith("arn:"):
        return identifier.rsplit(":", 1)[-1]
    return identifier


@dataclass
class ScheduledQueriesService(LogsApiBase):
    catalog: LogsCatalog
    registry: LogGroupRegistry
    clock: Callable[[], int] = time.time_ns

    def operations(self) -> Mapping[str, Handler]:
        return {
            "CreateScheduledQuery": self.create,
            "UpdateScheduledQuery": self.update,
            "GetScheduledQuery": self.get,
            "ListScheduledQueries": self.list_queries,
            "DeleteScheduledQuery": self.delete,
            "GetScheduledQueryHistory": self.history,
        }

    def _now_ms(self) -> int:
        return self.clock() // 1_000_000

    @staticmethod
    def _arn(ctx: RequestContext, name: str) -> str:
        return ctx.arn("logs", f"scheduled-query:{name}")

    async def create(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        spec = {k: p[k] for k in _SPEC_KEYS if k in p}
        spec.setdefault("state", "ENABLED")
        _check(spec)
        try:
            await asyncio.to_thread(
                self.catalog.put_scheduled_query, ctx.tenant, p["name"], spec, True, self._now_ms()
            )
        except AlreadyExists:
            raise AwsError(
                "ConflictException", f"A scheduled query named {p['name']} already exists."
            ) from None
        return {"scheduledQueryArn": self._arn(ctx, p["name"]), "state": spec["state"]}

    async def update(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = _name(p["identifier"])
        current = await self._find(ctx.tenant, name)
        spec = {**current.spec, **{k: p[k] for k in _SPEC_KEYS if k in p}}
        _check(spec)
        await asyncio.to_thread(
            self.catalog.put_scheduled_query, ctx.tenant, name, spec, False, self._now_ms()
        )
        return self._describe(ctx, await self._find(ctx.tenant, name))

    async def _find(self, tenant: str, name: str) -> ScheduledQueryRow:
        row = await _row(self.catalog, tenant, name)
        if row is None:
            raise _missing()
        return row

    def _describe(self, ctx: RequestContext, row: ScheduledQueryRow) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheduledQueryArn": self._arn(ctx, row.name),
            "name": row.name,
            "scheduleType": "CUSTOMER_MANAGED",
            "creationTime": row.created_ms,
            "lastUpdatedTime": row.updated_ms,
        }
        out.update({k: v for k, v in row.spec.items() if k != "tags"})
        out.setdefault("queryLanguage", QUERY_LANGUAGE)
        if row.last_triggered_ms is not None:
            out["lastTriggeredTime"] = row.last_triggered_ms
        if row.last_status is not None:
            out["lastExecutionStatus"] = row.last_status
        return out

    async def get(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return self._describe(ctx, await self._find(ctx.tenant, _name(p["identifier"])))

    async def list_queries(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        rows = [r for _, r in await asyncio.to_thread(self.catalog.scheduled_queries, ctx.tenant)]
        if p.get("state"):
            rows = [r for r in rows if r.spec.get("state") == p["state"]]
        return paged(
            "scheduledQueries",
            rows,
            p,
            "maxResults",
            1000,
            lambda r: {k: v for k, v in self._describe(ctx, r).items() if k in _SUMMARY_KEYS},
        )

    async def delete(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = _name(p["identifier"])
        if not await asyncio.to_thread(self.catalog.delete_scheduled_query, ctx.tenant, name):
            raise _missing()
        return {}

    async def history(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = _name(p["identifier"])
        await self._find(ctx.tenant, name)
        runs = await asyncio.to_thread(self.catalog.runs, ctx.tenant, name)
        statuses = set(p.get("executionStatuses") or [])
        start = p.get("startTime")
        end = p.get("endTime")
        records = [
            {
                "queryId": r["query_id"],
                "executionStatus": r["status"],
                "triggeredTimestamp": r["triggered_ms"],
                **({"errorMessage": r["error"]} if r["error"] else {}),
                "destinations": [],
            }
            for r in runs
            if (not statuses or r["status"] in statuses)
            and (start is None or r["triggered_ms"] >= int(start))
            and (end is None or r["triggered_ms"] <= int(end))
        ]
        return {
            "name": name,
            "scheduledQueryArn": self._arn(ctx, name),
            "triggerHistory": records[: p.get("maxResults", 1000)],
        }


def _check(spec: dict[str, Any]) -> None:
    if spec.get("queryLanguage", QUERY_LANGUAGE) != QUERY_LANGUAGE:
        raise _invalid("vigil runs the Logs Insights query language (CWLI) only.")
    try:
        parse_query(spec["queryString"])
    except QuerySyntaxError as exc:
        raise _invalid(f"Invalid query: {exc.message}") from None
    try:
        parse_schedule(spec["scheduleExpression"])
    except ScheduleError as exc:
        raise _invalid(str(exc)) from None
    if not spec.get("logGroupIdentifiers"):
        raise _invalid("logGroupIdentifiers must name at least one log group.")
    tags = spec.get("tags") or {}
    if "vigil:metric-name" in tags and not (
        tags.get("vigil:metric-namespace") and tags.get("vigil:metric-value-field")
    ):
        raise _invalid(
            "vigil:metric-name needs vigil:metric-namespace and vigil:metric-value-field"
        )


async def _row(catalog: LogsCatalog, tenant: str, name: str) -> ScheduledQueryRow | None:
    for _, row in await asyncio.to_thread(catalog.scheduled_queries, tenant):
        if row.name == name:
            return row
    return None


# --- the adapters the wiring gives rules.scheduled_queries ------------------------------


def rule_of(tenant: str, row: ScheduledQueryRow) -> ScheduledQuery:
    """The rule a stored request describes (``ScheduleError`` if its schedule is bad)."""
    spec = row.spec
    tags = spec.get("tags") or {}
    output = None
    if tags.get("vigil:metric-name"):
        dims = tags.get("vigil:metric-dimension-fields", "").split(",")
        output = MetricOutput(
            namespace=tags["vigil:metric-namespace"],
            name=tags["vigil:metric-name"],
            value_field=tags["vigil:metric-value-field"],
            dimension_fields=tuple(d.strip() for d in dims if d.strip()),
            unit=tags.get("vigil:metric-unit", "None"),
        )
    start_offset = spec.get("startTimeOffset")
    return ScheduledQuery(
        tenant=tenant,
        name=row.name,
        query_string=spec["queryString"],
        groups=tuple(
            g.split(":log-group:")[-1].removesuffix(":*") for g in spec["logGroupIdentifiers"]
        ),
        schedule=parse_schedule(spec["scheduleExpression"]),
        created_ms=row.created_ms,
        start_offset_s=int(start_offset) if start_offset else None,
        end_offset_s=int(spec.get("endTimeOffset") or 0),
        enabled=spec.get("state", "ENABLED") == "ENABLED",
        start_ms=int(spec["scheduleStartTime"]) if spec.get("scheduleStartTime") else None,
        end_ms=int(spec["scheduleEndTime"]) if spec.get("scheduleEndTime") else None,
        last_triggered_ms=row.last_triggered_ms,
        output=output,
        keep_runs=_keep(tags),
    )


def _keep(tags: dict[str, str]) -> int:
    try:
        return max(1, min(1000, int(tags.get("vigil:keep-runs", DEFAULT_KEEP_RUNS))))
    except ValueError:
        return DEFAULT_KEEP_RUNS


class CatalogRules:
    """The rules' ``RuleStore``: the logs catalog, where the API keeps the requests."""

    def __init__(self, catalog: LogsCatalog) -> None:
        self._catalog = catalog

    async def rules(self) -> Sequence[ScheduledQuery]:
        out = []
        for tenant, row in await asyncio.to_thread(self._catalog.scheduled_queries):
            try:
                out.append(rule_of(tenant, row))
            except ScheduleError:  # refused at create; skipped if it was stored anyway
                continue
        return out

    async def rule(self, tenant: str, name: str) -> ScheduledQuery | None:
        row = await _row(self._catalog, tenant, name)
        return None if row is None else rule_of(tenant, row)

    async def record(self, rule: ScheduledQuery, run: Run) -> None:
        # Kept as GetQueryResults answers it.
        result: dict[str, Any] = {}
        if run.status == "Complete":
            result = {
                "results": [[{"field": f, "value": v} for f, v in row] for row in run.rows],
                "statistics": run.statistics,
            }
        await asyncio.to_thread(
            self._catalog.record_run,
            rule.tenant,
            rule.name,
            run.query_id,
            run.triggered_ms,
            run.status,
            run.error,
            result,
            rule.keep_runs,
        )


def insights_query(store: Store, registry: LogGroupRegistry, timeout: float) -> QueryFunc:
    """The rules' ``QueryFunc``: Logs Insights on the store, over existing log groups."""

    async def run(q: InsightsQuery) -> QueryOutcome:
        known = {g.name for g in await asyncio.to_thread(registry.groups, q.tenant)}
        missing = [g for g in q.groups if g not in known]
        if missing:
            raise QueryError(f"log group {missing[0]} does not exist")
        request = QueryRequest(
            tenant=q.tenant,
            query_string=q.query_string,
            query=parse_query(q.query_string),
            groups=list(q.groups),
            start_ms=q.start_ms,
            end_ms=q.end_ms,
        )
        result = await execute(store, request, timeout)
        return QueryOutcome(result.rows, result.statistics)

    return run
