"""Trace reads in X-Ray's terms: summaries by filter expression, whole traces as segment
documents, the service graph, and the logs of a trace.

* ``search_summaries`` merges ``trace_summary`` rows per trace over the window (plus one
  hour for traces still running at its end), keeps the traces that start in the window and
  match the compiled filter, newest first, and pages with a (start, trace id) cursor.
* ``batch_get`` rebuilds segment documents: X-Ray rows give back the document they were
  sent with, OTLP rows get one built from their columns (see README for the mapping);
  subsegments are nested under their parents, in-progress segments are added.
* ``service_graph`` finds edges caller → callee from spans whose parent is a span of
  another service, and caller → remote from client subsegments no instrumented service
  answered; nodes and edges carry counts, error/fault/throttle counts and histograms.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.model.common import ZERO_SPAN_ID, typed_attributes
from vigil.model.xray import xray_trace_id
from vigil.query.ids import TRACE_IDS
from vigil.query.servicegraph import BUCKET, GraphRows, ServiceGraphKeeper
from vigil.query.traces import POINT_READ, WINDOW
from vigil.query.xrayfilter import CompiledFilter
from vigil.store.interface import Store

HOUR_NS = 3600 * 10**9
SLACK_NS = HOUR_NS  # how long after the window a trace that started in it may still run
MAX_TRACE_SPANS = 10_000

_ZERO = "unhex('0000000000000000')"
_SCOPE = (
    "tenant = {tenant:String} AND start_time >= fromUnixTimestamp64Nano({lo:Int64})"
    " AND start_time <= fromUnixTimestamp64Nano({hi:Int64})"
)
_HOURS = (
    "tenant = {tenant:String} AND hour >= toStartOfHour(fromUnixTimestamp64Nano({lo:Int64}))"
    " AND hour <= fromUnixTimestamp64Nano({hi:Int64})"
)
_IDS = TRACE_IDS


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


@dataclass(slots=True)
class SummarySearch:
    tenant: str
    start_ns: int
    end_ns: int
    filter: CompiledFilter | None = None
    by_trace_id_time: bool = False  # TimeRangeType=TraceId: the epoch in the X-Ray id
    limit: int = 100
    cursor: tuple[int, str] | None = None
    # Fraction of the traces kept (GetTraceSummaries ``Sampling``), chosen by trace id so
    # that a trace is in or out of the sample on every page and every call.
    sample: float = 1.0


SAMPLE_SCALE = 1_000_000
_SAMPLED = "cityHash64(trace_id) % 1000000 < {sample:UInt32}"


async def traces_in_window(store: Store, tenant: str, start_ns: int, end_ns: int) -> int:
    """About how many traces have summaries in the window's hours (to size a sample)."""
    rows = await store.query(
        f"SELECT uniq(trace_id) FROM trace_summary WHERE {_HOURS}",
        {"tenant": tenant, "lo": start_ns, "hi": end_ns + SLACK_NS},
    )
    return int(rows.rows[0][0])


