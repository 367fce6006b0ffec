"""State of the CloudWatch Logs API: log groups and streams created through it, tags,
metric filters, saved query definitions, scheduled queries and the runs they keep.

Log groups and streams live in the core tables (``state.db``); this module adds what the
API needs on top (create, delete, tags) and its own tables. Every method is blocking and
thread-safe: call it from a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from vigil.state.db import METADATA, Migrations, log_groups, log_streams

metric_filters = Table(
    "logs_metric_filters",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("log_group", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("pattern", Text, nullable=False),
    Column("transformations", Text, nullable=False),  # JSON list, as the API takes it
    Column("created_ms", BigInteger, nullable=False),
)

query_definitions = Table(
    "logs_query_definitions",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("query", Text, nullable=False),
    Column("log_groups", Text, nullable=False),  # JSON list
    Column("modified_ms", BigInteger, nullable=False),
)

scheduled_queries = Table(
    "logs_scheduled_queries",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON: the CreateScheduledQuery input
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("last_triggered_ms", BigInteger, nullable=True),
    Column("last_status", String(32), nullable=True),
)

query_runs = Table(
    "logs_query_runs",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("query_id", String(64), primary_key=True),
    Column("scheduled", String(300), nullable=False),  # the scheduled query's name
    Column("triggered_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=False),  # JSON: fields, rows, statistics
)


def _m_logs_0001(conn: Connection) -> None:
    for table in (metric_filters, query_definitions, scheduled_queries, query_runs):
        table.create(conn, checkfirst=True)


def _m_logs_0002(conn: Connection) -> None:
    """log_groups.kms_key_id, on databases whose log_groups predates the column."""
    columns = {c["name"] for c in inspect(conn).get_columns("log_groups")}
    if "kms_key_id" not in columns:
        conn.execute(text("ALTER TABLE log_groups ADD COLUMN kms_key_id VARCHAR(256)"))


MIGRATIONS: Migrations = [
    ("logs_0001_api", _m_logs_0001),
    ("logs_0002_kms_key_id", _m_logs_0002),
]


class AlreadyExists(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StreamRow:
    name: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class MetricFilterRow:
    log_group: str
    name: str
    pattern: str
    transformations: list[dict[str, Any]]
    created_ms: int


@dataclass(frozen=True, slots=True)
class QueryDefinitionRow:
    id: str
    name: str
    query: str
    log_groups: list[str]
    modified_ms: int


@dataclass(frozen=True, slots=True)
class ScheduledQueryRow:
    name: str
    spec: dict[str, Any]
    created_ms: int
    updated_ms: int
    last_triggered_ms: int | None
    last_status: str | None


def _now_ms() -> int:
    return int(time.time() * 1000)


class LogsCatalog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- log groups and streams ---------------------------------------------------------

    def create_group(
        self,
        tenant: str,
        name: str,
        tags: dict[str, str],
        retention_days: int | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    log_groups.insert().values(
                        tenant=tenant,
                        name=name,
                        created_ms=_now_ms(),
                        retention_days=retention_days,
                        origin="api",
                        tags=orjson.dumps(tags).decode(),
                        kms_key_id=kms_key_id,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(name) from None

    def delete_group(self, tenant: str, name: str) -> bool:
        with self._engine.begin() as conn:
            found = conn.execute(
                delete(log_groups).where(
                    and_(log_groups.c.tenant == tenant, log_groups.c.name == name)
                )
            ).rowcount
            conn.execute(
                delete(log_streams).where(
                    and_(log_streams.c.tenant == tenant, log_streams.c.log_group == name)
                )
            )
            conn.execute(
                delete(metric_filters).where(
                    and_(metric_filters.c.tenant == tenant, metric_filters.c.log_group == name)
                )
            )
        return bool(found)

    def tags(self, tenant: str, group: str) -> dict[str, str] | None:
        with self._engine.connect() as conn:
            text = conn.execute(
                select(log_groups.c.tags).where(
                    and_(log_groups.c.tenant == tenant, log_groups.c.name == group)
                )
            ).scalar()
        if text is None:
            return None
        value = orjson.loads(text or "{}")
        return value if isinstance(value, dict) else {}

    def set_tags(self, tenant: str, group: str, tags: dict[str, str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                log_groups.update()
                .where(and_(log_groups.c.tenant == tenant, log_groups.c.name == group))
                .values(tags=orjson.dumps(tags).decode())
            )

    def create_stream(self, tenant: str, group: str, name: str) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    log_streams.insert().values(
                        tenant=tenant, log_group=group, name=name, created_ms=_now_ms()
                    )
                )
        except IntegrityError:
            raise AlreadyExists(name) from None

    def delete_stream(self, tenant: str, group: str, name: str) -> bool:
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(log_streams).where(
                        and_(
                            log_streams.c.tenant == tenant,
                            log_streams.c.log_group == group,
                            log_streams.c.name == name,
                        )
                    )
                ).rowcount
            )

    def streams(self, tenant: str, group: str, prefix: str = "") -> list[StreamRow]:
        query = (
            select(log_streams.c.name, log_streams.c.created_ms)
            .where(and_(log_streams.c.tenant == tenant, log_streams.c.log_group == group))
            .order_by(log_streams.c.name)
        )
        if prefix:
            query = query.where(log_streams.c.name.startswith(prefix, autoescape=True))
        with self._engine.connect() as conn:
            return [StreamRow(r.name, r.created_ms) for r in conn.execute(query)]

    def stream_exists(self, tenant: str, group: str, name: str) -> bool:
        with self._engine.connect() as conn:
            return (
                conn.execute(
                    select(func.count()).where(
                        and_(
                            log_streams.c.tenant == tenant,
                            log_streams.c.log_group == group,
                            log_streams.c.name == name,
                        )
                    )
                ).scalar()
                or 0
            ) > 0

    # --- metric filters -----------------------------------------------------------------

    def put_metric_filter(
        self,
        tenant: str,
        group: str,
        name: str,
        pattern: str,
        transformations: list[dict[str, Any]],
    ) -> None:
        key = and_(
            metric_filters.c.tenant == tenant,
            metric_filters.c.log_group == group,
            metric_filters.c.name == name,
        )
        values = {"pattern": pattern, "transformations": orjson.dumps(transformations).decode()}
        with self._engine.begin() as conn:
            if conn.execute(metric_filters.update().where(key).values(**values)).rowcount:
                return
            conn.execute(
                metric_filters.insert().values(
                    tenant=tenant, log_group=group, name=name, created_ms=_now_ms(), **values
                )
            )

    def delete_metric_filter(self, tenant: str, group: str, name: str) -> bool:
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(metric_filters).where(
                        and_(
                            metric_filters.c.tenant == tenant,
                            metric_filters.c.log_group == group,
                            metric_filters.c.name == name,
                        )
                    )
                ).rowcount
            )

    def metric_filters(self, tenant: str | None = None) -> list[tuple[str, MetricFilterRow]]:
        """(tenant, filter) pairs, by group then name; all tenants when ``tenant`` is None."""
        query = select(metric_filters).order_by(
            metric_filters.c.tenant, metric_filters.c.log_group, metric_filters.c.name
        )
        if tenant is not None:
            query = query.where(metric_filters.c.tenant == tenant)
        with self._engine.connect() as conn:
            return [
                (
                    r.tenant,
                    MetricFilterRow(
                        r.log_group,
                        r.name,
                        r.pattern,
                        orjson.loads(r.transformations),
                        r.created_ms,
                    ),
                )
                for r in conn.execute(query)
            ]

    # --- query definitions ----------------------------------------------------------------

    def put_query_definition(self, tenant: str, row: QueryDefinitionRow, create: bool) -> bool:
        """Insert (``create``) or replace; False when replacing an id that does not exist."""
        values = {
            "name": row.name,
            "query": row.query,
            "log_groups": orjson.dumps(row.log_groups).decode(),
            "modified_ms": row.modified_ms,
        }
        with self._engine.begin() as conn:
            if create:
                conn.execute(query_definitions.insert().values(tenant=tenant, id=row.id, **values))
                return True
            return bool(
                conn.execute(
                    query_definitions.update()
                    .where(
                        and_(query_definitions.c.tenant == tenant, query_definitions.c.id == row.id)
                    )
                    .values(**values)
                ).rowcount
            )

    def query_definitions(self, tenant: str) -> list[QueryDefinitionRow]:
        query = (
            select(query_definitions)
            .where(query_definitions.c.tenant == tenant)
            .order_by(query_definitions.c.name, query_definitions.c.id)
        )
        with self._engine.connect() as conn:
            return [
                QueryDefinitionRow(r.id, r.name, r.query, orjson.loads(r.log_groups), r.modified_ms)
                for r in conn.execute(query)
            ]

    def delete_query_definition(self, tenant: str, id_: str) -> bool:
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(query_definitions).where(
                        and_(query_definitions.c.tenant == tenant, query_definitions.c.id == id_)
                    )
                ).rowcount
            )

    # --- scheduled queries and their runs ---------------------------------------------------

    def put_scheduled_query(
        self, tenant: str, name: str, spec: dict[str, Any], create: bool, now_ms: int
    ) -> bool:
        with self._engine.begin() as conn:
            if create:
                try:
                    conn.execute(
                        scheduled_queries.insert().values(
                            tenant=tenant,
                            name=name,
                            spec=orjson.dumps(spec).decode(),
                            created_ms=now_ms,
                            updated_ms=now_ms,
                        )
                    )
                except IntegrityError:
                    raise AlreadyExists(name) from None
                return True
            return bool(
                conn.execute(
                    scheduled_queries.update()
                    .where(
                        and_(scheduled_queries.c.tenant == tenant, scheduled_queries.c.name == name)
                    )
                    .values(spec=orjson.dumps(spec).decode(), updated_ms=now_ms)
                ).rowcount
            )

    def scheduled_queries(self, tenant: str | None = None) -> list[tuple[str, ScheduledQueryRow]]:
        query = select(scheduled_queries).order_by(
            scheduled_queries.c.tenant, scheduled_queries.c.name
        )
        if tenant is not None:
            query = query.where(scheduled_queries.c.tenant == tenant)
        with self._engine.connect() as conn:
            return [
                (
                    r.tenant,
                    ScheduledQueryRow(
                        r.name,
                        orjson.loads(r.spec),
                        r.created_ms,
                        r.updated_ms,
                        r.last_triggered_ms,
                        r.last_status,
                    ),
                )
                for r in conn.execute(query)
            ]

    def delete_scheduled_query(self, tenant: str, name: str) -> bool:
        with self._engine.begin() as conn:
            conn.execute(
                delete(query_runs).where(
                    and_(query_runs.c.tenant == tenant, query_runs.c.scheduled == name)
                )
            )
            return bool(
                conn.execute(
                    delete(scheduled_queries).where(
                        and_(scheduled_queries.c.tenant == tenant, scheduled_queries.c.name == name)
                    )
                ).rowcount
            )

    def record_run(
        self,
        tenant: str,
        scheduled: str,
        query_id: str,
        triggered_ms: int,
        status: str,
        error: str | None,
        result: dict[str, Any],
        keep: int,
    ) -> None:
        """Store one run and keep only the newest ``keep`` runs of its scheduled query."""
        with self._engine.begin() as conn:
            conn.execute(
                query_runs.insert().values(
                    tenant=tenant,
                    query_id=query_id,
                    scheduled=scheduled,
                    triggered_ms=triggered_ms,
                    status=status,
                    error=error,
                    result=orjson.dumps(result).decode(),
                )
            )
            conn.execute(
                scheduled_queries.update()
                .where(scheduled_queries.c.tenant == tenant)
                .where(scheduled_queries.c.name == scheduled)
                .values(last_triggered_ms=triggered_ms, last_status=status)
            )
            old = conn.execute(
                select(query_runs.c.query_id)
                .where(and_(query_runs.c.tenant == tenant, query_runs.c.scheduled == scheduled))
                .order_by(query_runs.c.triggered_ms.desc(), query_runs.c.query_id.desc())
                .offset(keep)
            ).scalars()
            stale = list(old)
            if stale:
                conn.execute(
                    delete(query_runs).where(
                        and_(query_runs.c.tenant == tenant, query_runs.c.query_id.in_(stale))
                    )
                )

    def runs(self, tenant: str, scheduled: str) -> list[dict[str, Any]]:
        query = (
            select(query_runs)
            .where(and_(query_runs.c.tenant == tenant, query_runs.c.scheduled == scheduled))
            .order_by(query_runs.c.triggered_ms.desc(), query_runs.c.query_id.desc())
        )
        with self._engine.connect() as conn:
            return [
                {
                    "query_id": r.query_id,
                    "triggered_ms": r.triggered_ms,
                    "status": r.status,
                    "error": r.error,
                    "result": orjson.loads(r.result),
                }
                for r in conn.execute(query)
            ]

    def run(self, tenant: str, query_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            r = conn.execute(
                select(query_runs).where(
                    and_(query_runs.c.tenant == tenant, query_runs.c.query_id == query_id)
                )
            ).first()
        if r is None:
            return None
        return {
            "query_id": r.query_id,
            "scheduled": r.scheduled,
            "triggered_ms": r.triggered_ms,
            "status": r.status,
            "error": r.error,
            "result": orjson.loads(r.result),
        }
