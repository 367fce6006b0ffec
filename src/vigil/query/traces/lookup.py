"""Trace by id (spans as a tree with timings) and trace search (newest first, paginated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.model.common import ZERO_SPAN_ID, hex_id, raw_id, typed_attributes
from vigil.model.spans import KIND_NAMES, STATUS_NAMES
from vigil.model.timefmt import rfc3339
from vigil.query.traces.ids import TRACE_IDS
from vigil.store.interface import Store

_SPAN_COLUMNS = """
    trace_id, span_id, parent_span_id, trace_state, name, kind, service,
    toUnixTimestamp64Nano(start_time) AS start_ns, toUnixTimestamp64Nano(end_time) AS end_ns,
    duration_ns, status_code, status_message, attributes, attributes_typed,
    resource, resource_typed, scope_name, scope_version,
    arrayMap(e -> (toUnixTimestamp64Nano(e.1), e.2, e.3, e.4), events) AS events, links
"""


async def trace_window(store: Store, tenant: str, trace_ids: list[str]) -> tuple[int, int] | None:
    """(first start, last end) over the given traces, from the trace index."""
    rows = await store.query(
        "SELECT toUnixTimestamp64Nano(min(start)), toUnixTimestamp64Nano(max(end)), sum(spans)"
        " FROM trace_index WHERE tenant = {t:String}"
        f" AND trace_id IN {TRACE_IDS}",
        {"t": tenant, "ids": trace_ids},
    )
    start, end, spans = rows.rows[0]
    if not spans:
        return None
    return int(start), int(end)


# A trace's window from the trace index, as a scalar subquery of the span query: ClickHouse
# runs it first and prunes partitions and granules with its result, which saves a round
# trip. Point reads run on one thread: reading a few granules, more threads only cost.
WINDOW = f"""(SELECT (min(start), max(end)) FROM trace_index
    WHERE tenant = {{t:String}} AND trace_id IN {TRACE_IDS})"""
POINT_READ = "SETTINGS max_threads = 1"


async def get_trace(
    store: Store, tenant: str, trace_id: str, max_spans: int = 10_000
) -> dict[str, Any] | None:
    rows = (
        await store.query(
            f"""WITH {WINDOW} AS window
            SELECT {_SPAN_COLUMNS} FROM spans
            WHERE tenant = {{t:String}} AND trace_id = unhex({{id:String}})
              AND start_time >= window.1 AND start_time <= window.2
            ORDER BY start_time LIMIT {{n:UInt32}} {POINT_READ}""",
            {"t": tenant, "id": trace_id, "ids": [trace_id], "n": max_spans},
        )
    ).dicts()
    if not rows:
        return None
    return build_tree(trace_id, rows, truncated=len(rows) >= max_spans)


def build_tree(
    trace_id: str, rows: list[dict[str, Any]], truncated: bool = False
) -> dict[str, Any]:
    start = min(r["start_ns"] for r in rows)
    end = max(r["end_ns"] for r in rows)
    nodes = {raw_id(r["span_id"]): _span_json(r, start) for r in rows}
    roots: list[dict[str, Any]] = []
    for r in rows:
        node = nodes[raw_id(r["span_id"])]
        parent = raw_id(r["parent_span_id"])
        if parent != ZERO_SPAN_ID and parent in nodes and parent != raw_id(r["span_id"]):
            nodes[parent]["children"].append(node)
        else:
            roots.append(node)
    return {
        "trace_id": trace_id,
        "start": rfc3339(start),
        "start_time_unix_nano": str(start),
        "end_time_unix_nano": str(end),
        "duration_ms": (end - start) / 1e6,
        "span_count": len(rows),
        "error_count": sum(1 for r in rows if r["status_code"] == 2),
        "services": sorted({r["service"] for r in rows}),
        "truncated": truncated,
        "spans": roots,
    }


def _span_json(r: dict[str, Any], trace_start: int) -> dict[str, Any]:
    return {
        "span_id": hex_id(raw_id(r["span_id"])),
        "parent_span_id": hex_id(raw_id(r["parent_span_id"])),
        "trace_state": r["trace_state"],
        "name": r["name"],
        "kind": KIND_NAMES.get(r["kind"], str(r["kind"])),
        "service": r["service"],
        "start_time_unix_nano": str(r["start_ns"]),
        "end_time_unix_nano": str(r["end_ns"]),
        "duration_ms": r["duration_ns"] / 1e6,
        "offset_ms": (r["start_ns"] - trace_start) / 1e6,
        "status": {
            "code": STATUS_NAMES.get(r["status_code"], str(r["status_code"])),
            "message": r["status_message"],
        },
        "attributes": typed_attributes(r["attributes"], r["attributes_typed"]),
        "resource": typed_attributes(r["resource"], r["resource_typed"]),
        "scope": {"name": r["scope_name"], "version": r["scope_version"]},
        "events": [_event_json(e) for e in r["events"]],
        "links": [_link_json(link) for link in r["links"]],
        "children": [],
    }


def _get(item: Any, key: str, index: int) -> Any:
    return item[key] if isinstance(item, dict) else item[index]


def _event_json(e: Any) -> dict[str, Any]:
    return {
        "time_unix_nano": str(int(_get(e, "time", 0))),
        "name": _get(e, "name", 1),
        "attributes": typed_attributes(_get(e, "attributes", 2), _get(e, "attributes_typed", 3)),
    }


def _link_json(link: Any) -> dict[str, Any]:
    return {
        "trace_id": hex_id(raw_id(_get(link, "trace_id", 0))),
        "span_id": hex_id(raw_id(_get(link, "span_id", 1))),
        "trace_state": _get(link, "trace_state", 2),
        "attributes": typed_attributes(
            _get(link, "attributes", 3), _get(link, "attributes_typed", 4)
        ),
    }


@dataclass(slots=True)
class TraceSearch:
    tenant: str
    service: str | None = None
    name: str | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    errors_only: bool = False
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 20
    cursor: tuple[int, str] | None = None


async def search_traces(
    store: Store, s: TraceSearch
) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    """Traces with at least one span matching every filter, newest first."""
    where = ["tenant = {t:String}"]
    params: dict[str, Any] = {"t": s.tenant, "limit": s.limit + 1}
    for cond, key, value in (
        ("service = {service:String}", "service", s.service),
        ("name = {name:String}", "name", s.name),
        ("duration_ns >= {min_d:UInt64}", "min_d", s.min_duration_ns),
        ("duration_ns <= {max_d:UInt64}", "max_d", s.max_duration_ns),
        ("start_time >= fromUnixTimestamp64Nano({start:Int64})", "start", s.start_ns),
        ("start_time < fromUnixTimestamp64Nano({end:Int64})", "end", s.end_ns),
    ):
        if value is not None:
            where.append(cond)
            params[key] = value
    if s.errors_only:
        where.append("status_code = 2")
    having = ""
    if s.cursor is not None:
        having = "HAVING (first_start, hex(trace_id)) < ({c_ts:Int64}, {c_id:String})"
        params["c_ts"], params["c_id"] = s.cursor[0], s.cursor[1].upper()
    matches = await store.query(
        f"""SELECT trace_id, toUnixTimestamp64Nano(min(start_time)) AS first_start
        FROM spans WHERE {" AND ".join(where)} GROUP BY trace_id {having}
        ORDER BY first_start DESC, hex(trace_id) DESC LIMIT {{limit:UInt32}}""",
        params,
    )
    found = [(raw_id(tid).hex(), int(ts)) for tid, ts in matches.rows]
    cursor = None
    if len(found) > s.limit:
        found = found[: s.limit]
        cursor = (found[-1][1], found[-1][0])
    if not found:
        return [], None
    summaries = await trace_summaries(store, s.tenant, [tid for tid, _ in found])
    return [summaries[tid] for tid, _ in found if tid in summaries], cursor


async def trace_summaries(store: Store, tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    window = await trace_window(store, tenant, ids)
    if window is None:
        return {}
    rows = await store.query(
        f"""SELECT hex(trace_id) AS id, toUnixTimestamp64Nano(min(start_time)),
               toUnixTimestamp64Nano(max(end_time)), count(), countIf(status_code = 2),
               argMinIf(name, start_time, is_root), argMinIf(service, start_time, is_root),
               argMin(name, start_time), argMin(service, start_time), groupUniqArray(service)
        FROM (SELECT trace_id, start_time, end_time, status_code, name, service,
                     parent_span_id = unhex('0000000000000000') AS is_root
              FROM spans WHERE tenant = {{t:String}}
                AND trace_id IN {TRACE_IDS}
                AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}})
                AND start_time <= fromUnixTimestamp64Nano({{hi:Int64}}))
        GROUP BY trace_id""",
        {"t": tenant, "ids": ids, "lo": window[0], "hi": window[1]},
    )
    out = {}
    for (
        tid,
        start,
        end,
        spans,
        errors,
        root_name,
        root_service,
        first_name,
        first_service,
        services,
    ) in rows.rows:
        out[tid.lower()] = {
            "trace_id": tid.lower(),
            "start": rfc3339(start),
            "start_time_unix_nano": str(start),
            "duration_ms": (int(end) - int(start)) / 1e6,
            "span_count": int(spans),
            "error_count": int(errors),
            "root_name": root_name or first_name,
            "root_service": root_service or first_service,
            "services": sorted(services),
        }
    return out
