"""CloudWatch Logs Insights: StartQuery, GetQueryResults, StopQuery, DescribeQueries
(on query.insights' registry; runs of scheduled queries are read from the catalog)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.api.aws.interface import AwsError, Handler, RequestContext
from vigil.api.aws.logs.common import (
    QUERY_LANGUAGE,
    LogsApiBase,
    group_from_arn,
    invalid,
    paged,
)
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import QueryRegistry, QueryRequest, TooManyQueries
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog


@dataclass
class InsightsService(LogsApiBase):
    catalog: LogsCatalog
    registry: LogGroupRegistry
    queries: QueryRegistry

    def operations(self) -> Mapping[str, Handler]:
        return {
            "StartQuery": self.start_query,
            "GetQueryResults": self.get_query_results,
            "StopQuery": self.stop_query,
            "DescribeQueries": self.describe_queries,
        }

    async def start_query(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if p.get("queryLanguage", QUERY_LANGUAGE) != QUERY_LANGUAGE:
            raise invalid("vigil runs the Logs Insights query language (CWLI) only.")
        text = p["queryString"]
        try:
            query = parse_query(text)
        except QuerySyntaxError as exc:
            raise AwsError("MalformedQueryException", exc.message) from None
        names = [
            group_from_arn(n)
            for n in (
                p.get("logGroupNames")
                or p.get("logGroupIdentifiers")
                or ([p["logGroupName"]] if p.get("logGroupName") else [])
            )
        ]
        groups = await asyncio.to_thread(self.registry.groups, ctx.tenant)
        known = {g.name for g in groups}
        if query.source is not None:
            if names:
                raise invalid("A query with SOURCE cannot also name log groups.")
            names = sorted(n for n in known if n.startswith(query.source.prefixes))
        elif not names:
            raise invalid(
                "Specify logGroupName, logGroupNames or logGroupIdentifiers, or use SOURCE."
            )
        for name in names:
            if name not in known:
                raise AwsError("ResourceNotFoundException", f"Log group '{name}' does not exist")
        start_s, end_s = _seconds(p["startTime"]), _seconds(p["endTime"])
        if end_s < start_s:
            raise invalid("endTime must be greater than or equal to startTime.")
        request = QueryRequest(
            tenant=ctx.tenant,
            query_string=text,
            query=query,
            groups=names,
            start_ms=start_s * 1000,
            end_ms=end_s * 1000 + 999,
            limit=p.get("limit"),
            account_id=ctx.account_id,
        )
        try:
            query_id = await self.queries.submit(request)
        except QueryError as exc:
            raise AwsError("MalformedQueryException", exc.message) from None
        except TooManyQueries as exc:
            raise AwsError("LimitExceededException", str(exc)) from None
        return {"queryId": query_id}

    async def get_query_results(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        info = self.queries.get(ctx.tenant, p["queryId"])
        if info is None:
            run = await asyncio.to_thread(self.catalog.run, ctx.tenant, p["queryId"])
            if run is None:
                raise AwsError("ResourceNotFoundException", "The specified query does not exist.")
            return {
                "queryLanguage": QUERY_LANGUAGE,
                "status": run["status"],
                "results": run["result"].get("results", []),
                "statistics": run["result"].get("statistics", {}),
            }
        answer: dict[str, Any] = {"queryLanguage": QUERY_LANGUAGE, "status": info.status}
        if info.result is not None:
            answer["results"] = [
                [{"field": f, "value": v} for f, v in row] for row in info.result.rows
            ]
            answer["statistics"] = dict(info.result.statistics)
            answer["statistics"]["resultCount"] = float(len(info.result.rows))
        else:
            answer["results"] = []
            answer["statistics"] = {
                "recordsMatched": 0.0,
                "recordsScanned": 0.0,
                "bytesScanned": 0.0,
            }
        return answer

    async def stop_query(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        stopped = self.queries.stop(ctx.tenant, p["queryId"])
        if stopped is None:
            raise AwsError("ResourceNotFoundException", "The specified query does not exist.")
        return {"success": stopped}

    async def describe_queries(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = p.get("logGroupName")
        status = p.get("status")
        chosen = [
            q
            for q in self.queries.list(ctx.tenant)
            if (group is None or group in q.request.groups)
            and (status is None or q.status == status)
        ]
        return paged(
            "queries",
            chosen,
            p,
            "maxResults",
            1000,
            lambda q: {
                "queryLanguage": QUERY_LANGUAGE,
                "queryId": q.query_id,
                "queryString": q.request.query_string,
                "status": q.status,
                "createTime": int(q.create_time * 1000),
                "logGroupName": q.request.groups[0] if q.request.groups else "",
            },
        )


def _seconds(value: Any) -> int:
    return int(value)
