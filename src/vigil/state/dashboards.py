"""Dashboards (CloudWatch PutDashboard / GetDashboard / ListDashboards / DeleteDashboards).

A dashboard is a name per tenant and its body as the client sent it (already validated by
``model.dashboard``), with its last modification time and size. ``put`` replaces a body
in one transaction; ``delete`` removes all the names or none (CloudWatch: "if any of the
dashboards is not found, none are deleted"). Blocking (SQLAlchemy): call from worker
threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Connection, Engine, String, Table, Text, delete, select

from vigil.state.db import METADATA, Migrations

dashboards = Table(
    "dashboards",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("body", Text, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
)


def _create(conn: Connection) -> None:
    dashboards.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("dashboards_0001", _create)]


@dataclass(frozen=True, slots=True)
class Dashboard:
    name: str
    body: str
    modified_ms: int

    @property
    def size(self) -> int:
        return len(self.body.encode())


class DashboardNotFound(LookupError):
    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"Dashboard {', '.join(names)} does not exist")
        self.names = list(names)


class Dashboards:
    def __init__(self, engine: Engine, clock_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._clock_ms = clock_ms

    def put(self, tenant: str, name: str, body: str) -> Dashboard:
        now = self._clock_ms()
        with self._engine.begin() as conn:
            conn.execute(
                delete(dashboards).where(dashboards.c.tenant == tenant, dashboards.c.name == name)
            )
            conn.execute(
                dashboards.insert().values(tenant=tenant, name=name, body=body, modified_ms=now)
            )
        return Dashboard(name, body, now)

    def put_if_absent(self, tenant: str, name: str, body: str) -> bool:
        """Create the dashboard unless one of that name exists (built-in dashboards)."""
        with self._engine.begin() as conn:
            found = conn.execute(
                select(dashboards.c.name).where(
                    dashboards.c.tenant == tenant, dashboards.c.name == name
                )
            ).first()
            if found is not None:
                return False
            conn.execute(
                dashboards.insert().values(
                    tenant=tenant, name=name, body=body, modified_ms=self._clock_ms()
                )
            )
        return True

    def get(self, tenant: str, name: str) -> Dashboard | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(dashboards.c.name, dashboards.c.body, dashboards.c.modified_ms).where(
                    dashboards.c.tenant == tenant, dashboards.c.name == name
                )
            ).first()
        return None if row is None else Dashboard(row[0], row[1], row[2])

    def exists(self, tenant: str, name: str) -> bool:
        return self.get(tenant, name) is not None

    def list(
        self, tenant: str, prefix: str = "", after: str | None = None, limit: int = 1000
    ) -> list[Dashboard]:
        """Dashboards by name (those after ``after``), at most ``limit``."""
        query = select(dashboards.c.name, dashboards.c.body, dashboards.c.modified_ms).where(
            dashboards.c.tenant == tenant
        )
        if prefix:
            query = query.where(dashboards.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(dashboards.c.name > after)
        query = query.order_by(dashboards.c.name).limit(limit)
        with self._engine.connect() as conn:
            return [Dashboard(r[0], r[1], r[2]) for r in conn.execute(query)]

    def delete(self, tenant: str, names: Sequence[str]) -> None:
        """Delete every named dashboard, or none if one of them does not exist."""
        wanted = sorted(set(names))
        with self._engine.begin() as conn:
            found = set(
                conn.execute(
                    select(dashboards.c.name).where(
                        dashboards.c.tenant == tenant, dashboards.c.name.in_(wanted)
                    )
                ).scalars()
            )
            missing = [n for n in wanted if n not in found]
            if missing:
                raise DashboardNotFound(missing)
            conn.execute(
                delete(dashboards).where(
                    dashboards.c.tenant == tenant, dashboards.c.name.in_(wanted)
                )
            )
