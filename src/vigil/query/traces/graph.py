"""GetServiceGraph: edges caller → callee from spans whose parent is a span of another
service, and caller → remote from client subsegments no instrumented service answered;
nodes and edges carry counts, error/fault/throttle counts and histograms. Computed from
the spans, or read from the per-minute rows ``query.servicegraph`` keeps.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from vigil.query.traces.ids import TRACE_IDS
from vigil.query.traces.servicegraph import BUCKET, GraphRows, ServiceGraphKeeper
from vigil.store.interface import Store

_ZERO = "unhex('0000000000000000')"
_SCOPE = (
    "tenant = {tenant:String} AND start_time >= fromUnixTimestamp64Nano({lo:Int64})"
    " AND start_time <= fromUnixTimestamp64Nano({hi:Int64})"
)


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
