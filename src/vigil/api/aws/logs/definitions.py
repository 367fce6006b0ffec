"""CloudWatch Logs Insights saved queries: Put/Describe/DeleteQueryDefinition."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.api.aws.interface import AwsError, Handler, RequestContext
from vigil.api.aws.logs.common import QUERY_LANGUAGE, LogsApiBase, paged
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog, QueryDefinitionRow


@dataclass
class QueryDefinitionsService(LogsApiBase):
    catalog: LogsCatalog
    registry: LogGroupRegistry
    clock: Callable[[], int] = time.time_ns

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutQueryDefinition": self.put_query_definition,
            "DescribeQueryDefinitions": self.describe_query_definitions,
            "DeleteQueryDefinition": self.delete_query_definition,
        }

    def _now_ms(self) -> int:
        return self.clock() // 1_000_000

    async def put_query_definition(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        try:
            parse_query(p["queryString"])
        except QuerySyntaxError as exc:
            raise AwsError("MalformedQueryException", exc.message) from None
        create = "queryDefinitionId" not in p
        row = QueryDefinitionRow(
            id=p.get("queryDefinitionId") or str(uuid.uuid4()),
            name=p["name"],
            query=p["queryString"],
            log_groups=list(p.get("logGroupNames") or []),
            modified_ms=self._now_ms(),
        )
        if not await asyncio.to_thread(self.catalog.put_query_definition, ctx.tenant, row, create):
            raise AwsError(
                "ResourceNotFoundException", "The specified query definition does not exist."
            )
        return {"queryDefinitionId": row.id}

    async def describe_query_definitions(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        prefix = p.get("queryDefinitionNamePrefix")
        rows = [
            r
            for r in await asyncio.to_thread(self.catalog.query_definitions, ctx.tenant)
            if not prefix or r.name.startswith(prefix)
        ]
        return paged(
            "queryDefinitions",
            rows,
            p,
            "maxResults",
            1000,
            lambda r: {
                "queryLanguage": QUERY_LANGUAGE,
                "queryDefinitionId": r.id,
                "name": r.name,
                "queryString": r.query,
                "lastModified": r.modified_ms,
                "logGroupNames": r.log_groups,
            },
        )

    async def delete_query_definition(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(
            self.catalog.delete_query_definition, ctx.tenant, p["queryDefinitionId"]
        )
        if not found:
            raise AwsError(
                "ResourceNotFoundException", "The specified query definition does not exist."
            )
        return {"success": True}
