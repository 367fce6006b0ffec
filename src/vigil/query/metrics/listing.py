"""Metric series listing for the read API (``/api/v1/metrics/series``).

Datapoints, statistics and math expressions are answered by the engine beside it
(statistics in ``query.metrics.statistics``, stored resolutions in ``query.metrics.levels``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.model.timefmt import rfc3339
from vigil.store.interface import Store

STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
MAX_DATAPOINTS = 100_800


@dataclass(slots=True)
class SeriesFilter:
    tenant: str
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)


def _series_where(f: SeriesFilter, exact_dimensions: bool) -> tuple[list[str], dict[str, Any]]:
    where = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {"tenant": f.tenant}
    if f.namespace is not None:
        where.append("namespace = {namespace:String}")
        params["namespace"] = f.namespace
    if f.name is not None:
        where.append("name = {name:String}")
        params["name"] = f.name
    for i, (key, value) in enumerate(sorted(f.dimensions.items())):
        where.append(f"dimensions[{{dk{i}:String}}] = {{dv{i}:String}}")
        params[f"dk{i}"], params[f"dv{i}"] = key, value
        if value == "":
            where.append(f"mapContains(dimensions, {{dk{i}:String}})")
    if exact_dimensions:
        where.append("length(dimensions) = {ndims:UInt32}")
        params["ndims"] = len(f.dimensions)
    return where, params


async def list_series(
    store: Store, f: SeriesFilter, limit: int, after: tuple[str, str, int] | None
) -> tuple[list[dict[str, Any]], tuple[str, str, int] | None]:
    where, params = _series_where(f, exact_dimensions=False)
    if after is not None:
        where.append("(namespace, name, series_id) > ({a_ns:String}, {a_n:String}, {a_id:UInt64})")
        params.update(a_ns=after[0], a_n=after[1], a_id=after[2])
    params["limit"] = limit + 1
    rows = (
        await store.query(
            # The aliases differ from the columns: ClickHouse resolves a name in WHERE to a
            # SELECT alias first, so "any(dimensions) AS dimensions" put an aggregate in WHERE.
            f"""SELECT namespace, name, series_id, any(dimensions) AS dims,
                   groupUniqArrayArray(units) AS unit_set,
                   toUnixTimestamp64Nano(min(first_seen)) AS first_ns,
                   toUnixTimestamp64Nano(max(last_seen)) AS last_ns, sum(points) AS n_points
            FROM metric_series WHERE {" AND ".join(where)}
            GROUP BY namespace, name, series_id
            ORDER BY namespace, name, series_id LIMIT {{limit:UInt32}}""",
            params,
        )
    ).dicts()
    cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        cursor = (rows[-1]["namespace"], rows[-1]["name"], int(rows[-1]["series_id"]))
    return [
        {
            "namespace": r["namespace"],
            "name": r["name"],
            "series_id": str(r["series_id"]),
            "dimensions": dict(r["dims"]),
            "units": sorted(r["unit_set"]),
            "first_seen": rfc3339(r["first_ns"]),
            "last_seen": rfc3339(r["last_ns"]),
            "points": int(r["n_points"]),
        }
        for r in rows
    ], cursor
