"""Reading log events the way the CloudWatch Logs API pages them.

Events are ordered by (timestamp, event key); the key is a hash of the row, so that pages
resume exactly after the last event returned even when many events share a millisecond.
``get_events`` serves GetLogEvents (one stream, forward or backward); ``filter_events``
serves FilterLogEvents (several streams, a filter pattern checked in SQL where it can be
and in Python where it cannot, bounded work per call with a token to resume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.model.deadline import Deadline
from vigil.store.interface import Store
from vigil.syntax.filterpattern import Pattern

EVENT_KEY = "cityHash64(log_stream, body, toUnixTimestamp64Milli(ingestion_time), span_id)"
MAX_SCAN_ROWS = 200_000  # rows examined by one FilterLogEvents call before it hands a token
MAX_MS = 9_000_000_000_000  # 2255: times past this are clamped (nanosecond columns end in 2262)


def clamp_ms(value: int) -> int:
    return max(0, min(int(value), MAX_MS))


@dataclass(frozen=True, slots=True)
class Event:
    stream: str
    timestamp_ms: int
    message: str
    ingestion_ms: int
    ts_ns: int
    key: int

    @property
    def event_id(self) -> str:
        return f"{self.ts_ns:020d}{self.key:020d}"

    @property
    def position(self) -> tuple[int, int]:
        return (self.ts_ns, self.key)


@dataclass(slots=True)
class EventQuery:
    tenant: str
    group: str
    streams: list[str] = field(default_factory=list)
    stream_prefix: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    end_inclusive: bool = False  # FilterLogEvents includes endTime, GetLogEvents does not


def _where(q: EventQuery) -> tuple[list[str], dict[str, Any]]:
    where = ["tenant = {tenant:String}", "log_group = {group:String}"]
    params: dict[str, Any] = {"tenant": q.tenant, "group": q.group}
    if q.streams:
        where.append("log_stream IN {streams:Array(String)}")
        params["streams"] = q.streams
    if q.stream_prefix:
        where.append("startsWith(log_stream, {stream_prefix:String})")
        params["stream_prefix"] = q.stream_prefix
    if q.start_ms is not None:
        where.append("timestamp >= fromUnixTimestamp64Milli({start_ms:Int64})")
        params["start_ms"] = clamp_ms(q.start_ms)
    if q.end_ms is not None:
        # Inclusive of the whole end millisecond: PutLogEvents stores an event's index in
        # the nanoseconds under its millisecond.
        end = clamp_ms(q.end_ms) + 1 if q.end_inclusive else clamp_ms(q.end_ms)
        where.append("timestamp < fromUnixTimestamp64Milli({end_ms:Int64})")
        params["end_ms"] = end
    return where, params


_COLUMNS = (
    "log_stream, toUnixTimestamp64Milli(timestamp), body,"
    f" toUnixTimestamp64Milli(ingestion_time), toUnixTimestamp64Nano(timestamp), {EVENT_KEY}"
)


def _events(rows: Any) -> list[Event]:
    return [Event(str(r[0]), int(r[1]), r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]


async def get_events(
    store: Store,
    q: EventQuery,
    *,
    limit: int,
    forward: bool,
    after: tuple[int, int] | None = None,
    before: tuple[int, int] | None = None,
) -> list[Event]:
    """Up to ``limit`` events in ascending order: the first ones after ``after`` when
    ``forward``, else the last ones before ``before``."""
    where, params = _where(q)
    if after is not None:
        where.append(
            f"(toUnixTimestamp64Nano(timestamp), {EVENT_KEY}) > ({{a_ts:Int64}}, {{a_key:UInt64}})"
        )
        params["a_ts"], params["a_key"] = after
    if before is not None:
        where.append(
            f"(toUnixTimestamp64Nano(timestamp), {EVENT_KEY}) < ({{b_ts:Int64}}, {{b_key:UInt64}})"
        )
        params["b_ts"], params["b_key"] = before
    order = "ASC" if forward else "DESC"
    params["limit"] = limit
    rows = await store.query(
        f"SELECT {_COLUMNS} FROM logs WHERE {' AND '.join(where)}"
        f" ORDER BY timestamp {order}, {EVENT_KEY} {order} LIMIT {{limit:UInt32}}",
        params,
    )
    events = _events(rows.rows)
    return events if forward else events[::-1]


@dataclass(slots=True)
class FilterPage:
    events: list[Event]
    resume: tuple[int, int] | None  # where the next call starts; None when done
    cut_short: bool = False  # the deadline ended the scan (the page is partial, resumable)


async def filter_events(
    store: Store,
    q: EventQuery,
    pattern: Pattern,
    *,
    limit: int,
    after: tuple[int, int] | None = None,
    max_scan: int = MAX_SCAN_ROWS,
    deadline: Deadline | None = None,
) -> FilterPage:
    """One page of events matching ``pattern``. The scan stops, as CloudWatch's does, after
    ``max_scan`` rows or at ``deadline`` (the pattern's Python match is the user's
    expression), answering what it has with the position to resume from."""
    where, params = _where(q)
    condition, pattern_params = pattern.sql()
    where.append(condition)
    params.update(pattern_params)
    exact = pattern.exact_in_sql()
    chunk = limit + 1 if exact else max(limit + 1, 5000)
    matched: list[Event] = []
    scanned = 0
    cursor = after
    while True:
        page_where = list(where)
        page_params = dict(params)
        if cursor is not None:
            page_where.append(
                f"(toUnixTimestamp64Nano(timestamp), {EVENT_KEY})"
                " > ({c_ts:Int64}, {c_key:UInt64})"
            )
            page_params["c_ts"], page_params["c_key"] = cursor
        page_params["limit"] = chunk
        rows = await store.query(
            f"SELECT {_COLUMNS} FROM logs WHERE {' AND '.join(page_where)}"
            f" ORDER BY timestamp, {EVENT_KEY} LIMIT {{limit:UInt32}}",
            page_params,
        )
        events = _events(rows.rows)
        for event in events:
            scanned += 1
            cursor = event.position
            if exact or pattern.match(event.message):
                matched.append(event)
                if len(matched) > limit:
                    # One more than asked: there is a next page, starting after the last kept.
                    kept = matched[:limit]
                    return FilterPage(kept, kept[-1].position)
        if len(events) < chunk:
            return FilterPage(matched, None)
        if scanned >= max_scan:
            return FilterPage(matched, cursor)
        if deadline is not None and deadline.expired():
            return FilterPage(matched, cursor, cut_short=True)


async def stream_stats(store: Store, tenant: str, group: str) -> dict[str, dict[str, int]]:
    """first/last event, last ingestion (ms) and stored bytes per stream of a group."""
    rows = await store.query(
        "SELECT log_stream, toUnixTimestamp64Milli(min(first_event)),"
        " toUnixTimestamp64Milli(max(last_event)), toUnixTimestamp64Milli(max(last_ingestion)),"
        " sum(bytes), sum(events) FROM log_streams"
        " WHERE tenant = {t:String} AND log_group = {g:String} GROUP BY log_stream",
        {"t": tenant, "g": group},
    )
    return {
        str(r[0]): {
            "first": int(r[1]),
            "last": int(r[2]),
            "ingested": int(r[3]),
            "bytes": int(r[4]),
            "events": int(r[5]),
        }
        for r in rows.rows
    }


def delete_group_data(store: Store, tenant: str, group: str) -> None:
    """Delete a log group's events and stream summaries (blocking; lightweight DELETE)."""
    params = {"t": tenant, "g": group}
    store.command("DELETE FROM logs WHERE tenant = {t:String} AND log_group = {g:String}", params)
    store.command(
        "DELETE FROM log_streams WHERE tenant = {t:String} AND log_group = {g:String}", params
    )


