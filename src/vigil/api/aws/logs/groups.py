"""CloudWatch Logs: log groups, their retention and tags, and log streams."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.api import pagetoken
from vigil.api.aws.interface import AwsError, Handler, RequestContext
from vigil.api.aws.logs.common import (
    LogsApiBase,
    group_from_arn,
    invalid,
    not_found,
    paged,
    reload_filters,
    untoken,
)
from vigil.ingest.logmetrics import MetricFilterProcessor
from vigil.query.logs import events as logevents
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import AlreadyExists, LogsCatalog
from vigil.store.interface import Store

GROUP_NAME = re.compile(r"^[\.\-_/#A-Za-z0-9]+$")
STREAM_NAME = re.compile(r"^[^:*]+$")
# The retention periods CloudWatch Logs accepts, in days.
RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
     2922, 3288, 3653}
)  # fmt: skip
MAX_TAGS = 50


@dataclass
class LogGroupsService(LogsApiBase):
    store: Store
    catalog: LogsCatalog
    registry: LogGroupRegistry
    filters: MetricFilterProcessor
    clock: Callable[[], int] = time.time_ns

    def operations(self) -> Mapping[str, Handler]:
        return {
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "TagLogGroup": self.tag_log_group,
            "UntagLogGroup": self.untag_log_group,
            "ListTagsLogGroup": self.list_tags_log_group,
            "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream,
            "DescribeLogStreams": self.describe_log_streams,
        }

    def _arn(self, ctx: RequestContext, group: str, star: bool = True) -> str:
        return ctx.arn("logs", f"log-group:{group}" + (":*" if star else ""))

    async def _update_tags(
        self, ctx: RequestContext, group: str, add: dict[str, str], remove: list[str]
    ) -> None:
        tags = await asyncio.to_thread(self.catalog.tags, ctx.tenant, group)
        if tags is None:
            raise not_found("log group")
        tags.update(add)
        for key in remove:
            tags.pop(key, None)
        if len(tags) > MAX_TAGS:
            raise invalid(f"A log group can have at most {MAX_TAGS} tags.")
        await asyncio.to_thread(self.catalog.set_tags, ctx.tenant, group, tags)

    async def create_log_group(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = p["logGroupName"]
        if not GROUP_NAME.match(name):
            raise invalid(
                f"Invalid log group name {name!r}: use letters, digits and . - _ / # only"
            )
        tags = p.get("tags") or {}
        if len(tags) > MAX_TAGS:
            raise invalid(f"A log group can have at most {MAX_TAGS} tags.")
        try:
            await asyncio.to_thread(
                self.catalog.create_group, ctx.tenant, name, tags, None, p.get("kmsKeyId")
            )
        except AlreadyExists:
            raise AwsError(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            ) from None
        return {}

    async def delete_log_group(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = self._group_param(p) if "logGroupName" not in p else p["logGroupName"]
        if not await asyncio.to_thread(self.catalog.delete_group, ctx.tenant, name):
            raise not_found("log group")
        self.registry.forget(ctx.tenant, name)
        # Acknowledged events still on their way to the store must not outlive the delete.
        await self.store.barrier()
        await asyncio.to_thread(logevents.delete_group_data, self.store, ctx.tenant, name)
        await reload_filters(self.catalog, self.filters)
        return {}

    async def describe_log_groups(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        prefix = p.get("logGroupNamePrefix")
        pattern = p.get("logGroupNamePattern")
        if prefix and pattern:
            raise invalid("logGroupNamePrefix and logGroupNamePattern cannot both be specified.")
        limit = p.get("limit", 50)
        start = untoken(p.get("nextToken"), lambda v: isinstance(v, str))
        identifiers = {group_from_arn(i) for i in p.get("logGroupIdentifiers") or []}
        groups, stats, filters = await asyncio.gather(
            asyncio.to_thread(self.registry.groups, ctx.tenant),
            logevents.group_stored_bytes(self.store, ctx.tenant),
            asyncio.to_thread(self.catalog.metric_filters, ctx.tenant),
        )
        counts: dict[str, int] = {}
        for _, f in filters:
            counts[f.log_group] = counts.get(f.log_group, 0) + 1
        # vigil is one account: groups of other accounts (a monitoring account's linked
        # ones, which Grafana asks for by account) do not exist here.
        accounts = p.get("accountIdentifiers")
        if accounts and ctx.account_id not in accounts:
            groups = []
        chosen = [
            g
            for g in groups
            if (not prefix or g.name.startswith(prefix))
            and (not pattern or pattern.lower() in g.name.lower())
            and (not identifiers or g.name in identifiers)
            and (start is None or g.name > start)
        ]
        page = chosen[:limit]
        out = []
        for g in page:
            item: dict[str, Any] = {
                "logGroupName": g.name,
                "creationTime": g.created_ms,
                "metricFilterCount": counts.get(g.name, 0),
                "arn": self._arn(ctx, g.name),
                "logGroupArn": self._arn(ctx, g.name, star=False),
                "storedBytes": stats.get(g.name, 0),
                "logGroupClass": "STANDARD",
                "deletionProtectionEnabled": False,
            }
            if g.retention_days is not None:
                item["retentionInDays"] = g.retention_days
            if g.kms_key_id is not None:
                item["kmsKeyId"] = g.kms_key_id
            out.append(item)
        answer: dict[str, Any] = {"logGroups": out}
        if len(chosen) > limit:
            answer["nextToken"] = pagetoken.encode(page[-1].name)
        return answer

    async def put_retention_policy(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        days = p["retentionInDays"]
        if days not in RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in sorted(RETENTION_DAYS))
            raise invalid(f"retentionInDays {days} is not one of {allowed}")
        name = self._group_param(p)
        if not await asyncio.to_thread(self.registry.set_retention, ctx.tenant, name, days):
            raise not_found("log group")
        return {}

    async def delete_retention_policy(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        name = self._group_param(p)
        if not await asyncio.to_thread(self.registry.set_retention, ctx.tenant, name, None):
            raise not_found("log group")
        return {}

    async def tag_resource(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._update_tags(ctx, group_from_arn(p["resourceArn"]), p["tags"], [])
        return {}

    async def untag_resource(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._update_tags(ctx, group_from_arn(p["resourceArn"]), {}, p["tagKeys"])
        return {}

    async def list_tags_for_resource(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        tags = await asyncio.to_thread(
            self.catalog.tags, ctx.tenant, group_from_arn(p["resourceArn"])
        )
        if tags is None:
            raise not_found("log group")
        return {"tags": tags}

    async def tag_log_group(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._update_tags(ctx, p["logGroupName"], p["tags"], [])
        return {}

    async def untag_log_group(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._update_tags(ctx, p["logGroupName"], {}, p["tags"])
        return {}

    async def list_tags_log_group(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        tags = await asyncio.to_thread(self.catalog.tags, ctx.tenant, p["logGroupName"])
        if tags is None:
            raise not_found("log group")
        return {"tags": tags}

    async def create_log_stream(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group, stream = p["logGroupName"], p["logStreamName"]
        if not STREAM_NAME.match(stream):
            raise invalid(f"Invalid log stream name {stream!r}: ':' and '*' are not allowed")
        await self._group(ctx, group)
        try:
            await asyncio.to_thread(self.catalog.create_stream, ctx.tenant, group, stream)
        except AlreadyExists:
            raise AwsError(
                "ResourceAlreadyExistsException", "The specified log stream already exists"
            ) from None
        return {}

    async def delete_log_stream(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group, stream = p["logGroupName"], p["logStreamName"]
        await self._group(ctx, group)
        if not await asyncio.to_thread(self.catalog.delete_stream, ctx.tenant, group, stream):
            raise not_found("log stream")
        self.registry.forget(ctx.tenant, group)
        # Acknowledged events still on their way to the store must not outlive the delete.
        await self.store.barrier()
        await asyncio.to_thread(logevents.delete_stream_data, self.store, ctx.tenant, group, stream)
        return {}

    async def describe_log_streams(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = self._group_param(p)
        order = p.get("orderBy", "LogStreamName")
        prefix = p.get("logStreamNamePrefix", "")
        if order == "LastEventTime" and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        await self._group(ctx, group)
        streams, stats = await asyncio.gather(
            asyncio.to_thread(self.catalog.streams, ctx.tenant, group, prefix),
            logevents.stream_stats(self.store, ctx.tenant, group),
        )
        rows = []
        for s in streams:
            item: dict[str, Any] = {
                "logStreamName": s.name,
                "creationTime": s.created_ms,
                "arn": ctx.arn("logs", f"log-group:{group}:log-stream:{s.name}"),
                "storedBytes": 0,
            }
            st = stats.get(s.name)
            if st is not None and st["events"]:
                item.update(
                    firstEventTimestamp=st["first"],
                    lastEventTimestamp=st["last"],
                    lastIngestionTime=st["ingested"],
                )
            rows.append(item)
        if order == "LastEventTime":
            rows.sort(key=lambda r: (r.get("lastEventTimestamp", 0), r["logStreamName"]))
        descending = bool(p.get("descending"))
        if descending:
            rows.reverse()
        return paged("logStreams", rows, p, "limit", 50, lambda row: row)
