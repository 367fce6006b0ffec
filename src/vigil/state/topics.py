"""SNS topics and subscriptions in the state DB (one row each; attributes and tags as JSON).

Topics are named per tenant by ARN. A subscription is ``pending`` until confirmed (by its
token) or ``confirmed``; its endpoint may hold a secret (a webhook URL, a routing key), so
listings in the API show it as SNS does but logs never do. Blocking: call from threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)

from vigil.state.db import METADATA, Migrations
from vigil.state.rows import from_row

sns_topics = Table(
    "sns_topics",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("arn", String(512), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("attributes", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

sns_subscriptions = Table(
    "sns_subscriptions",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("arn", String(600), primary_key=True),
    Column("topic_arn", String(512), nullable=False),
    Column("protocol", String(32), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | confirmed
    Column("token", String(128), nullable=True),
    Column("token_expires_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_sns_subscriptions_topic", "tenant", "topic_arn"),
)


def _create(conn: Connection) -> None:
    sns_topics.create(conn, checkfirst=True)
    sns_subscriptions.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("notify_0002_topics", _create)]


@dataclass(frozen=True, slots=True)
class Topic:
    arn: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created_ms: int


@dataclass(frozen=True, slots=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    status: str
    token: str | None
    token_expires_ms: int | None
    created_ms: int

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"


def _topic(row: Any) -> Topic:
    return from_row(Topic, row, json=("attributes", "tags"))


def _sub(row: Any) -> Subscription:
    return from_row(Subscription, row, json=("attributes",))


def _json(value: dict[str, str]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class TopicStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- topics ----------------------------------------------------------------------

    def create_topic(
        self,
        tenant: str,
        arn: str,
        name: str,
        attributes: dict[str, str],
        tags: dict[str, str],
        now_ms: int,
    ) -> tuple[Topic, bool]:
        """The topic, and whether it is new (an existing one is returned as it is)."""
        with self.engine.begin() as conn:
            found = self._topic(conn, tenant, arn)
            if found is not None:
                return found, False
            conn.execute(
                sns_topics.insert().values(
                    tenant=tenant,
                    arn=arn,
                    name=name,
                    attributes=_json(attributes),
                    tags=_json(tags),
                    created_ms=now_ms,
                )
            )
            return Topic(arn, name, attributes, tags, now_ms), True

    @staticmethod
    def _topic(conn: Connection, tenant: str, arn: str) -> Topic | None:
        row = conn.execute(
            select(sns_topics).where(sns_topics.c.tenant == tenant, sns_topics.c.arn == arn)
        ).first()
        return None if row is None else _topic(row)

    def topic(self, tenant: str, arn: str) -> Topic | None:
        with self.engine.connect() as conn:
            return self._topic(conn, tenant, arn)

    def delete_topic(self, tenant: str, arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(sns_subscriptions).where(
                    sns_subscriptions.c.tenant == tenant, sns_subscriptions.c.topic_arn == arn
                )
            )
            conn.execute(
                delete(sns_topics).where(sns_topics.c.tenant == tenant, sns_topics.c.arn == arn)
            )

    def topics(self, tenant: str, after: str | None, limit: int) -> list[Topic]:
        where = [sns_topics.c.tenant == tenant]
        if after:
            where.append(sns_topics.c.arn > after)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sns_topics).where(*where).order_by(sns_topics.c.arn).limit(limit)
            )
            return [_topic(r) for r in rows]

    def update_topic(
        self,
        tenant: str,
        arn: str,
        attributes: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        values = {}
        if attributes is not None:
            values["attributes"] = _json(attributes)
        if tags is not None:
            values["tags"] = _json(tags)
        with self.engine.begin() as conn:
            conn.execute(
                update(sns_topics)
                .where(sns_topics.c.tenant == tenant, sns_topics.c.arn == arn)
                .values(values)
            )

    def subscription_counts(self, tenant: str, topic_arn: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sns_subscriptions.c.status, func.count())
                .where(
                    sns_subscriptions.c.tenant == tenant,
                    sns_subscriptions.c.topic_arn == topic_arn,
                )
                .group_by(sns_subscriptions.c.status)
            )
            return {status: int(n) for status, n in rows}

    # --- subscriptions ---------------------------------------------------------------

    def find_subscription(
        self, tenant: str, topic_arn: str, protocol: str, endpoint: str
    ) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sns_subscriptions).where(
                    sns_subscriptions.c.tenant == tenant,
                    sns_subscriptions.c.topic_arn == topic_arn,
                    sns_subscriptions.c.protocol == protocol,
                    sns_subscriptions.c.endpoint == endpoint,
                )
            ).first()
            return None if row is None else _sub(row)

    def add_subscription(self, tenant: str, sub: Subscription) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sns_subscriptions.insert().values(
                    tenant=tenant,
                    arn=sub.arn,
                    topic_arn=sub.topic_arn,
                    protocol=sub.protocol,
                    endpoint=sub.endpoint,
                    attributes=_json(sub.attributes),
                    status=sub.status,
                    token=sub.token,
                    token_expires_ms=sub.token_expires_ms,
                    created_ms=sub.created_ms,
                )
            )

    def subscription(self, tenant: str, arn: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sns_subscriptions).where(
                    sns_subscriptions.c.tenant == tenant, sns_subscriptions.c.arn == arn
                )
            ).first()
            return None if row is None else _sub(row)

    def by_token(self, tenant: str, topic_arn: str, token: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sns_subscriptions).where(
                    sns_subscriptions.c.tenant == tenant,
                    sns_subscriptions.c.topic_arn == topic_arn,
                    sns_subscriptions.c.token == token,
                )
            ).first()
            return None if row is None else _sub(row)

    def confirm(self, tenant: str, arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sns_subscriptions)
                .where(sns_subscriptions.c.tenant == tenant, sns_subscriptions.c.arn == arn)
                .values(status="confirmed")
            )

    def update_subscription(self, tenant: str, arn: str, attributes: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sns_subscriptions)
                .where(sns_subscriptions.c.tenant == tenant, sns_subscriptions.c.arn == arn)
                .values(attributes=_json(attributes))
            )

    def delete_subscription(self, tenant: str, arn: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(sns_subscriptions).where(
                    sns_subscriptions.c.tenant == tenant, sns_subscriptions.c.arn == arn
                )
            )

    def subscriptions(
        self,
        tenant: str,
        topic_arn: str | None,
        after: str | None,
        limit: int,
        confirmed_only: bool = False,
    ) -> list[Subscription]:
        where = [sns_subscriptions.c.tenant == tenant]
        if topic_arn is not None:
            where.append(sns_subscriptions.c.topic_arn == topic_arn)
        if after:
            where.append(sns_subscriptions.c.arn > after)
        if confirmed_only:
            where.append(sns_subscriptions.c.status == "confirmed")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sns_subscriptions)
                .where(*where)
                .order_by(sns_subscriptions.c.arn)
                .limit(limit)
            )
            return [_sub(r) for r in rows]


def confirmed_subscriptions(conn: Connection, tenant: str, topic_arn: str) -> list[Subscription]:
    """The topic's confirmed subscriptions, read inside the caller's transaction."""
    rows = conn.execute(
        select(sns_subscriptions)
        .where(
            sns_subscriptions.c.tenant == tenant,
            sns_subscriptions.c.topic_arn == topic_arn,
            sns_subscriptions.c.status == "confirmed",
        )
        .order_by(sns_subscriptions.c.arn)
    )
    return [_sub(r) for r in rows]


def topic_in(conn: Connection, tenant: str, arn: str) -> Topic | None:
    return TopicStore._topic(conn, tenant, arn)
