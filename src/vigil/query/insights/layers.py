"""What a Logs Insights query compiles to: nested SELECTs ("layers") over the rows it reads.

A layer knows its FROM, the fields visible in it (name → value, see ``coerce``), its WHERE
conditions, ORDER BY, ``LIMIT 1 BY`` (dedup) and LIMIT. The first layer reads a ``Base``
(the ``logs`` rows of the query's groups and time range, or rows a runner supplies); the
result is ``Compiled``: the SQL, its parameters, the output columns and the count query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vigil.query.insights.coerce import Col
from vigil.query.logs.events import clamp_ms


@dataclass(slots=True)
class Layer:
    source: str
    base: bool  # rows are log events (fields resolve through the maps)
    env: dict[str, Col] = field(default_factory=dict)
    array_join: list[str] = field(default_factory=list)
    extra_select: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    limit_by: list[str] = field(default_factory=list)
    limit: int | None = None
    aggregated: bool = False


@dataclass(slots=True)
class OutputColumn:
    name: str
    kind: str


WINDOW_PARAM = "window_ns"  # the main statement's bound: the window statement's answer


@dataclass(frozen=True, slots=True)
class Window:
    """The newest-window pass's first statement (newest.py): one row, one column, the
    window's bound in nanoseconds or NULL (nothing matches); the main statement reads it
    from ``param``."""

    sql: str
    param: str = WINDOW_PARAM


@dataclass(slots=True)
class Compiled:
    sql: str
    params: dict[str, object]
    columns: list[OutputColumn]
    aggregated: bool  # rows come from stats (recordsMatched is the __n column)
    expand_fields: bool  # the last column is the discovered-fields map, to spread out
    count_sql: str | None  # rows matched, for row queries
    # The newest-window pass's first statement (newest.py): run first, its answer bound to
    # the main statement's parameter; None: the main statement alone.
    window: Window | None = None


@dataclass(slots=True)
class Base:
    """The rows a query reads: the layer-0 FROM and WHERE, with their parameters."""

    source: str
    where: list[str]
    params: dict[str, object]
    account_id: str = "000000000000"
    # Keys that attributes or resource may hold in these rows; None: any key. A field not
    # in it reads only the JSON message: reading the two maps was most of the time of
    # queries over PutLogEvents data, where the maps are empty (see runner.field_catalog).
    map_keys: frozenset[str] | None = None
    # The types each JSON path may hold in these rows (a path not in it holds none); None:
    # unknown. A path of one plain type is read from that type's subcolumn.
    path_types: Mapping[str, frozenset[str]] | None = None
    # The WHERE term that picks the groups, and one `log_group = …` term per group (the
    # newest-window pass reads each group on its own: see newest.py); empty: rows a
    # runner supplies.
    group_where: str = ""
    group_terms: tuple[str, ...] = ()


def logs_base(tenant: str, groups: list[str], start_ms: int, end_ms: int) -> Base:
    # One group is compared with `=`, not IN: with every sort-key column before `timestamp`
    # fixed by an equality, ClickHouse reads `ORDER BY timestamp [DESC] LIMIT n` in the
    # key's order (from the newest granules only); with IN it reads the whole range's
    # timestamps (10M lines: 11 ms against 92 ms for `limit 100`, bench/RESULTS.md).
    # Several groups are read one `=` at a time by the newest-window pass (newest.py).
    group = (
        "log_group = {group:String}" if len(groups) == 1 else "log_group IN {groups:Array(String)}"
    )
    terms = (
        (group,)
        if len(groups) == 1
        else tuple(f"log_group = {{group{i}:String}}" for i in range(len(groups)))
    )
    return Base(
        "logs",
        [
            "tenant = {tenant:String}",
            group,
            "timestamp >= fromUnixTimestamp64Milli({start_ms:Int64})",
            # The whole end millisecond (PutLogEvents keeps an index in its nanoseconds).
            "timestamp < fromUnixTimestamp64Milli({end_ms:Int64} + 1)",
        ],
        {
            "tenant": tenant,
            "groups": groups,
            **({"group": groups[0]} if len(groups) == 1 else {}),
            **({f"group{i}": g for i, g in enumerate(groups)} if len(groups) > 1 else {}),
            "start_ms": clamp_ms(start_ms),
            "end_ms": clamp_ms(end_ms),
        },
        group_where=group,
        group_terms=terms,
    )


def layer_sql(layer: Layer, select: str) -> str:
    """The SELECT of ``select`` over the layer."""
    sql = f"SELECT {select} FROM {layer.source}"
    if layer.array_join:
        sql += " ARRAY JOIN " + ", ".join(layer.array_join)
    if layer.where:
        sql += " WHERE " + " AND ".join(f"({w})" for w in layer.where)
    if layer.order:
        sql += " ORDER BY " + ", ".join(layer.order)
    if layer.limit_by:
        sql += " LIMIT 1 BY " + ", ".join(layer.limit_by)
    if layer.limit is not None:
        sql += f" LIMIT {layer.limit}"
    return sql
