"""Finding series: by exact dimensions (one, or many in one query), or all with data since
a time (ListMetrics, SEARCH). Reads ``metric_series`` only, never points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.spec import MetricSpec
from vigil.store.interface import Store


async def exact_series(
    store: Store, tenant: str, metric: MetricSpec
) -> tuple[SeriesRef, dict[str, str]] | None:
    dims = sorted(metric.dimensions)
    rows = await store.query(
        "SELECT series_id, any(dimensions) FROM metric_series WHERE tenant = {t:String}"
        " AND namespace = {ns:String} AND name = {n:String}"
        " AND mapKeys(dimensions) = {k:Array(String)} AND mapValues(dimensions) = {v:Array(String)}"
        " GROUP BY series_id LIMIT 1",
        {
            "t": tenant,
            "ns": metric.namespace,
            "n": metric.name,
            "k": [k for k, _ in dims],
            "v": [v for _, v in dims],
        },
    )
    if not rows.rows:
        return None
    series_id, dimensions = rows.rows[0]
    return SeriesRef(metric.namespace, metric.name, int(series_id)), dict(dimensions)


# A metric by exact dimensions: namespace, name, dimensions sorted (as stored).
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


def series_key(metric: MetricSpec) -> SeriesKey:
    return metric.namespace, metric.name, tuple(sorted(metric.dimensions))


async def exact_series_many(
    store: Store, tenant: str, metrics: Sequence[MetricSpec]
) -> dict[SeriesKey, SeriesRef]:
    """The series of exactly these metrics (``exact_series`` for many), in one query; a
    metric with no series is absent."""
    if not metrics:
        return {}
    wanted = {series_key(m) for m in metrics}
    rows = await store.query(
        "SELECT namespace, name, series_id, any(dimensions) FROM metric_series"
        " WHERE tenant = {t:String} AND namespace IN {ns:Array(String)}"
        " AND name IN {n:Array(String)}"
        " AND mapKeys(dimensions) IN {k:Array(Array(String))}"
        " GROUP BY namespace, name, series_id",
        {
            "t": tenant,
            "ns": sorted({k[0] for k in wanted}),
            "n": sorted({k[1] for k in wanted}),
            "k": [list(keys) for keys in sorted({tuple(d for d, _ in k[2]) for k in wanted})],
        },
    )
    found: dict[SeriesKey, SeriesRef] = {}
    for namespace, name, series_id, dims in rows.rows:
        key = (namespace, name, tuple(sorted(dict(dims).items())))
        if key in wanted and key not in found:
            found[key] = SeriesRef(namespace, name, int(series_id))
    return found


@dataclass(frozen=True, slots=True)
class FoundSeries:
    ref: SeriesRef
    dimensions: dict[str, str]
    units: tuple[str, ...] = ()


async def list_metrics(
    store: Store,
    tenant: str,
    since: int,
    namespace: str | None = None,
    name: str | None = None,
    dimension_filters: Sequence[tuple[str, str | None]] = (),
    after: tuple[str, str, int] | None = None,
    limit: int = 500,
) -> list[FoundSeries]:
    """Series with data since ``since`` (epoch s), in (namespace, name, series id) order."""
    where = ["tenant = {t:String}"]
    params: dict[str, Any] = {"t": tenant, "since": since, "limit": limit}
    if namespace is not None:
        where.append("namespace = {ns:String}")
        params["ns"] = namespace
    if name is not None:
        where.append("name = {n:String}")
        params["n"] = name
    having = ["max(last_seen) >= toDateTime64({since:Int64}, 9)"]
    for i, (key, value) in enumerate(dimension_filters):
        params[f"dk{i}"] = key
        if value is None:
            having.append(f"mapContains(any(dimensions), {{dk{i}:String}})")
        else:
            params[f"dv{i}"] = value
            having.append(
                f"mapContains(any(dimensions), {{dk{i}:String}})"
                f" AND any(dimensions)[{{dk{i}:String}}] = {{dv{i}:String}}"
            )
    if after is not None:
        where.append("(namespace, name, series_id) > ({ans:String}, {an:String}, {aid:UInt64})")
        params.update(ans=after[0], an=after[1], aid=after[2])
    rows = await store.query(
        f"SELECT namespace, name, series_id, any(dimensions), groupUniqArrayArray(units)"
        f" FROM metric_series"
        f" WHERE {' AND '.join(where)} GROUP BY namespace, name, series_id"
        f" HAVING {' AND '.join(having)} ORDER BY namespace, name, series_id"
        " LIMIT {limit:UInt32}",
        params,
    )
    return [
        FoundSeries(SeriesRef(ns, n, int(sid)), dict(d), tuple(units))
        for ns, n, sid, d, units in rows.rows
    ]
