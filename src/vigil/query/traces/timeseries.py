"""GetTimeSeriesServiceStatistics: the statistics of one entity of the service graph per
period — a service (``service("name")``, ``id(name: "n", type: "t")``), an edge
(``edge("caller", "callee")``), or, without a selector, the requests entering the
instrumented services (the edges from X-Ray's client node).

Each period is the service graph of the spans that started in it (``graph.service_graph``,
from the per-minute rows when a ``keeper`` is given), so the numbers agree with
GetServiceGraph over the same minutes. Periods without requests are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.query.traces.graph import CLIENT, Graph, GraphNode, Stats, service_graph
from vigil.query.traces.servicegraph import ServiceGraphKeeper
from vigil.query.xrayfilter import FilterError, parse
from vigil.query.xrayfilter.ast import Edge, NodeRef, Service
from vigil.store.interface import Store


@dataclass(frozen=True, slots=True)
class Selector:
    """The entity: ``service`` (``source``), ``edge`` (``source`` → ``dest``) or
    ``entry`` (the client node's edges)."""

    kind: str
    source: NodeRef | None = None
    dest: NodeRef | None = None


ENTRY = Selector("entry")


def parse_selector(text: str | None) -> Selector:
    """An EntitySelectorExpression; ``FilterError`` when it is not one entity."""
    if not text or not text.strip():
        return ENTRY
    node = parse(text)
    if isinstance(node, Service) and node.filter is None:
        return Selector("service", node.node)
    if isinstance(node, Edge) and node.filter is None:
        return Selector("edge", node.source, node.dest)
    raise FilterError(
        "an EntitySelectorExpression names one entity: service(…), id(…) or edge(…, …)", 0
    )


def _matches(ref: NodeRef, node: GraphNode) -> bool:
    return node.name == ref.name and (ref.type is None or node.type == ref.type)


def select(graph: Graph, selector: Selector) -> Stats:
    """The selected entity's statistics in one graph (zero when it is absent)."""
    total = Stats()
    if selector.kind == "service":
        assert selector.source is not None
        for key, node in graph.nodes.items():
            if key != CLIENT and _matches(selector.source, node):
                total.add(node.stats)
        return total
    for (src, dst), edge in graph.edges.items():
        if selector.kind == "entry":
            if src == CLIENT:
                total.add(edge.stats)
            continue
        assert selector.source is not None
        assert selector.dest is not None
        source, dest = graph.nodes[src], graph.nodes[dst]
        if src != CLIENT and _matches(selector.source, source) and _matches(selector.dest, dest):
            total.add(edge.stats)
    return total


async def period_statistics(
    store: Store,
    tenant: str,
    periods: list[int],
    period_s: int,
    selector: Selector,
    trace_ids: list[str] | None = None,
    keeper: ServiceGraphKeeper | None = None,
) -> list[tuple[int, Stats]]:
    """(period start in epoch s, statistics) for the given period starts that had
    requests, in order."""
    out = []
    for start in periods:
        start_ns = start * 10**9
        end_ns = start_ns + period_s * 10**9 - 1
        graph = await service_graph(store, tenant, start_ns, end_ns, trace_ids, keeper)
        stats = select(graph, selector)
        if stats.count:
            out.append((start, stats))
    return out
