"""Log search: groups, time range, substring/regex on the message, severity, attributes.

Newest first, keyset pagination: the cursor is (timestamp ns, row hash) of the last row
returned, so pages never repeat or skip rows even while new logs arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.model.common import hex_id, raw_id, typed_attributes
from vigil.model.timefmt import rfc3339
from vigil.query.logs import severity as severity_sql
from vigil.store.interface import Store

SEVERITY_RANGES = severity_sql.RANGES

_ROW_HASH = "cityHash64(log_stream, body, span_id, observed_timestamp)"


@dataclass(slots=True)
class LogSearch:
    tenant: str
    groups: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    start_ns: int | None = None
    end_ns: int | None = None
    contains: str | None = None  # case-insensitive substring of the message
    regex: str | None = None  # RE2, on the message
    severity: str | None = None  # exactly this level (see query/logs/severity.py)
    min_severity: str | None = None  # this level or above
    attributes: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    limit: int = 100
    cursor: tuple[int, int] | None = None


def _where(search: LogSearch) -> tuple[list[str], dict[str, Any]]:
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": search.tenant}
    if search.groups:
        where.append("log_group IN {groups:Array(String)}")
        params["groups"] = search.groups
    if search.streams:
        where.append("log_stream IN {streams:Array(String)}")
        params["streams"] = search.streams
    if search.start_ns is not None:
        where.append("timestamp >= fromUnixTimestamp64Nano({start:Int64})")
        params["start"] = search.start_ns
    if search.end_ns is not None:
        where.append("timestamp < fromUnixTimestamp64Nano({end:Int64})")
        params["end"] = search.end_ns
    if search.contains:
        where.append("positionCaseInsensitiveUTF8(body, {contains:String}) > 0")
        params["contains"] = search.contains
    if search.regex:
        where.append("match(body, {regex:String})")
        params["regex"] = search.regex
    if search.severity or search.min_severity:
        condition, sev_params = severity_sql.condition(search.severity, search.min_severity)
        where.append(condition)
        params.update(sev_params)
    for i, (key, value) in enumerate(sorted(search.attributes.items())):
        where.append(
            f"(attributes[{{ak{i}:String}}] = {{av{i}:String}}"
            f" OR resource[{{ak{i}:String}}] = {{av{i}:String}})"
        )
        params[f"ak{i}"], params[f"av{i}"] = key, value
    if search.trace_id:
        where.append("trace_id = unhex({trace_id:String})")
        params["trace_id"] = search.trace_id
    if search.cursor is not None:
        where.append(
            f"(toUnixTimestamp64Nano(timestamp), {_ROW_HASH}) < ({{cts:Int64}}, {{ch:UInt64}})"
        )
        params["cts"], params["ch"] = search.cursor
    return where, params


async def search_logs(
    store: Store, search: LogSearch
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """Rows newest first and the cursor of the next page (None on the last page)."""
    where, params = _where(search)
    params["limit"] = search.limit + 1
    sql = f"""
        SELECT toUnixTimestamp64Nano(timestamp) AS ts, {_ROW_HASH} AS h,
               toUnixTimestamp64Nano(observed_timestamp) AS observed,
               toUnixTimestamp64Milli(ingestion_time) AS ingested,
               log_group, log_stream, severity_number, severity_text, body,
               {severity_sql.EFFECTIVE_TEXT} AS effective_severity,
               attributes, attributes_typed, resource, resource_typed,
               scope_name, scope_version, trace_id, span_id, flags, service
        FROM logs WHERE {" AND ".join(where)}
        ORDER BY timestamp DESC, h DESC
        LIMIT {{limit:UInt32}}
    """
    rows = (await store.query(sql, params)).dicts()
    next_cursor = None
    if len(rows) > search.limit:
        rows = rows[: search.limit]
        next_cursor = (int(rows[-1]["ts"]), int(rows[-1]["h"]))
    return [_log_json(r) for r in rows], next_cursor


def _log_json(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": rfc3339(r["ts"]),
        "time_unix_nano": str(r["ts"]),
        "observed_time_unix_nano": str(r["observed"]),
        "ingestion_time_ms": int(r["ingested"]),
        "log_group": r["log_group"],
        "log_stream": r["log_stream"],
        "severity_number": r["severity_number"],
        "severity_text": r["severity_text"],
        # What severity filters read: the OTLP severity, else the JSON level/severity field.
        "severity": severity_sql.name_of(
            int(r["severity_number"]), r["severity_text"], r["effective_severity"]
        ),
        "body": r["body"],
        "attributes": typed_attributes(r["attributes"], r["attributes_typed"]),
        "resource": typed_attributes(r["resource"], r["resource_typed"]),
        "scope": {"name": r["scope_name"], "version": r["scope_version"]},
        "trace_id": hex_id(raw_id(r["trace_id"])),
        "span_id": hex_id(raw_id(r["span_id"])),
        "flags": r["flags"],
        "service": r["service"],
    }


async def list_groups(store: Store, tenant: str) -> dict[str, dict[str, Any]]:
    """Stored events and bytes per log group, from the per-stream summary table."""
    rows = await store.query(
        "SELECT log_group, sum(events), sum(bytes), count(), toUnixTimestamp64Nano(max(last_event))"
        " FROM (SELECT log_group, log_stream, sum(events) AS events, sum(bytes) AS bytes,"
        " max(last_event) AS last_event FROM log_streams WHERE tenant = {t:String}"
        " GROUP BY log_group, log_stream) GROUP BY log_group",
        {"t": tenant},
    )
    return {
        g: {
            "stored_events": int(e),
            "stored_bytes": int(b),
            "streams": int(s),
            "last_event_ns": int(last),
        }
        for g, e, b, s, last in rows.rows
    }
