"""PutLogEvents → ``LogColumns``, with CloudWatch Logs' limits. Pure: no I/O, no clock.

Limits (as CloudWatch Logs applies them):
* at most 10,000 events, and at most 1,048,576 bytes counted as each message's UTF-8 size
  plus 26 bytes per event; events in chronological order; the batch spans at most 24 h.
  Breaking one of these refuses the whole call (``RequestError``) and stores nothing.
* events more than 14 days old (``tooOldLogEventEndIndex``), older than the group's
  retention (``expiredLogEventEndIndex``) or more than 2 hours ahead
  (``tooNewLogEventStartIndex``) are left out and reported in ``rejectedLogEventsInfo``;
  the call itself succeeds.
Each message is kept as it was sent; JSON messages get their fields discovered and the
trace id they name (see ingest.logfields).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.ingest.interface import Decoded, RequestError
from vigil.ingest.logfields import message_fields
from vigil.model.common import ZERO_SPAN_ID, ZERO_TRACE_ID
from vigil.model.logs import LogColumns

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
    events: Sequence[dict[str, Any]],
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
    cols = LogColumns()
    decoded = Decoded(signal="logs", logs=cols, log_streams={(tenant, group, stream)})
    expired_before = now_ms - retention_days * DAY_MS if retention_days else None
    for i, event in enumerate(events):
        ts = int(event["timestamp"])
        if ts > now_ms + TOO_NEW_MS:
            if too_new_start < 0:
                too_new_start = i
            continue
        if ts < now_ms - TOO_OLD_MS:
            too_old_end = i
            continue
        if expired_before is not None and ts < expired_before:
            expired_end = i
            continue
        message: str = event["message"]
        fields, trace_id = message_fields(message)
        cols.tenant.append(tenant)
        cols.log_group.append(group)
        cols.log_stream.append(stream)
        cols.timestamp.append(ts * 1_000_000)
        cols.observed_timestamp.append(0)
        cols.severity_number.append(0)
        cols.severity_text.append("")
        cols.body.append(message)
        cols.attributes.append([])
        cols.attributes_typed.append([])
        cols.resource.append([])
        cols.resource_typed.append([])
        cols.scope_name.append("")
        cols.scope_version.append("")
        cols.trace_id.append(trace_id or ZERO_TRACE_ID)
        cols.span_id.append(ZERO_SPAN_ID)
        cols.flags.append(0)
        cols.service.append("")
        cols.fields.append(fields)
    info: dict[str, int] = {}
    if too_new_start >= 0:
        info["tooNewLogEventStartIndex"] = too_new_start
    if too_old_end >= 0:
        info["tooOldLogEventEndIndex"] = too_old_end
    if expired_end >= 0:
        info["expiredLogEventEndIndex"] = expired_end
    rejected = len(events) - len(cols)
    if rejected:
        decoded.rejected.add("events outside the accepted time range", rejected)
    return PutResult(decoded, info)


def check_batch(events: Sequence[dict[str, Any]]) -> None:
    """Raise ``RequestError`` for a batch CloudWatch refuses as a whole."""
    if not events:
        raise RequestError("logEvents must hold at least 1 event")
    if len(events) > MAX_EVENTS:
        raise RequestError(
            f"logEvents holds {len(events)} events, over the limit of {MAX_EVENTS} per call"
        )
    size = 0
    previous = None
    first = last = int(events[0]["timestamp"])
    for i, event in enumerate(events):
        ts = int(event["timestamp"])
        if previous is not None and ts < previous:
            raise RequestError(
                "Log events in a single PutLogEvents request must be in chronological order"
                f" (event {i} is older than event {i - 1})"
            )
        previous = ts
        first, last = min(first, ts), max(last, ts)
        message = event["message"]
        size += (len(message) if message.isascii() else len(message.encode())) + EVENT_OVERHEAD
    if size > MAX_BATCH_BYTES:
        raise RequestError(
            f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            f" (each event counts its UTF-8 size plus {EVENT_OVERHEAD} bytes)"
        )
    if last - first > MAX_SPAN_MS:
        raise RequestError(
            "A batch of log events in a single PutLogEvents request cannot span more than 24 hours"
        )
