"""CloudWatch Logs StartLiveTail: the ``aws logs start-live-tail`` event stream.

The request names 1–10 log groups (names or ARNs; an ARN ending in ``*`` is refused, as
AWS refuses it), optionally log streams or stream-name prefixes (not both, and only with
one log group) and a filter pattern (the filter-pattern language of FilterLogEvents and
metric filters). Unknown groups answer ``ResourceNotFoundException`` before the stream
starts; a bad pattern ``InvalidParameterException``.

The stream (``api.aws.eventstream`` frames it) is a ``sessionStart`` event, then one
``sessionUpdate`` per ``interval`` (1 s, as CloudWatch's cadence) with the events ingested
since the previous one, in ingestion order — at most 500; when more matched, 500 of them
chosen at random (in order) and ``sessionMetadata.sampled`` true. It is the same
machinery as ``/api/v1/logs/tail`` (``query.logs.events.tail_events``: a cursor per log
group over (ingestion time, event time, event key)), starting after the newest event
stored when the session starts. After 3 hours on the injected clock the session ends
with ``SessionTimeoutException``; it also ends when the server stops (``running()``
false) or the client goes away.

The client side: botocore sends StartLiveTail to the host ``stream-`` + the endpoint's
host, which does not resolve for ``http://127.0.0.1:PORT``; a client of vigil sets
``botocore.config.Config(inject_host_prefix=False)`` (README).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from vigil.api.aws.interface import Handler, RequestContext
from vigil.api.aws.logs.common import LogsApiBase, group_from_arn, invalid
from vigil.query.logs import events as logevents
from vigil.query.logs.events import Event
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import Store
from vigil.syntax.filterpattern import Pattern, PatternError
from vigil.syntax.filterpattern import parse as parse_pattern

MAX_RESULTS = 500  # events per update; more are sampled down to this
SESSION_SECONDS = 3 * 3600
READ_LIMIT = 10_000  # events read per group and update
WINDOW_NS = 86_400 * 10**9  # events stamped within the last day are followed

Cursor = tuple[int, int, int]


class LiveTailService(LogsApiBase):
    def __init__(
        self,
        store: Store,
        registry: LogGroupRegistry,
        clock: Callable[[], int],
        running: Callable[[], bool] = lambda: True,
        interval: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.registry = registry
        self._clock = clock  # ns
        self._running = running
        self._interval = interval
        self._sleep = sleep

    def operations(self) -> Mapping[str, Handler]:
        return {"StartLiveTail": self._start}

    async def _start(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        identifiers: list[str] = params["logGroupIdentifiers"]
        for identifier in identifiers:
            if identifier.startswith("arn:") and identifier.endswith("*"):
                raise invalid(f"The log group ARN {identifier} must not end with an asterisk (*).")
        groups = [group_from_arn(i) for i in identifiers]
        for group in groups:
            await self._group(ctx, group)  # ResourceNotFoundException before the stream
        streams, prefixes = params.get("logStreamNames"), params.get("logStreamNamePrefixes")
        if streams and prefixes:
            raise invalid("logStreamNames and logStreamNamePrefixes cannot both be specified.")
        if (streams or prefixes) and len(groups) != 1:
            raise invalid(
                "logStreamNames and logStreamNamePrefixes need exactly one log group in"
                " logGroupIdentifiers."
            )
        text = params.get("logEventFilterPattern", "")
        try:
            pattern = parse_pattern(text)
        except PatternError as exc:
            raise invalid(f"Invalid logEventFilterPattern: {exc}") from None
        start: dict[str, Any] = {
            "requestId": ctx.request_id,
            "sessionId": str(uuid.uuid4()),
            "logGroupIdentifiers": identifiers,
        }
        for key, value in (
            ("logStreamNames", streams),
            ("logStreamNamePrefixes", prefixes),
            ("logEventFilterPattern", text or None),
        ):
            if value:
                start[key] = value
        condition = _streams_condition(streams, prefixes)
        session = _Session(self, ctx.tenant, list(zip(identifiers, groups, strict=True)))
        return {"responseStream": session.events(start, pattern, condition)}


def _streams_condition(
    streams: list[str] | None, prefixes: list[str] | None
) -> tuple[str, dict[str, Any]]:
    if streams:
        return "log_stream IN {tail_streams:Array(String)}", {"tail_streams": streams}
    if prefixes:
        return (
            "arrayExists(p -> startsWith(log_stream, p), {tail_prefixes:Array(String)})",
            {"tail_prefixes": prefixes},
        )
    return "1", {}


class _Session:
    def __init__(
        self, service: LiveTailService, tenant: str, groups: list[tuple[str, str]]
    ) -> None:
        self._s = service
        self._tenant = tenant
        self._groups = groups  # (identifier as asked, log group name)

    async def events(
        self, start: dict[str, Any], pattern: Pattern, condition: tuple[str, dict[str, Any]]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        s = self._s
        began = s._clock()
        cursors = {g: await self._newest(g, condition) for _, g in self._groups}
        yield "sessionStart", start
        while s._running():
            await s._sleep(s._interval)
            if not s._running():
                return
            if s._clock() - began >= SESSION_SECONDS * 10**9:
                yield (
                    "SessionTimeoutException",
                    {"message": "The Live Tail session has timed out after 3 hours."},
                )
                return
            found: list[tuple[str, Event]] = []
            for identifier, group in self._groups:
                events, cursors[group] = await logevents.tail_events(
                    s.store,
                    self._tenant,
                    group,
                    pattern,
                    since_ns=s._clock() - WINDOW_NS,
                    after=cursors[group],
                    limit=READ_LIMIT,
                    now_ms=s._clock() // 10**6,
                    condition=condition,
                )
                found.extend((identifier, e) for e in events)
            sampled = len(found) > MAX_RESULTS
            if sampled:
                keep = sorted(random.sample(range(len(found)), MAX_RESULTS))
                found = [found[i] for i in keep]
            found.sort(key=lambda item: (item[1].ingestion_ms, item[1].ts_ns, item[1].key))
            yield (
                "sessionUpdate",
                {
                    "sessionMetadata": {"sampled": sampled},
                    "sessionResults": [
                        {
                            "logStreamName": e.stream,
                            "logGroupIdentifier": identifier,
                            "message": e.message,
                            "timestamp": e.timestamp_ms,
                            "ingestionTime": e.ingestion_ms,
                        }
                        for identifier, e in found
                    ],
                },
            )

    async def _newest(self, group: str, condition: tuple[str, dict[str, Any]]) -> Cursor:
        """The position after which the session starts: the newest event stored now."""
        _, newest = await logevents.tail_events(
            self._s.store,
            self._tenant,
            group,
            parse_pattern(""),
            since_ns=self._s._clock() - WINDOW_NS,
            after=None,
            limit=1,
            now_ms=self._s._clock() // 10**6,
            condition=condition,
        )
        return newest
