"""CloudWatch Logs: writing and reading log events (PutLogEvents, GetLogEvents,
FilterLogEvents, GetLogRecord, GetLogGroupFields)."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.api import pagetoken
from vigil.api.aws import validation
from vigil.api.aws.interface import Handler, RequestContext
from vigil.api.aws.logs.common import LogsApiBase, invalid, is_position, not_found, untoken
from vigil.api.aws.protocols import load_model
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.ingest.interface import RequestError
from vigil.ingest.overload import submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.model.deadline import Deadline
from vigil.query.logs import events as logevents
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.store.interface import Store
from vigil.syntax.filterpattern import PatternError
from vigil.syntax.filterpattern import parse as parse_pattern
from vigil.telemetry import SelfMetrics

_PUT_SHAPE = load_model("logs").operation_model("PutLogEvents").input_shape


@dataclass
class LogEventsService(LogsApiBase):
    store: Store
    catalog: LogsCatalog
    registry: LogGroupRegistry
    pipeline: IngestPipeline
    metrics: SelfMetrics
    clock: Callable[[], int] = time.time_ns

    raw_operations = frozenset({"PutLogEvents"})

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutLogEvents": self.put_log_events,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
            "GetLogGroupFields": self.get_log_group_fields,
            "GetLogRecord": self.get_log_record,
        }

    def _now_ms(self) -> int:
        return self.clock() // 1_000_000

    async def put_log_events(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        # A raw operation (see ``raw_operations``): the JSON object as sent, checked here.
        group_name, stream = p.get("logGroupName"), p.get("logStreamName")
        # The names as the model constrains them (length, pattern), in AWS's words; the
        # events are the decoder's to check (it is faster than a generic walk).
        problem = validation.check_members(p, _PUT_SHAPE, ("logGroupName", "logStreamName"))
        if problem:
            raise invalid(problem.message)
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
                now_ms=self._now_ms(),
                retention_days=group.retention_days,
            )
        except RequestError as exc:
            self.metrics.ingest_requests.labels("cloudwatch_logs", "logs", "400").inc()
            raise invalid(str(exc)) from None
        refused = await submit(
            self.pipeline.accept, result.decoded, self.metrics, "cloudwatch_logs", "logs"
        )
        if refused is not None:
            self.metrics.ingest_requests.labels(
                "cloudwatch_logs", "logs", str(refused.status)
            ).inc()
            raise self.refused(refused)
        self.metrics.ingest_requests.labels("cloudwatch_logs", "logs", "200").inc()
        self.metrics.count_items(
            "cloudwatch_logs", "logs", result.decoded.accepted, result.decoded.rejected.count
        )
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
            pos = untoken(rest, lambda v: v is None or is_position(v))
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
            "nextForwardToken": "f/" + pagetoken.encode(forward_pos),
            "nextBackwardToken": "b/" + pagetoken.encode(backward_pos),
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
        after = untoken(p.get("nextToken"), is_position)
        with self.metrics.expression("filter-pattern") as run:
            page = await logevents.filter_events(
                self.store,
                q,
                pattern,
                limit=p.get("limit", 10_000),
                after=tuple(after) if after else None,
                deadline=Deadline(),
            )
            if page.cut_short:
                run.overran()
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
            answer["nextToken"] = pagetoken.encode(list(page.resume))
        return answer

    async def get_log_group_fields(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group = self._group_param(p)
        await self._group(ctx, group)
        if "time" in p:
            center = int(p["time"]) * 1000
            start, end = center - 480_000, center + 480_000
        else:
            end = self._now_ms()
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


def _ms(value: Any) -> int:
    return int(value)
