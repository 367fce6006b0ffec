"""Scheduled Logs Insights queries (CreateScheduledQuery … GetScheduledQueryHistory).

A scheduled query runs its query string over ``[now - startTimeOffset, now -
endTimeOffset]`` (seconds; by default one schedule period ending now) each time its
``scheduleExpression`` falls due. Each run is kept (the newest ``vigil:keep-runs`` runs,
default 20): GetScheduledQueryHistory lists them and GetQueryResults answers for their
``queryId``. A run can publish a numeric result column as a metric, so that alarms can
watch it; the scheduled query's tags say how:
  ``vigil:metric-namespace``, ``vigil:metric-name``, ``vigil:metric-value-field`` (required),
  ``vigil:metric-dimension-fields`` (comma-separated result columns), ``vigil:metric-unit``.
One point per result row, at the run's time. ``tick(now_ns)`` runs what is due; the
server calls it every ``interval`` seconds with its (injected) clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from vigil.api.aws.interface import AwsError, RequestContext
from vigil.ingest.logmetrics import number
from vigil.model.metrics import CLOUDWATCH_UNITS, METRICS_TABLE, MetricColumns, PointKind
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import QueryRequest, execute
from vigil.rules.schedule import ScheduleError, due, parse_schedule
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import AlreadyExists, LogsCatalog
from vigil.store.interface import QueryTimeout, Store, StoreError, Writer

log = logging.getLogger(__name__)

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


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _missing() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified scheduled query does not exist.")


class ScheduledQueries:
    def __init__(
        self,
        store: Store,
        catalog: LogsCatalog,
        registry: LogGroupRegistry,
        writer: Writer,
        clock: Callable[[], int],
        timeout: float = 300.0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._registry = registry
        self._writer = writer
        self._clock = clock
        self.timeout = timeout
        self._lock = asyncio.Lock()

    def _now_ms(self) -> int:
        return self._clock() // 1_000_000

    # --- API ------------------------------------------------------------------------------

    def _check(self, spec: dict[str, Any]) -> None:
        if spec.get("queryLanguage", "CWLI") != "CWLI":
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

    @staticmethod
    def _arn(ctx: RequestContext, name: str) -> str:
        return ctx.arn("logs", f"scheduled-query:{name}")

    @staticmethod
    def _name(identifier: str) -> str:
        if identifier.startswith("arn:"):
            return identifier.rsplit(":", 1)[-1]
        return identifier

    async def create(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        spec = {k: p[k] for k in _SPEC_KEYS if k in p}
        spec.setdefault("state", "ENABLED")
        self._check(spec)
        try:
            await asyncio.to_thread(
                self._catalog.put_scheduled_query, ctx.tenant, p["name"], spec, True, self._now_ms()
            )
        except AlreadyExists:
            raise AwsError(
                "ConflictException", f"A scheduled query named {p['name']} already exists."
            ) from None
        return {"scheduledQueryArn": self._arn(ctx, p["name"]), "state": spec["state"]}

    async def update(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = self._name(p["identifier"])
        current = await self._find(ctx.tenant, name)
        spec = {**current.spec, **{k: p[k] for k in _SPEC_KEYS if k in p}}
        self._check(spec)
        await asyncio.to_thread(
            self._catalog.put_scheduled_query, ctx.tenant, name, spec, False, self._now_ms()
        )
        return await self.get(name, ctx)

    async def _find(self, tenant: str, name: str) -> Any:
        for _, row in await asyncio.to_thread(self._catalog.scheduled_queries, tenant):
            if row.name == name:
                return row
        raise _missing()

    def _describe(self, ctx: RequestContext, row: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheduledQueryArn": self._arn(ctx, row.name),
            "name": row.name,
            "scheduleType": "CUSTOMER_MANAGED",
            "creationTime": row.created_ms,
            "lastUpdatedTime": row.updated_ms,
        }
        out.update({k: v for k, v in row.spec.items() if k != "tags"})
        out.setdefault("queryLanguage", "CWLI")
        if row.last_triggered_ms is not None:
            out["lastTriggeredTime"] = row.last_triggered_ms
        if row.last_status is not None:
            out["lastExecutionStatus"] = row.last_status
        return out

    async def get(self, identifier: str, ctx: RequestContext) -> dict[str, Any]:
        return self._describe(ctx, await self._find(ctx.tenant, self._name(identifier)))

    async def list_queries(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        rows = [r for _, r in await asyncio.to_thread(self._catalog.scheduled_queries, ctx.tenant)]
        if p.get("state"):
            rows = [r for r in rows if r.spec.get("state") == p["state"]]
        offset = int(p.get("nextToken") or 0) if str(p.get("nextToken") or "0").isdigit() else 0
        limit = p.get("maxResults", 1000)
        page = rows[offset : offset + limit]
        keys = (
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
        out: dict[str, Any] = {
            "scheduledQueries": [
                {k: v for k, v in self._describe(ctx, r).items() if k in keys} for r in page
            ]
        }
        if offset + limit < len(rows):
            out["nextToken"] = str(offset + limit)
        return out

    async def delete(self, identifier: str, ctx: RequestContext) -> dict[str, Any]:
        if not await asyncio.to_thread(
            self._catalog.delete_scheduled_query, ctx.tenant, self._name(identifier)
        ):
            raise _missing()
        return {}

    async def history(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = self._name(p["identifier"])
        await self._find(ctx.tenant, name)
        runs = await asyncio.to_thread(self._catalog.runs, ctx.tenant, name)
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

    # --- running ----------------------------------------------------------------------------

    async def tick(self, now_ns: int | None = None) -> int:
        """Run every enabled scheduled query that fell due; returns how many ran."""
        now_ms = (self._clock() if now_ns is None else now_ns) // 1_000_000
        ran = 0
        async with self._lock:
            for tenant, row in await asyncio.to_thread(self._catalog.scheduled_queries):
                spec = row.spec
                if spec.get("state", "ENABLED") != "ENABLED":
                    continue
                if spec.get("scheduleStartTime") and now_ms < int(spec["scheduleStartTime"]):
                    continue
                if spec.get("scheduleEndTime") and now_ms > int(spec["scheduleEndTime"]):
                    continue
                last = (
                    row.last_triggered_ms if row.last_triggered_ms is not None else row.created_ms
                )
                try:
                    if not due(parse_schedule(spec["scheduleExpression"]), last, now_ms):
                        continue
                except ScheduleError:
                    continue
                await self.run(tenant, row.name, spec, now_ms)
                ran += 1
        return ran

    async def run_now(self, tenant: str, name: str) -> str:
        row = await self._find(tenant, name)
        return await self.run(tenant, name, row.spec, self._now_ms())

    async def run(self, tenant: str, name: str, spec: dict[str, Any], now_ms: int) -> str:
        query_id = str(uuid.uuid4())
        schedule = parse_schedule(spec["scheduleExpression"])
        start_offset = int(spec.get("startTimeOffset") or schedule.period_ms() // 1000)
        end_offset = int(spec.get("endTimeOffset") or 0)
        known = {g.name for g in await asyncio.to_thread(self._registry.groups, tenant)}
        groups = [
            g.split(":log-group:")[-1].removesuffix(":*") for g in spec["logGroupIdentifiers"]
        ]
        status, error, result = "Complete", None, {}
        try:
            missing = [g for g in groups if g not in known]
            if missing:
                raise QueryError(f"log group {missing[0]} does not exist")
            request = QueryRequest(
                tenant=tenant,
                query_string=spec["queryString"],
                query=parse_query(spec["queryString"]),
                groups=groups,
                start_ms=now_ms - start_offset * 1000,
                end_ms=now_ms - end_offset * 1000,
            )
            outcome = await asyncio.wait_for(
                execute(self._store, request, self.timeout), self.timeout
            )
            result = {
                "results": [[{"field": f, "value": v} for f, v in row] for row in outcome.rows],
                "statistics": outcome.statistics,
            }
            await self._publish(tenant, spec.get("tags") or {}, outcome.rows, now_ms)
        except QueryError as exc:
            status, error = "InvalidQuery", exc.message
        except (TimeoutError, QueryTimeout):
            status, error = "Timeout", f"the query ran over {self.timeout:g} s"
        except (StoreError, Exception) as exc:  # a run must never stop the scheduler
            log.exception("scheduled query %s failed", name)
            status, error = "Failed", str(exc).splitlines()[0][:500] if str(exc) else "failed"
        keep = _keep(spec.get("tags") or {})
        await asyncio.to_thread(
            self._catalog.record_run, tenant, name, query_id, now_ms, status, error, result, keep
        )
        return query_id

    async def _publish(
        self, tenant: str, tags: dict[str, str], rows: list[list[tuple[str, str]]], now_ms: int
    ) -> None:
        name = tags.get("vigil:metric-name")
        if not name:
            return
        field = tags["vigil:metric-value-field"]
        dim_fields = [d.strip() for d in tags.get("vigil:metric-dimension-fields", "").split(",")]
        unit = tags.get("vigil:metric-unit", "None")
        cols = MetricColumns()
        for row in rows:
            values = dict(row)
            value = number(values.get(field))
            if value is None:
                continue
            dims = sorted((d, values[d]) for d in dim_fields if d and d in values)
            cols.add(
                tenant=tenant,
                namespace=tags["vigil:metric-namespace"],
                name=name,
                dimensions=dims,
                unit=unit if unit in CLOUDWATCH_UNITS else "None",
                timestamp=now_ms * 1_000_000,
                kind=PointKind.SAMPLE,
                value=value,
                metric_type="cloudwatch",
            )
        if len(cols):
            await self._writer.write({METRICS_TABLE: cols.to_arrow()})


def _keep(tags: dict[str, str]) -> int:
    try:
        return max(1, min(1000, int(tags.get("vigil:keep-runs", DEFAULT_KEEP_RUNS))))
    except ValueError:
        return DEFAULT_KEEP_RUNS
