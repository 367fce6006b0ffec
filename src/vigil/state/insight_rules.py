"""Contributor Insights rules (CloudWatch PutInsightRule / DescribeInsightRules /
Enable-, Disable-, DeleteInsightRules).

A rule is a name per tenant, its state (``ENABLED`` | ``DISABLED``), its definition as the
client sent it (checked by ``query.contributors.rule`` before it gets here) and whether it
applies to transformed logs. ``put`` creates or replaces a rule in one transaction.
Blocking (SQLAlchemy): call from worker threads.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)

from vigil.state.db import METADATA, Migrations

insight_rules = Table(
    "insight_rules",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("definition", Text, nullable=False),
    Column("transformed", Boolean, nullable=False, default=False),
    Column("modified_ms", BigInteger, nullable=False),
)


def _create(conn: Connection) -> None:
    insight_rules.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("insight_rules_0001", _create)]


@dataclass(frozen=True, slots=True)
class InsightRule:
    name: str
    state: str
    definition: str
    transformed: bool = False


_COLUMNS = (
    insight_rules.c.name,
    insight_rules.c.state,
    insight_rules.c.definition,
    insight_rules.c.transformed,
)


class InsightRules:
    def __init__(self, engine: Engine, clock_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._clock_ms = clock_ms

    def put(self, tenant: str, rule: InsightRule) -> None:
        where = (insight_rules.c.tenant == tenant, insight_rules.c.name == rule.name)
        with self._engine.begin() as conn:
            conn.execute(delete(insight_rules).where(*where))
            conn.execute(
                insight_rules.insert().values(
                    tenant=tenant,
                    name=rule.name,
                    state=rule.state,
                    definition=rule.definition,
                    transformed=rule.transformed,
                    modified_ms=self._clock_ms(),
                )
            )

    def get(self, tenant: str, name: str) -> InsightRule | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(*_COLUMNS).where(
                    insight_rules.c.tenant == tenant, insight_rules.c.name == name
                )
            ).first()
        return None if row is None else InsightRule(row[0], row[1], row[2], bool(row[3]))

    def exists(self, tenant: str, name: str) -> bool:
        return self.get(tenant, name) is not None

    def list(self, tenant: str, after: str | None = None, limit: int = 500) -> list[InsightRule]:
        """Rules by name (those after ``after``), at most ``limit``."""
        query = select(*_COLUMNS).where(insight_rules.c.tenant == tenant)
        if after is not None:
            query = query.where(insight_rules.c.name > after)
        query = query.order_by(insight_rules.c.name).limit(limit)
        with self._engine.connect() as conn:
            return [InsightRule(r[0], r[1], r[2], bool(r[3])) for r in conn.execute(query)]

    def set_state(self, tenant: str, names: Sequence[str], state: str) -> builtins.list[str]:
        """Set the state of the named rules; the names that do not exist."""
        return self._each(tenant, names, state)

    def delete(self, tenant: str, names: Sequence[str]) -> builtins.list[str]:
        """Delete the named rules; the names that do not exist."""
        return self._each(tenant, names, None)

    def _each(self, tenant: str, names: Sequence[str], state: str | None) -> builtins.list[str]:
        wanted = list(dict.fromkeys(names))
        with self._engine.begin() as conn:
            found = set(
                conn.execute(
                    select(insight_rules.c.name).where(
                        insight_rules.c.tenant == tenant, insight_rules.c.name.in_(wanted)
                    )
                ).scalars()
            )
            where = (insight_rules.c.tenant == tenant, insight_rules.c.name.in_(sorted(found)))
            if found and state is None:
                conn.execute(delete(insight_rules).where(*where))
            elif found:
                conn.execute(
                    update(insight_rules)
                    .where(*where)
                    .values(state=state, modified_ms=self._clock_ms())
                )
        return [n for n in wanted if n not in found]