async def search_summaries(
    store: Store, s: SummarySearch
) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    params: dict[str, Any] = {
        "tenant": s.tenant,
        "lo": s.start_ns,
        "hi": s.end_ns + SLACK_NS,
        "start": s.start_ns,
        "end": s.end_ns,
        "limit": s.limit + 1,
    }
    where = [_HOURS]
    outer = ["1"]
    if s.sample < 1.0:
        where.append(_SAMPLED)
        params["sample"] = max(0, min(SAMPLE_SCALE, round(s.sample * SAMPLE_SCALE)))
    if s.filter is not None:
        params.update(s.filter.params)
        outer.append(s.filter.where)
        for condition in s.filter.prefilters:
            where.append(
                f"trace_id IN (SELECT trace_id FROM trace_summary WHERE {_HOURS} AND {condition})"
            )
    if s.by_trace_id_time:
        having = (
            "reinterpretAsUInt32(reverse(substring(trace_id, 1, 4)))"
            " BETWEEN intDiv({start:Int64}, 1000000000) AND intDiv({end:Int64}, 1000000000)"
        )
    else:
        having = (
            "t_start >= fromUnixTimestamp64Nano({start:Int64})"
            " AND t_start <= fromUnixTimestamp64Nano({end:Int64})"
        )
    if s.cursor is not None:
        outer.append(
            "(toUnixTimestamp64Nano(t_start), hex(trace_id)) < ({c_ts:Int64}, {c_id:String})"
        )
        params["c_ts"], params["c_id"] = s.cursor[0], s.cursor[1].upper()
    # Without a filter, two passes: the page's trace ids first, merging only what the
    # order needs (ClickHouse drops the unused aggregates of the subquery), then the full
    # merge of those ids; merging every column of a million traces to keep 100 took 3.5 s
    # against 0.5 s. A filter reads most aggregates anyway: one pass is cheaper then.
    two_pass = s.filter is None
    page_sql = f"""
        SELECT {_PAGE_COLUMNS if two_pass else _SUMMARY_COLUMNS}
        FROM ({_merged(" AND ".join(where), having)})
        WHERE {" AND ".join(outer)}
        ORDER BY t_start DESC, hex(trace_id) DESC
        LIMIT {{limit:UInt32}}
    """
    rows = (await store.query(page_sql, params)).dicts()
    cursor = None
    if len(rows) > s.limit:
        rows = rows[: s.limit]
        cursor = (int(rows[-1]["start_ns"]), _raw(rows[-1]["trace_id"]).hex())
    ids = [_raw(r["trace_id"]).hex() for r in rows]
    if not ids:
        return [], None
    if two_pass:
        params["ids"] = ids
        full_sql = f"""
            SELECT {_SUMMARY_COLUMNS}
            FROM ({_merged(_HOURS + f" AND trace_id IN {_IDS}", having)})
            ORDER BY t_start DESC, hex(trace_id) DESC
        """
        rows = (await store.query(full_sql, params)).dicts()
    partial = await _partial(store, s.tenant, ids)
    return [_summary(r, partial) for r in rows], cursor


_PAGE_COLUMNS = "trace_id, toUnixTimestamp64Nano(t_start) AS start_ns"
_SUMMARY_COLUMNS = (
    f"{_PAGE_COLUMNS}, duration, errors, faults, throttles, nodes, annotations, users, entry"
)


def _merged(where: str, having: str) -> str:
    """One row per trace: its ``trace_summary`` rows in the hours of ``where`` merged."""
    return f"""
        SELECT trace_id, min(start) AS t_start, max(end) AS t_end,
               (toUnixTimestamp64Nano(t_end) - toUnixTimestamp64Nano(t_start)) / 1e9
                   AS duration,
               sum(errors) AS errors, sum(faults) AS faults, sum(throttles) AS throttles,
               groupUniqArrayArray(nodes) AS nodes,
               groupUniqArrayArray(annotations) AS annotations,
               groupUniqArrayArray(users) AS users, min(entry) AS entry
        FROM trace_summary WHERE {where}
        GROUP BY trace_id HAVING {having}"""


async def _partial(store: Store, tenant: str, ids: list[str]) -> set[bytes]:
    """The traces among ``ids`` with an in-progress segment not completed yet."""
    if not ids:
        return set()
    # The in-progress table first (a primary-key lookup): most pages have none, and the
    # check against ``spans`` then reads its bloom filter index for nothing.
    pending = await store.query(
        "SELECT DISTINCT lower(hex(trace_id)) FROM xray_in_progress"
        f" WHERE tenant = {{t:String}} AND trace_id IN {_IDS}",
        {"t": tenant, "ids": ids},
    )
    ids = [r[0] for r in pending.rows]
    if not ids:
        return set()
    rows = await store.query(
        "SELECT DISTINCT trace_id FROM xray_in_progress FINAL WHERE tenant = {t:String}"
        f" AND trace_id IN {_IDS} AND (trace_id, span_id) NOT IN (SELECT trace_id, span_id"
        f" FROM spans WHERE tenant = {{t:String}} AND trace_id IN {_IDS})",
        {"t": tenant, "ids": ids},
    )
    return {_raw(r[0]) for r in rows.rows}


