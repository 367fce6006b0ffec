"""What the CloudWatch Logs services share: the base class (model, error codes, the log
group lookups), CloudWatch Logs' errors, nextToken paging and the log group ARN."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from vigil.api import pagetoken
from vigil.api.aws.interface import AwsError, AwsService, RequestContext
from vigil.ingest.logmetrics import MetricFilterProcessor
from vigil.state.loggroups import LogGroup, LogGroupRegistry
from vigil.state.logs import LogsCatalog

QUERY_LANGUAGE = "CWLI"

T = TypeVar("T")


def not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"The specified {what} does not exist.")


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def untoken(text: str | None, check: Callable[[Any], bool]) -> Any:
    try:
        return pagetoken.decode(text, check)
    except pagetoken.BadToken:
        raise invalid("The specified nextToken is invalid.") from None


def paged(
    key: str,
    items: list[T],
    p: dict[str, Any],
    limit_key: str,
    default: int,
    shape: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """The answer ``{key: [shape(item) …], "nextToken"?}`` of one page of ``items``; the
    request's nextToken is an offset into them."""
    offset = untoken(p.get("nextToken"), pagetoken.is_offset) or 0
    limit = p.get(limit_key, default)
    answer: dict[str, Any] = {key: [shape(item) for item in items[offset : offset + limit]]}
    if offset + limit < len(items):
        answer["nextToken"] = pagetoken.encode(offset + limit)
    return answer


def is_position(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(pagetoken.is_offset(x) for x in v)


def group_from_arn(value: str) -> str:
    """A log group name, or the name inside a log group ARN (with or without ``:*``)."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) >= 7 and parts[5] == "log-group":
            return parts[6]
        raise invalid(f"{value} is not a log group ARN")
    return value


async def reload_filters(catalog: LogsCatalog, filters: MetricFilterProcessor) -> None:
    """Ingest applies the metric filters of the catalog as they are now."""
    filters.load(await asyncio.to_thread(catalog.metric_filters))


class LogsApiBase(AwsService):
    """Base of the CloudWatch Logs services (``Logs_20140328.*``, JSON 1.1)."""

    model = "logs"
    validation_error = "InvalidParameterException"
    registry: LogGroupRegistry

    async def _group(self, ctx: RequestContext, name: str) -> LogGroup:
        group = await asyncio.to_thread(self.registry.get, ctx.tenant, name)
        if group is None:
            raise not_found("log group")
        return group

    @staticmethod
    def _group_param(params: dict[str, Any]) -> str:
        name = params.get("logGroupName") or params.get("logGroupIdentifier")
        if not name:
            raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
        if params.get("logGroupName") and params.get("logGroupIdentifier"):
            raise invalid("logGroupName and logGroupIdentifier cannot both be specified.")
        return group_from_arn(str(name))
