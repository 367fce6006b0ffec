"""CloudWatch Logs (``Logs_20140328.*``, JSON 1.1) on vigil's stores.

Thin: each operation checks what botocore's model cannot (names, limits, existence), calls
the state catalog, the ingest pipeline, query/ or the Insights registry, and shapes the
answer as boto3 expects it. Errors use CloudWatch Logs' codes: ResourceNotFoundException,
ResourceAlreadyExistsException, InvalidParameterException, LimitExceededException,
MalformedQueryException (400). Blocking state calls go to threads.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from vigil.api.aws.interface import AwsError, RequestContext
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.ingest.interface import RequestError
from vigil.ingest.logmetrics import MetricFilterProcessor
from vigil.ingest.pipeline import IngestPipeline
from vigil.query import logevents
from vigil.query.insights import QuerySyntaxError, parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import QueryRegistry, QueryRequest, TooManyQueries
from vigil.rules.scheduled_queries import ScheduledQueries
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import AlreadyExists, LogsCatalog, QueryDefinitionRow
from vigil.store.interface import Overloaded, Store, StoreUnavailable
from vigil.syntax.filterpattern import PatternError
from vigil.syntax.filterpattern import parse as parse_pattern

GROUP_NAME = re.compile(r"^[\.\-_/#A-Za-z0-9]+$")
STREAM_NAME = re.compile(r"^[^:*]+$")
RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)
MAX_METRIC_FILTERS = 100
MAX_TAGS = 50
QUERY_LANGUAGE = "CWLI"

Handler = Callable[[dict[str, Any], RequestContext], Awaitable[dict[str, Any]]]


def not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"The specified {what} does not exist.")


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _untoken(text: str | None, check: Callable[[Any], bool]) -> Any:
    if text is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text.encode() + b"=="))
    except (ValueError, orjson.JSONDecodeError):
        raise invalid("The specified nextToken is invalid.") from None
    if not check(value):
        raise invalid("The specified nextToken is invalid.")
    return value


T = TypeVar("T")


def _page(
    items: list[T], p: dict[str, Any], limit_key: str, default: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` from the request's nextToken (an offset), and the next token."""
    offset = _untoken(p.get("nextToken"), _is_int) or 0
    limit = p.get(limit_key, default)
    page = items[offset : offset + limit]
    return page, (_token(offset + limit) if offset + limit < len(items) else None)