def delete_stream_data(store: Store, tenant: str, group: str, stream: str) -> None:
    params = {"t": tenant, "g": group, "s": stream}
    where = "tenant = {t:String} AND log_group = {g:String} AND log_stream = {s:String}"
    store.command(f"DELETE FROM logs WHERE {where}", params)
    store.command(f"DELETE FROM log_streams WHERE {where}", params)


async def tail_events(
    store: Store,
    tenant: str,
    group: str,
    pattern: Pattern,
    *,
    since_ns: int,
    after: tuple[int, int, int] | None,
    limit: int,
    now_ms: int,
    condition: tuple[str, dict[str, Any]] = ("1", {}),
    max_scan: int = MAX_SCAN_ROWS,
) -> tuple[list[Event], tuple[int, int, int]]:
    """Matching events in ingestion order (then time order): the first ``limit`` after
    ``after`` (ingestion ms, event time ns, event key), or the newest ``limit`` ones.
    ``condition`` is one more SQL condition (the severity filter). Returns the events and
    the cursor to resume from (with nothing found and no cursor: ``now_ms``, so following
    starts now).

    A pattern SQL cannot decide alone (JSON, space-delimited) is checked here, chunk by
    chunk, so that the answer still holds ``limit`` matches when there are that many
    among the newest ``max_scan`` rows (after a cursor: the next ``max_scan``)."""
    pattern_sql, params = pattern.sql()
    params.update(condition[1])
    params.update(t=tenant, g=group, since=since_ns)
    where = [
        "tenant = {t:String}",
        "log_group = {g:String}",
        "timestamp >= fromUnixTimestamp64Nano({since:Int64})",
        pattern_sql,
        condition[0],
    ]
    position = (
        f"(toUnixTimestamp64Milli(ingestion_time), toUnixTimestamp64Nano(timestamp), {EVENT_KEY})"
    )
    forward = after is not None
    order = "ASC" if forward else "DESC"
    exact = pattern.exact_in_sql()
    chunk = limit if exact else max(limit, 1000)
    matched: list[Event] = []
    newest: tuple[int, int, int] | None = None  # the newest row seen (where following resumes)
    bound = after
    scanned = 0
    while True:
        page_where = list(where)
        page_params = dict(params, limit=chunk)
        if bound is not None:
            op = ">" if forward else "<"
            page_where.append(
                f"{position} {op} ({{b_ing:Int64}}, {{b_ts:Int64}}, {{b_key:UInt64}})"
            )
            page_params["b_ing"], page_params["b_ts"], page_params["b_key"] = bound
        rows = await store.query(
            f"SELECT {_COLUMNS}, {position} FROM logs WHERE {' AND '.join(page_where)}"
            f" ORDER BY toUnixTimestamp64Milli(ingestion_time) {order}, timestamp {order},"
            f" {EVENT_KEY} {order} LIMIT {{limit:UInt32}}",
            page_params,
        )
        for row, event in zip(rows.rows, _events(rows.rows), strict=True):
            scanned += 1
            pos = row[-1]
            bound = (int(pos[0]), int(pos[1]), int(pos[2]))
            if newest is None:
                newest = bound
            if exact or pattern.match(event.message):
                matched.append(event)
                if len(matched) == limit:
                    break
        if len(matched) == limit or len(rows.rows) < chunk or scanned >= max_scan:
            break
    if forward:
        # Following resumes after the last row looked at, matching or not.
        assert bound is not None
        return matched, bound
    return matched[::-1], newest if newest is not None else (now_ms, 0, 0)