def _annotation_value(text: str, typed: int) -> dict[str, Any]:
    if typed:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"StringValue": text}
        if isinstance(value, bool):
            return {"BooleanValue": value}
        if isinstance(value, int | float):
            return {"NumberValue": float(value)}
    return {"StringValue": text}


def _service_id(name: str, kind: str) -> dict[str, Any]:
    return {"Name": name, "Names": [name], "Type": kind or "service"}


def _summary(r: dict[str, Any], partial: set[bytes]) -> dict[str, Any]:
    raw = _raw(r["trace_id"])
    entry = r["entry"]
    if isinstance(entry, tuple):
        keys = (
            "rank",
            "start",
            "service",
            "origin",
            "name",
            "duration",
            "method",
            "url",
            "status",
            "user_agent",
            "client_ip",
        )
        entry = dict(zip(keys, entry, strict=True))
    annotations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    grouped: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for key, value, typed, service in r["annotations"]:
        grouped[(key, value, int(typed))].append(service)
    for (key, value, typed), services in sorted(grouped.items()):
        annotations[key].append(
            {
                "AnnotationValue": _annotation_value(value, typed),
                "ServiceIds": [{"Name": s, "Names": [s]} for s in sorted(set(services)) if s],
            }
        )
    http: dict[str, Any] = {}
    if entry["rank"] < 2:
        for key, field_name in (
            ("url", "HttpURL"),
            ("method", "HttpMethod"),
            ("user_agent", "UserAgent"),
            ("client_ip", "ClientIp"),
        ):
            if entry[key]:
                http[field_name] = entry[key]
        if entry["status"]:
            http["HttpStatus"] = int(entry["status"])
    summary: dict[str, Any] = {
        "Id": xray_trace_id(raw),
        "StartTime": int(r["start_ns"]) / 1e9,
        "Duration": round(float(r["duration"]), 6),
        "ResponseTime": round(int(entry["duration"]) / 1e9, 6)
        if entry["rank"] < 2
        else round(float(r["duration"]), 6),
        "HasFault": int(r["faults"]) > 0,
        "HasError": int(r["errors"]) > 0,
        "HasThrottle": int(r["throttles"]) > 0,
        "IsPartial": raw in partial,
        "Http": http,
        "Annotations": dict(annotations),
        "Users": [{"UserName": u, "ServiceIds": []} for u in sorted(r["users"])],
        "ServiceIds": [_service_id(n, t) for n, t in sorted(r["nodes"])],
        "Revision": 1,
    }
    if entry["rank"] < 2 and entry["service"]:
        summary["EntryPoint"] = _service_id(entry["service"], entry["origin"])
    return summary


async def log_counts(
    store: Store, tenant: str, ids: list[str], start_ns: int, end_ns: int
) -> dict[str, int]:
    """Log lines per trace (hex ids), among logs stamped within an hour of the traces."""
    if not ids:
        return {}
    rows = await store.query(
        "SELECT lower(hex(trace_id)), count() FROM logs WHERE tenant = {t:String}"
        " AND timestamp >= fromUnixTimestamp64Nano({lo:Int64})"
        " AND timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
        f" AND trace_id IN {TRACE_IDS} GROUP BY trace_id",
        {"t": tenant, "ids": ids, "lo": start_ns - HOUR_NS, "hi": end_ns + HOUR_NS},
    )
    return {tid: int(n) for tid, n in rows.rows}


# --- whole traces -------------------------------------------------------------------

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
        by_trace[_raw(row["trace_id"])].append(row)
    in_progress: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for row in pending.dicts():
        in_progress[_raw(row["trace_id"])].append(row)
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
        span_id = _raw(row["span_id"])
        if span_id in docs:
            continue
        docs[span_id] = _document(row, trace_text)
        is_segment[span_id] = bool(row["segment"])
        parents[span_id] = _raw(row["parent_span_id"])
        order.append(span_id)
    for row in pending:
        span_id = _raw(row["span_id"])
        if span_id in docs:
            continue
        doc = _load(row["document"])
        doc.setdefault("in_progress", True)
        docs[span_id] = doc
        # Nested subsegments were stored without a trace_id of their own.
        is_segment[span_id] = "trace_id" in doc and doc.get("type") != "subsegment"
        parents[span_id] = _raw(row["parent_span_id"])
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
        "id": _raw(row["span_id"]).hex(),
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


