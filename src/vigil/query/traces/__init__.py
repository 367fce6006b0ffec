"""Trace reads: one trace as a span tree, trace search, and X-Ray's terms — summaries by
filter expression, whole traces as segment documents, the service graph, the logs of a trace.

* ``lookup`` — ``/api/v1/traces``: a trace by id (spans as a tree with timings) and search;
* ``servicegraph`` — the service graph kept per minute ahead of reads;
* ``ids`` — SQL for sets of trace ids given as hex;

* ``summaries`` — GetTraceSummaries (``search_summaries``, ``traces_in_window`` to size a
  sample) and ``log_counts``;
* ``documents`` — BatchGetTraces (``batch_get``);
* ``graph`` — GetServiceGraph (``service_graph``, its nodes, edges and statistics);
* ``timeseries`` — GetTimeSeriesServiceStatistics (one entity's statistics per period);
* ``common`` — the slack of a window (how long after it a trace may still run).
"""

from vigil.query.traces.common import HOUR_NS, SLACK_NS
from vigil.query.traces.documents import MAX_TRACE_SPANS, batch_get
from vigil.query.traces.graph import (
    CLIENT,
    Graph,
    GraphEdge,
    GraphNode,
    Stats,
    histogram,
    percentile,
    service_graph,
)
from vigil.query.traces.summaries import (
    SAMPLE_SCALE,
    SummarySearch,
    log_counts,
    search_summaries,
    traces_in_window,
)

__all__ = [
    "CLIENT",
    "HOUR_NS",
    "MAX_TRACE_SPANS",
    "SAMPLE_SCALE",
    "SLACK_NS",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "Stats",
    "SummarySearch",
    "batch_get",
    "histogram",
    "log_counts",
    "percentile",
    "search_summaries",
    "service_graph",
    "traces_in_window",
]