async def group_fields(
    store: Store, tenant: str, group: str, start_ms: int, end_ms: int
) -> list[tuple[str, int]]:
    """Fields of the group's events in the range with the percentage of events holding
    each (system fields first), for GetLogGroupFields."""
    params = {"t": tenant, "g": group, "s": clamp_ms(start_ms), "e": clamp_ms(end_ms)}
    where = (
        "tenant = {t:String} AND log_group = {g:String}"
        " AND timestamp >= fromUnixTimestamp64Milli({s:Int64})"
        " AND timestamp < fromUnixTimestamp64Milli({e:Int64} + 1)"
    )
    total = int((await store.query(f"SELECT count() FROM logs WHERE {where}", params)).rows[0][0])
    if not total:
        return []
    rows = await store.query(
        "SELECT path, count() AS n FROM logs ARRAY JOIN arrayDistinct(arrayConcat("
        " JSONAllPaths(fields), mapKeys(attributes), mapKeys(resource))) AS path"
        f" WHERE {where} GROUP BY path ORDER BY n DESC, path LIMIT 1000",
        params,
    )
    system = [
        (name, 100) for name in ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")
    ]
    return system + [(str(p), round(100 * int(n) / total)) for p, n in rows.rows]


async def group_stored_bytes(store: Store, tenant: str) -> dict[str, int]:
    """Bytes stored per log group of ``tenant`` (DescribeLogGroups' ``storedBytes``)."""
    rows = await store.query(
        "SELECT log_group, sum(bytes) FROM log_streams WHERE tenant = {t:String}"
        " GROUP BY log_group",
        {"t": tenant},
    )
    return {str(g): int(b) for g, b in rows.rows}
