"""BatchGetTraces: whole traces as X-Ray segment documents. X-Ray rows give back the
document they were sent with, OTLP rows get one built from their columns (see README for
the mapping); subsegments are nested under their parents, in-progress segments are added.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson

from vigil.model.common import ZERO_SPAN_ID, raw_id, typed_attributes
from vigil.model.xray import xray_trace_id
from vigil.query.traces.ids import TRACE_IDS
from vigil.query.traces.lookup import POINT_READ, WINDOW
from vigil.store.interface import Store

MAX_TRACE_SPANS = 10_000
_IDS = TRACE_IDS

_DOC_COLUMNS = """
    trace_id, span_id, parent_span_id, name, kind, service, segment, document,
    toUnixTimestamp64Nano(start_time) AS start_ns, toUnixTimestamp64Nano(end_time) AS end_ns,
    status_code, status_message, attributes, attributes_typed, resource, origin, namespace,
    user, annotations, http_method, http_url, http_status, http_user_agent, http_client_ip,
    error, fault, throttle, remote_service,
    arrayMap(e -> (toUnixTimestamp64Nano(e.1), e.2, e.3, e.4), events) AS events
"""


async def batch_get(
    store: Store, tenant: str, ids: list[bytes]
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """(traces as X-Ray ``Trace`` dicts, ids not found)."""
    hex_ids = [i.hex() for i in ids]
    spans, pending = await asyncio.gather(
        store.query(
            f"""WITH {WINDOW} AS window
            SELECT {_DOC_COLUMNS} FROM spans
            WHERE tenant = {{t:String}} AND trace_id IN {_IDS}
              AND start_time >= window.1 AND start_time <= window.2
            ORDER BY start_time LIMIT {{n:UInt32}} {POINT_READ}""",
            {"t": tenant, "ids": hex_ids, "n": MAX_TRACE_SPANS * len(ids)},
        ),
        store.query(
            "SELECT trace_id, span_id, parent_span_id, service, document"
            f" FROM xray_in_progress FINAL WHERE tenant = {{t:String}} AND trace_id IN {_IDS}",
            {"t": tenant, "ids": hex_ids},
        ),
    )
    by_trace: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for row in spans.dicts():
        by_trace[raw_id(row["trace_id"])].append(row)
    in_progress: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for row in pending.dicts():
        in_progress[raw_id(row["trace_id"])].append(row)
    traces, missing = [], []
    for raw in ids:
        if raw not in by_trace and raw not in in_progress:
            missing.append(raw)
            continue
        traces.append(_trace(raw, by_trace.get(raw, []), in_progress.get(raw, [])))
    return traces, missing


def _trace(raw: bytes, rows: list[dict[str, Any]], pending: list[dict[str, Any]]) -> dict[str, Any]:
    trace_text = xray_trace_id(raw)
    docs: dict[bytes, dict[str, Any]] = {}
    is_segment: dict[bytes, bool] = {}
    parents: dict[bytes, bytes] = {}
    order: list[bytes] = []
    for row in rows:
        span_id = raw_id(row["span_id"])
        if span_id in docs:
            continue
        docs[span_id] = _document(row, trace_text)
        is_segment[span_id] = bool(row["segment"])
        parents[span_id] = raw_id(row["parent_span_id"])
        order.append(span_id)
    for row in pending:
        span_id = raw_id(row["span_id"])
        if span_id in docs:
            continue
        doc = _load(row["document"])
        doc.setdefault("in_progress", True)
        docs[span_id] = doc
        # Nested subsegments were stored without a trace_id of their own.
        is_segment[span_id] = "trace_id" in doc and doc.get("type") != "subsegment"
        parents[span_id] = raw_id(row["parent_span_id"])
        order.append(span_id)
    tops: list[bytes] = []
    for span_id in order:
        parent = parents[span_id]
        if not is_segment[span_id] and parent in docs:
            docs[parent].setdefault("subsegments", []).append(docs[span_id])
        else:
            tops.append(span_id)
    segments = []
    for span_id in tops:
        doc = docs[span_id]
        doc["trace_id"] = trace_text
        parent = parents[span_id]
        if parent != ZERO_SPAN_ID:
            doc.setdefault("parent_id", parent.hex())
        if not is_segment[span_id]:
            doc["type"] = "subsegment"
        segments.append({"Id": span_id.hex(), "Document": orjson.dumps(doc).decode()})
    starts = [r["start_ns"] for r in rows]
    ends = [r["end_ns"] for r in rows]
    duration = (max(ends) - min(starts)) / 1e9 if rows else 0.0
    return {
        "Id": trace_text,
        "Duration": round(duration, 6),
        "LimitExceeded": len(rows) >= MAX_TRACE_SPANS,
        "Segments": segments,
    }


def _load(text: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _document(row: dict[str, Any], trace_text: str) -> dict[str, Any]:
    """The X-Ray document of a stored span: as sent, or built from an OTLP span's columns."""
    if row["document"]:
        sent = _load(row["document"])
        sent.pop("subsegments", None)
        return sent
    attrs = typed_attributes(row["attributes"], row["attributes_typed"])
    annotations = {k: attrs.get(k, v) for k, v in row["annotations"].items()}
    metadata: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, value in attrs.items():
        if key in annotations:
            continue
        if key.startswith("metadata.") and key.count(".") >= 2:
            _, namespace, name = key.split(".", 2)
            metadata[namespace][name] = value
        else:
            metadata["default"][key] = value
    metadata["default"]["otel.span.name"] = row["name"]
    metadata["default"]["otel.span.kind"] = int(row["kind"])
    is_segment = bool(row["segment"])
    name = row["service"] if is_segment else (row["remote_service"] or row["name"])
    doc: dict[str, Any] = {
        "id": raw_id(row["span_id"]).hex(),
        "name": name or row["name"] or "unknown",
        "start_time": row["start_ns"] / 1e9,
        "end_time": row["end_ns"] / 1e9,
    }
    if annotations:
        doc["annotations"] = annotations
    doc["metadata"] = dict(metadata)
    for flag in ("error", "fault", "throttle"):
        if row[flag]:
            doc[flag] = True
    if row["namespace"]:
        doc["namespace"] = row["namespace"]
    if is_segment and row["origin"]:
        doc["origin"] = row["origin"]
    if row["user"]:
        doc["user"] = row["user"]
    request = {
        k: v
        for k, v in (
            ("method", row["http_method"]),
            ("url", row["http_url"]),
            ("user_agent", row["http_user_agent"]),
            ("client_ip", row["http_client_ip"]),
        )
        if v
    }
    if request or row["http_status"]:
        doc["http"] = {"request": request}
        if row["http_status"]:
            doc["http"]["response"] = {"status": int(row["http_status"])}
    exceptions = [
        {
            "id": f"{i:016x}",
            "type": e[2].get("exception.type", ""),
            "message": e[2].get("exception.message", ""),
        }
        for i, e in enumerate(row["events"])
        if e[1] == "exception"
    ]
    if exceptions:
        doc["cause"] = {"exceptions": exceptions}
    elif row["status_code"] == 2 and row["status_message"]:
        doc["cause"] = {"exceptions": [{"id": "0" * 16, "message": row["status_message"]}]}
    resource = dict(row["resource"])
    if is_segment and resource.get("service.version"):
        doc["service"] = {"version": resource["service.version"]}
    return doc