def _with_token(answer: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        answer["nextToken"] = token
    return answer


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_pos(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v)


def _ms(value: Any) -> int:
    return int(value)


def group_from_arn(value: str) -> str:
    """A log group name, or the name inside a log group ARN (with or without ``:*``)."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) >= 7 and parts[5] == "log-group":
            return parts[6]
        raise invalid(f"{value} is not a log group ARN")
    return value


@dataclass
class LogsService:
    store: Store
    catalog: LogsCatalog
    registry: LogGroupRegistry
    pipeline: IngestPipeline
    queries: QueryRegistry
    filters: MetricFilterProcessor
    scheduled: ScheduledQueries
    clock: Callable[[], int] = time.time_ns

    model = "logs"
    validation_error = "InvalidParameterException"
    raw_operations = frozenset({"PutLogEvents"})

    def __post_init__(self) -> None:
        self._handlers: dict[str, Handler] = {
            name: getattr(self, _snake(name)) for name in OPERATIONS
        }
        self.operations = frozenset(self._handlers)

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self._handlers[operation](params, ctx)

    def now_ms(self) -> int:
        return self.clock() // 1_000_000

    async def reload_filters(self) -> None:
        self.filters.load(await asyncio.to_thread(self.catalog.metric_filters))

    # --- helpers ------------------------------------------------------------------------

    def _arn(self, ctx: RequestContext, group: str, star: bool = True) -> str:
        return ctx.arn("logs", f"log-group:{group}" + (":*" if star else ""))

    async def _group(self, ctx: RequestContext, name: str) -> Any:
        group = await asyncio.to_thread(self.registry.get, ctx.tenant, name)
        if group is None:
            raise not_found("log group")
        return group

    def _group_param(self, params: dict[str, Any]) -> str:
        name = params.get("logGroupName") or params.get("logGroupIdentifier")
        if not name:
            raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
        if params.get("logGroupName") and params.get("logGroupIdentifier"):
            raise invalid("logGroupName and logGroupIdentifier cannot both be specified.")
        return group_from_arn(str(name))

    # --- log groups -------------------------------------------------------------------------

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
            await asyncio.to_thread(self.catalog.create_group, ctx.tenant, name, tags)
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
        await self.reload_filters()
        return {}

    async def describe_log_groups(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        prefix = p.get("logGroupNamePrefix")
        pattern = p.get("logGroupNamePattern")
        if prefix and pattern:
            raise invalid("logGroupNamePrefix and logGroupNamePattern cannot both be specified.")
        limit = p.get("limit", 50)
        start = _untoken(p.get("nextToken"), lambda v: isinstance(v, str))
        identifiers = {group_from_arn(i) for i in p.get("logGroupIdentifiers") or []}
        groups, stats, filters = await asyncio.gather(
            asyncio.to_thread(self.registry.groups, ctx.tenant),
            _group_bytes(self.store, ctx.tenant),
            asyncio.to_thread(self.catalog.metric_filters, ctx.tenant),
        )
        counts: dict[str, int] = {}
        for _, f in filters:
            counts[f.log_group] = counts.get(f.log_group, 0) + 1
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
            out.append(item)
        answer: dict[str, Any] = {"logGroups": out}
        if len(chosen) > limit:
            answer["nextToken"] = _token(page[-1].name)
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

    # --- tags -------------------------------------------------------------------------------

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

    # --- log streams --------------------------------------------------------------------------

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
        page, token = _page(rows, p, "limit", 50)
        return _with_token({"logStreams": page}, token)

    # --- events ----------------------------------------------------------------------------------

    async def put_log_events(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        # A raw operation (see ``raw_operations``): the JSON object as sent, checked here.
        group_name, stream = p.get("logGroupName"), p.get("logStreamName")
        for field, value in (("logGroupName", group_name), ("logStreamName", stream)):
            if type(value) is not str or not 1 <= len(value) <= 512:
                raise invalid(f"{field} must be a string of 1 to 512 characters")
        assert isinstance(group_name, str)
        assert isinstance(stream, str)
        group = await self._group(ctx, group_name)
        key = (ctx.tenant, group_name, stream)
        if self.registry.unknown([key]) and not await asyncio.to_thread(
            self.catalog.stream_exists, *key
        ):
            raise not_found("log stream")
        try:
            result = decode_put_log_events(
                p.get("logEvents"),  # type: ignore[arg-type]
                tenant=ctx.tenant,
                group=group_name,
                stream=stream,
                now_ms=self.now_ms(),
                retention_days=group.retention_days,
            )
        except RequestError as exc:
            raise invalid(str(exc)) from None
        try:
            await self.pipeline.accept(result.decoded)
        except Overloaded as exc:
            raise AwsError("ThrottlingException", str(exc), 400) from None
        except StoreUnavailable as exc:
            raise AwsError(
                "ServiceUnavailableException", str(exc), 503, sender_fault=False
            ) from None
        answer: dict[str, Any] = {"nextSequenceToken": uuid.uuid4().hex}
        if result.rejected_info:
            answer["rejectedLogEventsInfo"] = result.rejected_info
        return answer

    async def get_log_events(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = self._group_param(p)
        stream = p["logStreamName"]
        await self._group(ctx, group)
        q = logevents.EventQuery(
            ctx.tenant,
            group,
            streams=[stream],
            start_ms=_ms(p["startTime"]) if "startTime" in p else None,
            end_ms=_ms(p["endTime"]) if "endTime" in p else None,
        )
        limit = p.get("limit", 10_000)
        token = p.get("nextToken")
        after = before = None
        forward = bool(p.get("startFromHead", False))
        if token is not None:
            direction, _, rest = token.partition("/")
            pos = _untoken(rest, lambda v: v is None or _is_pos(v))
            if direction not in ("f", "b"):
                raise invalid("The specified nextToken is invalid.")
            forward = direction == "f"
            if pos is not None:
                after, before = (tuple(pos), None) if forward else (None, tuple(pos))
        events = await logevents.get_events(
            self.store, q, limit=limit, forward=forward, after=after, before=before
        )
        if events:
            forward_pos: Any = list(events[-1].position)
            backward_pos: Any = list(events[0].position)
        else:
            # Nothing more this way: hand back the same position, as CloudWatch does.
            forward_pos = list(after) if after else None
            backward_pos = list(before) if before else None
            if token is None:
                forward_pos = backward_pos = None
        return {
            "events": [
                {"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
                for e in events
            ],
            "nextForwardToken": "f/" + _token(forward_pos),
            "nextBackwardToken": "b/" + _token(backward_pos),
        }

    async def filter_log_events(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = self._group_param(p)
        if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
            raise invalid("logStreamNames and logStreamNamePrefix cannot both be specified.")
        await self._group(ctx, group)
        try:
            pattern = parse_pattern(p.get("filterPattern", ""))
        except PatternError as exc:
            raise invalid(f"Invalid filter pattern: {exc}") from None
        q = logevents.EventQuery(
            ctx.tenant,
            group,
            streams=list(p.get("logStreamNames") or []),
            stream_prefix=p.get("logStreamNamePrefix"),
            start_ms=_ms(p["startTime"]) if "startTime" in p else None,
            end_ms=_ms(p["endTime"]) if "endTime" in p else None,
            end_inclusive=True,
        )
        after = _untoken(p.get("nextToken"), _is_pos)
        page = await logevents.filter_events(
            self.store,
            q,
            pattern,
            limit=p.get("limit", 10_000),
            after=tuple(after) if after else None,
        )
        answer: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": e.stream,
                    "timestamp": e.timestamp_ms,
                    "message": e.message,
                    "ingestionTime": e.ingestion_ms,
                    "eventId": e.event_id,
                }
                for e in page.events
            ],
            "searchedLogStreams": [],
        }
        if page.resume is not None:
            answer["nextToken"] = _token(list(page.resume))
        return answer

    async def get_log_group_fields(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = self._group_param(p)
        await self._group(ctx, group)
        if "time" in p:
            center = int(p["time"]) * 1000
            start, end = center - 480_000, center + 480_000
        else:
            end = self.now_ms()
            start = end - 900_000
        found = await logevents.group_fields(self.store, ctx.tenant, group, start, end)
        return {"logGroupFields": [{"name": n, "percent": pct} for n, pct in found]}

    async def get_log_record(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        try:
            group, stream, ts, key = (
                base64.b64decode(p["logRecordPointer"], validate=True).decode().split("\n")
            )
            position = (int(ts), int(key))
        except (ValueError, UnicodeDecodeError):
            raise invalid("The specified logRecordPointer is invalid.") from None
        q = logevents.EventQuery(ctx.tenant, group, streams=[stream])
        found = await logevents.get_events(
            self.store,
            q,
            limit=1,
            forward=True,
            after=(position[0], position[1] - 1) if position[1] else (position[0] - 1, 2**64 - 1),
        )
        if not found or found[0].position != position:
            raise not_found("log record")
        e = found[0]
        return {
            "logRecord": {
                "@timestamp": str(e.timestamp_ms),
                "@message": e.message,
                "@logStream": e.stream,
                "@log": f"{ctx.account_id}:{group}",
                "@ingestionTime": str(e.ingestion_ms),
            }
        }

    # --- metric filters --------------------------------------------------------------------------

    async def put_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group, name = p["logGroupName"], p["filterName"]
        try:
            pattern = parse_pattern(p["filterPattern"])
        except PatternError as exc:
            raise invalid(f"Invalid metric filter pattern: {exc}") from None
        transforms = p["metricTransformations"]
        if len(transforms) != 1:
            raise invalid("metricTransformations must hold exactly one transformation.")
        t = transforms[0]
        value = str(t["metricValue"])
        if not value.startswith("$"):
            try:
                float(value)
            except ValueError:
                raise invalid(
                    f"Invalid metricValue {value!r}: use a number, $.json.field or $field"
                ) from None
        elif pattern.kind == "terms":
            raise invalid(
                "A metricValue that names a field needs a JSON or space-delimited pattern."
            )
        dims = t.get("dimensions") or {}
        if dims and "defaultValue" in t:
            raise invalid("defaultValue and dimensions cannot both be set.")
        if len(dims) > 3:
            raise invalid("A metric filter can have at most 3 dimensions.")
        for dim, ref in dims.items():
            if not str(ref).startswith("$"):
                raise invalid(f"Dimension {dim!r} must name a field ($.field or $field).")
        await self._group(ctx, group)
        existing = [
            f
            for t_, f in await asyncio.to_thread(self.catalog.metric_filters, ctx.tenant)
            if f.log_group == group
        ]
        if len(existing) >= MAX_METRIC_FILTERS and name not in {f.name for f in existing}:
            raise AwsError(
                "LimitExceededException",
                f"A log group can have at most {MAX_METRIC_FILTERS} metric filters.",
            )
        await asyncio.to_thread(
            self.catalog.put_metric_filter, ctx.tenant, group, name, p["filterPattern"], transforms
        )
        await self.reload_filters()
        return {}

    async def describe_metric_filters(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        group = p.get("logGroupName")
        if (p.get("metricName") is None) != (p.get("metricNamespace") is None):
            raise invalid("metricName and metricNamespace must be given together.")
        if group is not None:
            await self._group(ctx, group)
        rows = [f for _, f in await asyncio.to_thread(self.catalog.metric_filters, ctx.tenant)]
        prefix = p.get("filterNamePrefix")
        chosen = [
            f
            for f in rows
            if (group is None or f.log_group == group)
            and (not prefix or f.name.startswith(prefix))
            and (
                p.get("metricName") is None
                or any(
                    t["metricName"] == p["metricName"]
                    and t["metricNamespace"] == p["metricNamespace"]
                    for t in f.transformations
                )
            )
        ]
        page, token = _page(chosen, p, "limit", 50)
        answer: dict[str, Any] = {
            "metricFilters": [
                {
                    "filterName": f.name,
                    "filterPattern": f.pattern,
                    "metricTransformations": f.transformations,
                    "creationTime": f.created_ms,
                    "logGroupName": f.log_group,
                }
                for f in page
            ]
        }
        return _with_token(answer, token)

    async def delete_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._group(ctx, p["logGroupName"])
        found = await asyncio.to_thread(
            self.catalog.delete_metric_filter, ctx.tenant, p["logGroupName"], p["filterName"]
        )
        if not found:
            raise not_found("metric filter")
        await self.reload_filters()
        return {}

    async def test_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        try:
            pattern = parse_pattern(p["filterPattern"])
        except PatternError as exc:
            raise invalid(f"Invalid metric filter pattern: {exc}") from None
        matches = []
        for number, message in enumerate(p["logEventMessages"], start=1):
            extracted = pattern.extract(message)
            if extracted is None:
                continue
            values = {k: _text(v) for k, v in extracted.items()}
            if pattern.kind == "json":
                values = _json_refs(pattern.text, extracted, pattern)
            matches.append(
                {"eventNumber": number, "eventMessage": message, "extractedValues": values}
            )
        return {"matches": matches}

    # --- Logs Insights ---------------------------------------------------------------------------

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
            query_id = self.queries.start(request)
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
        page, token = _page(chosen, p, "maxResults", 1000)
        answer: dict[str, Any] = {
            "queries": [
                {
                    "queryLanguage": QUERY_LANGUAGE,
                    "queryId": q.query_id,
                    "queryString": q.request.query_string,
                    "status": q.status,
                    "createTime": int(q.create_time * 1000),
                    "logGroupName": q.request.groups[0] if q.request.groups else "",
                }
                for q in page
            ]
        }
        return _with_token(answer, token)

    # --- saved queries ------------------------------------------------------------------------

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
            modified_ms=self.now_ms(),
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
        page, token = _page(rows, p, "maxResults", 1000)
        answer: dict[str, Any] = {
            "queryDefinitions": [
                {
                    "queryLanguage": QUERY_LANGUAGE,
                    "queryDefinitionId": r.id,
                    "name": r.name,
                    "queryString": r.query,
                    "lastModified": r.modified_ms,
                    "logGroupNames": r.log_groups,
                }
                for r in page
            ]
        }
        return _with_token(answer, token)

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

    # --- scheduled queries (delegated) ---------------------------------------------------------

    async def create_scheduled_query(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self.scheduled.create(p, ctx)

    async def update_scheduled_query(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self.scheduled.update(p, ctx)

    async def get_scheduled_query(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self.scheduled.get(p["identifier"], ctx)

    async def list_scheduled_queries(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self.scheduled.list_queries(p, ctx)

    async def delete_scheduled_query(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self.scheduled.delete(p["identifier"], ctx)

    async def get_scheduled_query_history(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self.scheduled.history(p, ctx)


OPERATIONS = (
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "TagLogGroup",
    "UntagLogGroup",
    "ListTagsLogGroup",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "GetLogRecord",
    "GetLogGroupFields",
    "PutMetricFilter",
    "DescribeMetricFilters",
    "DeleteMetricFilter",
    "TestMetricFilter",
    "StartQuery",
    "GetQueryResults",
    "StopQuery",
    "DescribeQueries",
    "PutQueryDefinition",
    "DescribeQueryDefinitions",
    "DeleteQueryDefinition",
    "CreateScheduledQuery",
    "UpdateScheduledQuery",
    "GetScheduledQuery",
    "ListScheduledQueries",
    "DeleteScheduledQuery",
    "GetScheduledQueryHistory",
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _seconds(value: Any) -> int:
    return int(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_SELECTOR = re.compile(r"\$(?:\.[A-Za-z0-9_@$\-]+|\[-?\d+\])+")


def _json_refs(text: str, extracted: Any, pattern: Any) -> dict[str, str]:
    """The values of the selectors a JSON pattern names, as TestMetricFilter shows them."""
    out = {}
    for ref in _SELECTOR.findall(text):
        value = pattern.value_of(ref, extracted)
        if value is not None:
            out[ref] = _text(value)
    return out


async def _group_bytes(store: Store, tenant: str) -> dict[str, int]:
    rows = await store.query(
        "SELECT log_group, sum(bytes) FROM log_streams WHERE tenant = {t:String}"
        " GROUP BY log_group",
        {"t": tenant},
    )
    return {str(g): int(b) for g, b in rows.rows}
