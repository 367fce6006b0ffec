"""The newest-window-first pass: a row query ordered by time alone (``sort @timestamp desc
| limit N``, or no sort at all) over one log group or several.

Why. The ``logs`` table is sorted by ``(tenant, log_group, timestamp)``. With the group
fixed by one equality ClickHouse reads ``ORDER BY timestamp DESC LIMIT n`` in key order from
the newest granules and stops; with ``log_group IN (…)`` the prefix is not fixed, so it read
every timestamp of the range (three groups × 10M lines, 24 h: bench/RESULTS.md "several log
groups"). And ties at the cut were the sort's choice, so two runs could differ.

What. Two statements. The first finds the window: each group's newest ``n`` matching
timestamps (one ``log_group = …`` branch per group, each read in key order and stopped
early), the ``n``-th newest of them all (with repeats), as nanoseconds; NULL when nothing
matches (then the second is not run). The second reads only ``timestamp >= that`` of every
group and sorts it completely, ties broken by log group, then the event key (the hash
FilterLogEvents and ``@ptr`` use), in the direction of the time order.

Same rows. At least ``n`` matching rows lie in the window, so the ``n`` first rows of the
whole range in that total order all lie in it: the answer is the full sort's, ties
included. ``sort @timestamp asc`` is the mirror image (the oldest window, ``<=``).

Not here: the statistics. ``recordsMatched`` is the count statement's, over the whole
range of every group; ``recordsScanned``/``bytesScanned`` are the runner's scan of the
range — as CloudWatch reports them, whatever the rows' statement read.
"""

from __future__ import annotations

from vigil.query.insights.layers import WINDOW_PARAM, Base, Layer, Window, layer_sql
from vigil.query.logs.events import EVENT_KEY

# Above this many groups the first statement reads them in one IN branch (the whole
# range's timestamps, as before) rather than one branch each. CloudWatch's StartQuery
# takes at most 50 names; SOURCE may match more.
MAX_BRANCHES = 50
_ORDERS = {"timestamp DESC": "DESC", "timestamp ASC": "ASC"}


def eligible(layer: Layer, base: Base) -> str | None:
    """The time order's direction if the final layer reads the base rows in time order only
    (no stats, dedup, unnest or earlier limit in between), else None."""
    if (
        layer.source != base.source
        or not layer.base
        or layer.aggregated
        or layer.limit_by
        or layer.array_join
        or not base.group_terms
        or len(layer.order) != 1
    ):
        return None
    return _ORDERS.get(layer.order[0])


def rewrite(layer: Layer, base: Base, direction: str, limit: int) -> Window:
    """Make ``layer`` the second statement (the window's bound, the total order, ``limit``)
    and return the first."""
    terms = list(base.group_terms) if len(base.group_terms) <= MAX_BRANCHES else [base.group_where]
    parts = []
    for term in terms:
        where = [term if w == base.group_where else w for w in layer.where]
        branch = Layer(layer.source, base=True, where=where, order=[f"timestamp {direction}"])
        branch.limit = limit
        parts.append(layer_sql(branch, "toUnixTimestamp64Nano(timestamp) AS __window_t"))
    union = " UNION ALL ".join(f"({p})" for p in parts)
    bound = "minOrNull" if direction == "DESC" else "maxOrNull"
    sql = (
        f"SELECT {bound}(__window_t) FROM (SELECT __window_t FROM ({union})"
        f" ORDER BY __window_t {direction} LIMIT {limit})"
    )
    compare = ">=" if direction == "DESC" else "<="
    layer.where.append(f"timestamp {compare} fromUnixTimestamp64Nano({{{WINDOW_PARAM}:Int64}})")
    layer.order = [f"timestamp {direction}", f"log_group {direction}", f"{EVENT_KEY} {direction}"]
    layer.limit = limit
    return Window(sql)
