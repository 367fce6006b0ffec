"""Metric series listing for the read API (``/api/v1/metrics/series``).

Datapoints, statistics and math expressions are answered by ``vigil.query.metricdata``
(statistics in ``vigil.query.statistics``, stored resolutions in ``vigil.query.levels``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.api.params import rfc3339
from vigil.store.interface import Store

STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
MAX_DATAPOINTS = 100_800


@dataclass(slots=True)
class SeriesFilter:
    tenant: str
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)


def _series_where(f: SeriesFilter) -> tuple[list[str], list[str], dict[str, Any]]:
    """WHERE and HAVING clauses of a series listing. Dimension conditions are on the
    merged row (``max(dimensions)``): activity rows of a series carry no dimensions."""
    where = ["tenant = {tenant:String}"]
    having: list[str] = []
    params: dict[str, Any] = {"tenant": f.tenant}
    if f.namespace is not None:
        where.append("namespace = {namespace:String}")
        params["namespace"] = f.namespace
    if f.name is not None:
        where.append("name = {name:String}")
        params["name"] = f.name
    for i, (key, value) in enumerate(sorted(f.dimensions.items())):
        having.append(f"max(dimensions)[{{dk{i}:String}}] = {{dv{i}:String}}")
        params[f"dk{i}"], params[f"dv{i}"] = key, value
        if value == "":
            having.append(f"mapContains(max(dimensions), {{dk{i}:String}})")
    return where, having, params


async def list_series(
    store: Store, f: SeriesFilter, limit: int, after: tuple[str, str, int] | None
) -> tuple[list[dict[str, Any]], tuple[str, str, int] | None]:
    where, having, params = _series_where(f)
    if after is not None:
        where.append("(namespace, name, series_id) > ({a_ns:String}, {a_n:String}, {a_id:UInt64})")
        params.update(a_ns=after[0], a_n=after[1], a_id=after[2])
    params["limit"] = limit + 1
    rows = (
        await store.query(
            f"""SELECT namespace, name, series_id, max(dimensions) AS dims,
                   groupUniqArrayArray(units) AS all_units,
                   toUnixTimestamp64Nano(min(first_seen)) AS first,
                   toUnixTimestamp64Nano(max(last_seen)) AS last, sum(points) AS total
            FROM metric_series WHERE {" AND ".join(where)}
            GROUP BY namespace, name, series_id
            {"HAVING " + " AND ".join(having) if having else ""}
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
            "units": sorted(r["all_units"]),
            "first_seen": rfc3339(r["first"]),
            "last_seen": rfc3339(r["last"]),
            "points": int(r["total"]),
        }
        for r in rows
    ], cursor
