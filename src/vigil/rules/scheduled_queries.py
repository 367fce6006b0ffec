"""Scheduled Logs Insights queries as rules: due → run → publish.

A ``ScheduledQuery`` runs its query string over ``[now - start_offset, now - end_offset]``
each time its schedule falls due (``is_due``). ``evaluate`` runs one through the injected
``QueryFunc`` and, when the rule says so, publishes one metric point per result row (at
the run's time) through the injected ``PublishFunc`` (the wiring hands it to the ingest
pipeline, like any other write), so that alarms can watch it. It returns the ``Run``; it
never raises for a failing query (the status says why).

``ScheduledQueryManager.tick()`` is one pass: every enabled rule of the ``RuleStore`` that
fell due by the injected clock is evaluated and its run recorded. It has no loop of its
own: the periodic task runner calls it. Nothing here knows the AWS API (names, ARNs,
error codes): ``api.aws.logs.scheduled`` turns its requests into rules and stores them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vigil.ingest.logmetrics import number
from vigil.model.metrics import CLOUDWATCH_UNITS, MetricColumns, PointKind
from vigil.query.insights.errors import QueryError
from vigil.rules.schedule import Schedule, due
from vigil.store.interface import QueryTimeout

log = logging.getLogger(__name__)

Row = list[tuple[str, str]]  # one result row: (field, value) pairs in column order


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    tenant: str
    query_string: str
    groups: Sequence[str]
    start_ms: int
    end_ms: int  # inclusive


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    rows: list[Row]
    statistics: dict[str, float]


# Runs one Insights query; raises QueryError (the query cannot run: "InvalidQuery"),
# TimeoutError or QueryTimeout ("Timeout"), anything else ("Failed").
QueryFunc = Callable[[InsightsQuery], Awaitable[QueryOutcome]]
# Commits metric points (the wiring: the ingest pipeline).
PublishFunc = Callable[[MetricColumns], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MetricOutput:
    """Publish a numeric result column as a metric: one point per row, dimensions from
    other columns."""

    namespace: str
    name: str
    value_field: str
    dimension_fields: tuple[str, ...] = ()
    unit: str = "None"


@dataclass(frozen=True, slots=True)
class ScheduledQuery:
    tenant: str
    name: str
    query_string: str
    groups: tuple[str, ...]
    schedule: Schedule
    created_ms: int
    start_offset_s: int | None = None  # None: one schedule period
    end_offset_s: int = 0
    enabled: bool = True
    start_ms: int | None = None  # the schedule's own window
    end_ms: int | None = None
    last_triggered_ms: int | None = None
    output: MetricOutput | None = None
    keep_runs: int = 20


@dataclass(frozen=True, slots=True)
class Run:
    query_id: str
    triggered_ms: int
    status: str  # Complete, InvalidQuery, Timeout, Failed
    error: str | None = None
    rows: list[Row] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)


def is_due(rule: ScheduledQuery, now_ms: int) -> bool:
    if not rule.enabled:
        return False
    if rule.start_ms is not None and now_ms < rule.start_ms:
        return False
    if rule.end_ms is not None and now_ms > rule.end_ms:
        return False
    last = rule.last_triggered_ms if rule.last_triggered_ms is not None else rule.created_ms
    return due(rule.schedule, last, now_ms)


async def evaluate(
    rule: ScheduledQuery,
    now_ms: int,
    query: QueryFunc,
    publish: PublishFunc,
    timeout: float,
    query_id: str,
) -> Run:
    """Run ``rule`` once at ``now_ms`` and publish its metric; the run, whatever happened."""
    start_offset = rule.start_offset_s
    if start_offset is None:
        start_offset = rule.schedule.period_ms() // 1000
    request = InsightsQuery(
        rule.tenant,
        rule.query_string,
        rule.groups,
        now_ms - start_offset * 1000,
        now_ms - rule.end_offset_s * 1000,
    )
    try:
        outcome = await asyncio.wait_for(query(request), timeout)
        if rule.output is not None:
            points = metric_points(rule.tenant, rule.output, outcome.rows, now_ms)
            if len(points):
                await publish(points)
    except QueryError as exc:
        return Run(query_id, now_ms, "InvalidQuery", exc.message)
    except (TimeoutError, QueryTimeout):
        return Run(query_id, now_ms, "Timeout", f"the query ran over {timeout:g} s")
    except Exception as exc:  # a run must never stop the scheduler
        log.exception("scheduled query %s failed", rule.name)
        text = str(exc)
        return Run(query_id, now_ms, "Failed", text.splitlines()[0][:500] if text else "failed")
    return Run(query_id, now_ms, "Complete", None, outcome.rows, outcome.statistics)


def metric_points(
    tenant: str, output: MetricOutput, rows: Sequence[Row], now_ms: int
) -> MetricColumns:
    """One point per row whose value column is a number, stamped ``now_ms``."""
    cols = MetricColumns()
    unit = output.unit if output.unit in CLOUDWATCH_UNITS else "None"
    for row in rows:
        values = dict(row)
        value = number(values.get(output.value_field))
        if value is None:
            continue
        dims = sorted((d, values[d]) for d in output.dimension_fields if d in values)
        cols.add(
            tenant=tenant,
            namespace=output.namespace,
            name=output.name,
            dimensions=dims,
            unit=unit,
            timestamp=now_ms * 1_000_000,
            kind=PointKind.SAMPLE,
            value=value,
            metric_type="cloudwatch",
        )
    return cols


class RuleStore(Protocol):
    """Where the rules live and their runs are kept (blocking calls are the store's to
    offload)."""

    async def rules(self) -> Sequence[ScheduledQuery]: ...

    async def rule(self, tenant: str, name: str) -> ScheduledQuery | None: ...

    async def record(self, rule: ScheduledQuery, run: Run) -> None: ...


class UnknownScheduledQuery(KeyError):
    pass


class ScheduledQueryManager:
    """Evaluates the due rules of a ``RuleStore`` each time ``tick`` is called."""

    def __init__(
        self,
        store: RuleStore,
        query: QueryFunc,
        publish: PublishFunc,
        clock: Callable[[], int],
        timeout: float = 300.0,
    ) -> None:
        self._store = store
        self._query = query
        self._publish = publish
        self._clock = clock
        self.timeout = timeout
        self._lock = asyncio.Lock()  # a slow pass and the next one never overlap

    async def tick(self, now_ns: int | None = None) -> int:
        """Evaluate every rule that fell due; returns how many ran."""
        now_ms = (self._clock() if now_ns is None else now_ns) // 1_000_000
        ran = 0
        async with self._lock:
            for rule in await self._store.rules():
                if is_due(rule, now_ms):
                    await self._evaluate(rule, now_ms)
                    ran += 1
        return ran

    async def run_now(self, tenant: str, name: str) -> str:
        """Evaluate one rule now, due or not; returns the run's query id."""
        rule = await self._store.rule(tenant, name)
        if rule is None:
            raise UnknownScheduledQuery(name)
        return (await self._evaluate(rule, self._clock() // 1_000_000)).query_id

    async def _evaluate(self, rule: ScheduledQuery, now_ms: int) -> Run:
        run = await evaluate(
            rule, now_ms, self._query, self._publish, self.timeout, str(uuid.uuid4())
        )
        await self._store.record(rule, run)
        return run
