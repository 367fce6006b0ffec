"""Tags of CloudWatch resources (TagResource / UntagResource / ListTagsForResource).

CloudWatch tags alarms, Contributor Insights rules, metric streams and dashboards; the
resources themselves belong to other parts of vigil, so tags are kept here by ARN and
tenant. Every operation first asks ``CloudWatchResources`` whether the ARN names an existing
resource and raises ``NoSuchResource`` otherwise (CloudWatch's ResourceNotFoundException).
A part that deletes a resource calls ``forget`` so that a new one of the same name starts
untagged. Blocking (SQLAlchemy and the lookups): call from worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Column, Connection, Engine, String, Table, delete, select

from vigil.state.cloudwatch_resources import CloudWatchResources, ResourceRef
from vigil.state.db import METADATA, MIGRATIONS

MAX_TAGS = 50

cloudwatch_tags = Table(
    "cloudwatch_tags",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("arn", String(1024), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)


def _create(conn: Connection) -> None:
    cloudwatch_tags.create(conn, checkfirst=True)


if not any(mid == "metrics_0001_tags" for mid, _ in MIGRATIONS):
    MIGRATIONS.append(("metrics_0001_tags", _create))


class TooManyTags(ValueError):
    pass


class NoSuchResource(LookupError):
    def __init__(self, ref: ResourceRef) -> None:
        super().__init__(f"The {ref.kind} {ref.name!r} does not exist.")
        self.ref = ref


class TagStore:
    def __init__(self, engine: Engine, resources: CloudWatchResources) -> None:
        self._engine = engine
        self._resources = resources

    def _check(self, tenant: str, ref: ResourceRef) -> None:
        if not self._resources.exists(tenant, ref):
            raise NoSuchResource(ref)

    def tags(self, tenant: str, arn: str, ref: ResourceRef) -> dict[str, str]:
        self._check(tenant, ref)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(cloudwatch_tags.c.key, cloudwatch_tags.c.value).where(
                    cloudwatch_tags.c.tenant == tenant, cloudwatch_tags.c.arn == arn
                )
            )
            return {key: value for key, value in rows}

    def tag(self, tenant: str, arn: str, ref: ResourceRef, tags: Mapping[str, str]) -> None:
        self._check(tenant, ref)
        with self._engine.begin() as conn:
            current = {
                key
                for (key,) in conn.execute(
                    select(cloudwatch_tags.c.key).where(
                        cloudwatch_tags.c.tenant == tenant, cloudwatch_tags.c.arn == arn
                    )
                )
            }
            if len(current | set(tags)) > MAX_TAGS:
                raise TooManyTags(f"a resource can have at most {MAX_TAGS} tags")
            conn.execute(
                delete(cloudwatch_tags).where(
                    cloudwatch_tags.c.tenant == tenant,
                    cloudwatch_tags.c.arn == arn,
                    cloudwatch_tags.c.key.in_(list(tags)),
                )
            )
            if tags:
                conn.execute(
                    cloudwatch_tags.insert(),
                    [{"tenant": tenant, "arn": arn, "key": k, "value": v} for k, v in tags.items()],
                )

    def untag(self, tenant: str, arn: str, ref: ResourceRef, keys: list[str]) -> None:
        self._check(tenant, ref)
        with self._engine.begin() as conn:
            conn.execute(
                delete(cloudwatch_tags).where(
                    cloudwatch_tags.c.tenant == tenant,
                    cloudwatch_tags.c.arn == arn,
                    cloudwatch_tags.c.key.in_(keys),
                )
            )

    def forget(self, tenant: str, arn: str) -> None:
        """Drop every tag of a resource that was deleted."""
        with self._engine.begin() as conn:
            conn.execute(
                delete(cloudwatch_tags).where(
                    cloudwatch_tags.c.tenant == tenant, cloudwatch_tags.c.arn == arn
                )
            )
