"""A query's FROM, SCHEMA and WHERE as ClickHouse SQL over ``metric_series``.

Series are rows of ``metric_series`` (one per series id and part; ``any(dimensions)``
is the series' dimension map), so conditions go in HAVING over ``any(dimensions)``.
A label a series does not have matches no value: ``k = 'v'``, ``k IN (…)`` and
``k LIKE …`` are false for it, ``k != 'v'`` and ``k NOT IN (…)`` true.
"""

from __future__ import annotations

from typing import Any

from vigil.query.metricsinsights.syntax import Compare, Condition, Query

_DIMS = "any(dimensions)"


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, kind: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


def _compare(c: Compare, p: _Params) -> str:
    key = p.add(c.key, "String")
    has = f"mapContains({_DIMS}, {key})"
    value = f"{_DIMS}[{key}]"
    if c.op in ("=", "!="):
        match = f"({has} AND {value} = {p.add(c.values[0], 'String')})"
    elif c.op == "LIKE":
        match = f"({has} AND {value} LIKE {p.add(c.values[0], 'String')})"
    else:
        match = f"({has} AND has({p.add(list(c.values), 'Array(String)')}, {value}))"
    return f"NOT {match}" if c.op in ("!=", "NOT IN") else match


def _condition(c: Condition, p: _Params) -> str:
    if isinstance(c, Compare):
        return _compare(c, p)
    return f"({_condition(c.left, p)} {c.op} {_condition(c.right, p)})"


def series_sql(query: Query, tenant: str, since: int, limit: int) -> tuple[str, dict[str, Any]]:
    """SQL for the series the query matches that have data since ``since`` (epoch s),
    in series id order, at most ``limit``: columns series_id, dims (the group-by label
    values, NULL where a series lacks the label)."""
    p = _Params()
    where = [
        f"tenant = {p.add(tenant, 'String')}",
        f"namespace = {p.add(query.namespace, 'String')}",
        f"name = {p.add(query.metric, 'String')}",
    ]
    having = [f"max(last_seen) >= toDateTime64({p.add(since, 'Int64')}, 9)"]
    if query.schema is not None:
        keys = sorted(set(query.schema))
        having.append(f"arraySort(mapKeys({_DIMS})) = {p.add(keys, 'Array(String)')}")
    if query.where is not None:
        having.append(_condition(query.where, p))
    groups = [p.add(key, "String") for key in query.group_by]
    labels = ", ".join(f"if(mapContains(d, {g}), d[{g}], NULL)" for g in groups)
    sql = (
        f"SELECT series_id, [{labels}] AS labels FROM ("
        f" SELECT series_id, {_DIMS} AS d FROM metric_series WHERE {' AND '.join(where)}"
        f" GROUP BY series_id HAVING {' AND '.join(having)}"
        f" ORDER BY series_id LIMIT {p.add(limit, 'UInt32')})"
    )
    return sql, p.values