# --- service graph ------------------------------------------------------------------


@dataclass(slots=True)
class Stats:
    count: int = 0
    errors: int = 0
    faults: int = 0
    throttles: int = 0
    total_ns: int = 0  # an integer, so that the sum does not depend on the merge order
    histogram: dict[float, int] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0

    def add(self, other: Stats) -> None:
        self.count += other.count
        self.errors += other.errors
        self.faults += other.faults
        self.throttles += other.throttles
        self.total_ns += other.total_ns
        for k, v in other.histogram.items():
            self.histogram[k] = self.histogram.get(k, 0) + v
        self.start_ns = min(self.start_ns or other.start_ns, other.start_ns or self.start_ns)
        self.end_ns = max(self.end_ns, other.end_ns)

    @property
    def total_s(self) -> float:
        return self.total_ns / 1e9

    @property
    def ok(self) -> int:
        return max(0, self.count - self.errors - self.faults)


CLIENT = ("", "client")  # the node of the callers of root services (not instrumented)


@dataclass(slots=True)
class GraphNode:
    name: str
    type: str
    root: bool = False
    remote: bool = False
    stats: Stats = field(default_factory=Stats)


@dataclass(slots=True)
class GraphEdge:
    source: tuple[str, str]
    target: tuple[str, str]
    stats: Stats = field(default_factory=Stats)


@dataclass(slots=True)
class Graph:
    nodes: dict[tuple[str, str], GraphNode] = field(default_factory=dict)
    edges: dict[tuple[tuple[str, str], tuple[str, str]], GraphEdge] = field(default_factory=dict)

    def node(self, name: str, kind: str) -> GraphNode:
        key = (name, kind)
        if key not in self.nodes:
            self.nodes[key] = GraphNode(name, kind)
        return self.nodes[key]


_STATS = """count() AS n, sum({p}error) AS errors, sum({p}fault) AS faults,
    sum({p}throttle) AS throttles, sum({p}duration_ns) AS total,
    sumMap([{bucket}], [toUInt64(1)]) AS hist,
    toUnixTimestamp64Nano(min({p}start_time)) AS first,
    toUnixTimestamp64Nano(max({p}end_time)) AS last"""


def _stats_sql(p: str = "") -> str:
    return _STATS.format(p=p, bucket=BUCKET.format(p=p))


def _stats(row: dict[str, Any]) -> Stats:
    keys, counts = row["hist"]
    return Stats(
        count=int(row["n"]),
        errors=int(row["errors"]),
        faults=int(row["faults"]),
        throttles=int(row["throttles"]),
        total_ns=int(row["total"]),
        histogram={float(k): int(c) for k, c in zip(keys, counts, strict=True)},
        start_ns=int(row["first"]),
        end_ns=int(row["last"]),
    )


async def service_graph(
    store: Store,
    tenant: str,
    start_ns: int,
    end_ns: int,
    trace_ids: list[str] | None = None,
    keeper: ServiceGraphKeeper | None = None,
) -> Graph:
    """Nodes and edges of the spans that started in [start, end] (of the given traces only,
    when ``trace_ids`` is set). With a ``keeper`` and no trace ids, the graph comes from the
    per-minute ``service_graph`` rows (whole minutes: see query.servicegraph); otherwise
    it is computed from the spans."""
    if keeper is not None and trace_ids is None:
        rows = await keeper.read(tenant, start_ns, end_ns)
    else:
        rows = await _graph_rows(store, tenant, start_ns, end_ns, trace_ids)
    return _assemble(rows)


