"""PutLogEvents → ``LogColumns``, with CloudWatch Logs' limits. Pure: no I/O, no clock.

Limits (as CloudWatch Logs applies them):
* at most 10,000 events, and at most 1,048,576 bytes counted as each message's UTF-8 size
  plus 26 bytes per event; events in chronological order; the batch spans at most 24 h.
  Breaking one of these refuses the whole call (``RequestError``) and stores nothing.
* events more than 14 days old (``tooOldLogEventEndIndex``), older than the group's
  retention (``expiredLogEventEndIndex``) or more than 2 hours ahead
  (``tooNewLogEventStartIndex``) are left out and reported in ``rejectedLogEventsInfo``;
  the call itself succeeds.
Each message is kept as it was sent; a trace id that a JSON message names is kept in
``trace_id`` (see ingest.logfields); the store discovers the fields of JSON messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from vigil.ingest.interface import Decoded, RequestError
from vigil.model.common import (
    TIMESTAMP,
    TRACE_ID,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    constant_column,
    empty_lists,
)
from vigil.model.logfields import named_trace_id
from vigil.model.logs import LOG_SCHEMA, LogColumns

MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_OLD_MS = 14 * 86400 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
DAY_MS = 86400 * 1000


@dataclass(slots=True)
class PutResult:
    decoded: Decoded
    rejected_info: dict[str, int] = field(default_factory=dict)


def decode_put_log_events(
    events: Sequence[Any],
    *,
    tenant: str,
    group: str,
    stream: str,
    now_ms: int,
    retention_days: int | None,
) -> PutResult:
    check_batch(events)
    too_old_end = expired_end = -1
    too_new_start = -1
    expired_before = now_ms - retention_days * DAY_MS if retention_days else None
    newest, oldest = now_ms + TOO_NEW_MS, now_ms - TOO_OLD_MS
    stamps: list[int] = []
    bodies: list[str] = []
    traces: list[bytes] = []
    for i, event in enumerate(events):
        ts = event["timestamp"]
        if ts > newest:
            if too_new_start < 0:
                too_new_start = i
            continue
        if ts < oldest:
            too_old_end = i
            continue
        if expired_before is not None and ts < expired_before:
            expired_end = i
            continue
        message: str = event["message"]
        # The event's index as nanoseconds under its millisecond (the API's resolution; a
        # batch holds at most 10,000 events, so under 10 µs): events of one timestamp then
        # sort, and FilterLogEvents/GetLogEvents return them, in the order they were put,
        # as CloudWatch does (the store's tie-break was a hash).
        stamps.append(ts * 1_000_000 + i)
        bodies.append(message)
        traces.append(named_trace_id(message) or ZERO_TRACE_ID)
    cols = LogColumns(arrow=_table(tenant, group, stream, stamps, bodies, traces))
    decoded = Decoded(signal="logs", logs=cols, log_streams={(tenant, group, stream)})
    info: dict[str, int] = {}
    if too_new_start >= 0:
        info["tooNewLogEventStartIndex"] = too_new_start
    if too_old_end >= 0:
        info["tooOldLogEventEndIndex"] = too_old_end
    if expired_end >= 0:
        info["expiredLogEventEndIndex"] = expired_end
    rejected = len(events) - len(stamps)
    if rejected:
        decoded.rejected.add("events outside the accepted time range", rejected)
    return PutResult(decoded, info)


def _table(
    tenant: str, group: str, stream: str, stamps: list[int], bodies: list[str], traces: list[bytes]
) -> pa.Table:
    """The rows as Arrow directly: all columns but three hold one value, built from buffers
    (through ``LogColumns``' lists, a Python list per row and column, this was a quarter of
    the event loop's time under PutLogEvents load)."""
    n = len(stamps)
    given: dict[str, pa.Array] = {
        "timestamp": pa.array(stamps, TIMESTAMP),
        "body": pa.array(bodies, pa.string()),
        "trace_id": pa.array(traces, TRACE_ID),
    }
    constant: dict[str, str | bytes] = {
        "tenant": tenant,
        "log_group": group,
        "log_stream": stream,
        "span_id": ZERO_SPAN_ID,
    }
    columns = []
    for f in LOG_SCHEMA:
        if f.name in given:
            columns.append(given[f.name])
        elif pa.types.is_list(f.type) or pa.types.is_map(f.type):
            columns.append(empty_lists(f.type, n))
        else:
            value: str | bytes | int = constant.get(f.name, "" if pa.types.is_string(f.type) else 0)
            columns.append(constant_column(value, f.type, n))
    return pa.Table.from_arrays(columns, schema=LOG_SCHEMA)


def check_batch(events: Sequence[Any]) -> None:
    """Raise ``RequestError`` for a batch CloudWatch refuses as a whole (including events
    that are not ``{"timestamp": int, "message": non-empty str}``)."""
    if not isinstance(events, list) or not events:
        raise RequestError("logEvents must be a list of at least 1 event")
    if len(events) > MAX_EVENTS:
        raise RequestError(
            f"logEvents holds {len(events)} events, over the limit of {MAX_EVENTS} per call"
        )
    size = 0
    previous = -1
    first = last = None
    for i, event in enumerate(events):
        if type(event) is not dict:
            raise RequestError(f"logEvents[{i}] must be an object with timestamp and message")
        ts = event.get("timestamp")
        message = event.get("message")
        if type(ts) is not int or ts < 0:
            raise RequestError(f"logEvents[{i}].timestamp must be a number of milliseconds")
        if type(message) is not str or not message:
            raise RequestError(f"logEvents[{i}].message must be a non-empty string")
        if ts < previous:
            raise RequestError(
                "Log events in a single PutLogEvents request must be in chronological order"
                f" (event {i} is older than event {i - 1})"
            )
        previous = ts
        if first is None:
            first = ts
        last = ts
        size += (len(message) if message.isascii() else len(message.encode())) + EVENT_OVERHEAD
    if size > MAX_BATCH_BYTES:
        raise RequestError(
            f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            f" (each event counts its UTF-8 size plus {EVENT_OVERHEAD} bytes)"
        )
    if first is not None and last is not None and last - first > MAX_SPAN_MS:
        raise RequestError(
            "A batch of log events in a single PutLogEvents request cannot span more than 24 hours"
        )
