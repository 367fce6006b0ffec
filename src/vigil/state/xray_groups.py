"""X-Ray groups: a name for a filter expression (CreateGroup/GetGroup(s)/UpdateGroup/
DeleteGroup), per tenant, in the state database.

The ``Default`` group (no filter: every trace) always exists and cannot be created,
changed or deleted. Names are 1-32 characters of letters, digits, ``.``, ``-`` and ``_``;
at most 25 groups besides Default (X-Ray's quota). The filter expression is checked by
the caller (the API parses it); here it is kept as text. A group's ARN ends in a random id
fixed when it is created, as X-Ray's do.

Thread-safe; methods block (state database): call them from worker threads.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
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
from vigil.state.rows import from_row

xray_groups = Table(
    "xray_groups",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("group_id", String(40), nullable=False),
    Column("filter_expression", Text, nullable=True),
    Column("insights_enabled", Boolean, nullable=False),
    Column("notifications_enabled", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)


def _create_tables(conn: Connection) -> None:
    xray_groups.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("traces_0002_xray_groups", _create_tables)]

DEFAULT_GROUP = "Default"
MAX_GROUPS = 25
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


class GroupError(Exception):
    """A request X-Ray refuses: ``code`` is its error code."""

    def __init__(self, message: str, code: str = "InvalidRequestException") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    group_id: str  # the ARN's last part ("" for Default)
    filter_expression: str | None
    insights_enabled: bool = False
    notifications_enabled: bool = False


DEFAULT = Group(DEFAULT_GROUP, "", None)


def _row(row: object) -> Group:
    return from_row(Group, row)


class XRayGroups:
    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._clock = clock

    def groups(self, tenant: str) -> list[Group]:
        """Default first, then the others by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(xray_groups)
                .where(xray_groups.c.tenant == tenant)
                .order_by(xray_groups.c.name)
            ).all()
        return [DEFAULT, *(_row(r) for r in rows)]

    def get(self, tenant: str, name: str) -> Group:
        if name == DEFAULT_GROUP:
            return DEFAULT
        with self._engine.connect() as conn:
            row = conn.execute(
                select(xray_groups).where(
                    xray_groups.c.tenant == tenant, xray_groups.c.name == name
                )
            ).first()
        if row is None:
            raise GroupError(f"Group not found: {name}")
        return _row(row)

    def create(self, tenant: str, group: Group) -> Group:
        _check_name(group.name)
        if group.name == DEFAULT_GROUP:
            raise GroupError("Default is a reserved group name")
        created = Group(
            group.name,
            secrets.token_hex(16).upper()[:32],
            group.filter_expression,
            group.insights_enabled,
            group.notifications_enabled,
        )
        with self._engine.begin() as conn:
            names = conn.execute(
                select(xray_groups.c.name).where(xray_groups.c.tenant == tenant)
            ).scalars()
            existing = set(names)
            if group.name in existing:
                raise GroupError(f"Group with name {group.name} already exists")
            if len(existing) >= MAX_GROUPS:
                raise GroupError(
                    f"The number of groups is limited to {MAX_GROUPS} besides Default",
                    "InvalidRequestException",
                )
            conn.execute(
                xray_groups.insert().values(
                    tenant=tenant,
                    name=created.name,
                    group_id=created.group_id,
                    filter_expression=created.filter_expression,
                    insights_enabled=created.insights_enabled,
                    notifications_enabled=created.notifications_enabled,
                    created_ms=self._clock() // 10**6,
                )
            )
        return created

    def update(
        self,
        tenant: str,
        name: str,
        filter_expression: str | None,
        insights: tuple[bool | None, bool | None],
    ) -> Group:
        """Changes what is given (None: left as it is)."""
        if name == DEFAULT_GROUP:
            raise GroupError("The Default group cannot be updated")
        current = self.get(tenant, name)
        values: dict[str, object] = {}
        if filter_expression is not None:
            values["filter_expression"] = filter_expression
        if insights[0] is not None:
            values["insights_enabled"] = insights[0]
        if insights[1] is not None:
            values["notifications_enabled"] = insights[1]
        if values:
            with self._engine.begin() as conn:
                conn.execute(
                    update(xray_groups)
                    .where(xray_groups.c.tenant == tenant, xray_groups.c.name == name)
                    .values(**values)
                )
        return Group(
            current.name,
            current.group_id,
            str(values.get("filter_expression", current.filter_expression) or "") or None,
            bool(values.get("insights_enabled", current.insights_enabled)),
            bool(values.get("notifications_enabled", current.notifications_enabled)),
        )

    def delete(self, tenant: str, name: str) -> None:
        if name == DEFAULT_GROUP:
            raise GroupError("The Default group cannot be deleted")
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(xray_groups).where(
                    xray_groups.c.tenant == tenant, xray_groups.c.name == name
                )
            ).rowcount
        if not gone:
            raise GroupError(f"Group not found: {name}")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise GroupError(
            f"GroupName {name!r} is not valid: 1 to 32 letters, digits, '.', '-' or '_'"
        )