async def _graph_rows(
    store: Store, tenant: str, start_ns: int, end_ns: int, trace_ids: list[str] | None
) -> GraphRows:
    params: dict[str, Any] = {"tenant": tenant, "lo": start_ns, "hi": end_ns}
    only = ""
    if trace_ids is not None:
        params["ids"] = trace_ids
        only = f" AND trace_id IN {TRACE_IDS}"
    scope = _SCOPE + only
    nodes_sql = f"""SELECT service, toString(origin) AS origin,
        parent_span_id = {_ZERO} AS root, {_stats_sql()}
        FROM spans WHERE {scope} AND segment = 1 AND service != ''
        GROUP BY service, origin, root"""
    edges_sql = f"""SELECT p.service AS src, p.origin AS src_type, c.service AS dst,
        c.origin AS dst_type, {_stats_sql("c.")}
        FROM (SELECT trace_id, span_id, toString(service) AS service,
                     toString(origin) AS origin
              FROM spans WHERE {scope}
                AND (trace_id, span_id) IN (SELECT trace_id, parent_span_id FROM spans
                    WHERE {scope} AND segment = 1 AND parent_span_id != {_ZERO})) AS p
        INNER JOIN (SELECT trace_id, parent_span_id, toString(service) AS service,
                           toString(origin) AS origin, duration_ns, error, fault, throttle,
                           start_time, end_time
                    FROM spans WHERE {scope} AND segment = 1
                      AND parent_span_id != {_ZERO}) AS c
          ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
        WHERE p.service != c.service AND p.service != ''
        GROUP BY src, src_type, dst, dst_type"""
    remote_sql = f"""SELECT toString(service) AS src, toString(origin) AS src_type,
        toString(remote_service) AS dst, toString(remote_type) AS dst_type, {_stats_sql()}
        FROM spans WHERE {scope} AND remote_service != '' AND service != ''
          AND (trace_id, span_id) NOT IN (SELECT trace_id, parent_span_id FROM spans
              WHERE {scope} AND segment = 1 AND parent_span_id != {_ZERO})
        GROUP BY src, src_type, dst, dst_type"""
    nodes, edges, remote = await asyncio.gather(
        *(store.query(sql, params) for sql in (nodes_sql, edges_sql, remote_sql))
    )
    return GraphRows(nodes.dicts(), edges.dicts(), remote.dicts())


def _assemble(rows: GraphRows) -> Graph:
    graph = Graph()
    for row in rows.nodes:
        if not row["n"]:
            continue
        node = graph.node(row["service"], row["origin"])
        node.stats.add(_stats(row))
        if row["root"]:
            # As X-Ray draws it: the requests that enter a root service come from a
            # "client" node, on an edge with the root segments' stats.
            node.root = True
            graph.node(*CLIENT)
            src, dst = CLIENT, (node.name, node.type)
            graph.edges.setdefault((src, dst), GraphEdge(src, dst)).stats.add(_stats(row))
    # The caller's type is its segments' origin: subsegments carry none, so look it up.
    origin_of = {name: kind for (name, kind) in graph.nodes if (name, kind) != CLIENT}
    for remote, found in ((False, rows.edges), (True, rows.remote)):
        for row in found:
            if not row["n"]:
                continue
            src = (row["src"], origin_of.get(row["src"], row["src_type"]))
            graph.node(*src)
            dst = (row["dst"], row["dst_type"])
            target = graph.node(*dst)
            stats = _stats(row)
            if remote:
                target.remote = True
                target.stats.add(stats)
            edge = graph.edges.setdefault((src, dst), GraphEdge(src, dst))
            edge.stats.add(stats)
    return graph


def histogram(stats: Stats) -> list[dict[str, Any]]:
    return [{"Value": k, "Count": v} for k, v in sorted(stats.histogram.items())]


def percentile(stats: Stats, q: float) -> float | None:
    """Upper bucket bound (seconds) under which a fraction q of the requests fall."""
    if not stats.count:
        return None
    need = math.ceil(q * stats.count)
    seen = 0
    for bound, count in sorted(stats.histogram.items()):
        seen += count
        if seen >= need:
            return bound
    return None
