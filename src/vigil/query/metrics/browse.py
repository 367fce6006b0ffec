"""What the metrics explorer browses: namespaces, then the metric names of one namespace
(``/api/v1/metrics/namespaces``, ``/api/v1/metrics/names``), each with counts, read from
``metric_series`` in one grouped query — not every series shipped to the browser.

Contract: ``namespaces`` → ``[{"namespace", "metrics", "series"}]`` ordered by name;
``metric_names`` → ``[{"name", "series", "dimension_keys"}]`` of one namespace, ordered by
name; both at most ``limit`` rows, with whether more exist.
"""

from __future__ import annotations

from typing import Any

from vigil.store.interface import Store


async def namespaces(store: Store, tenant: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    rows = (
        await store.query(
            "SELECT namespace AS ns, uniqExact(name) AS n_metrics, uniqExact(series_id) AS n_series"
            " FROM metric_series WHERE tenant = {tenant:String}"
            " GROUP BY namespace ORDER BY namespace LIMIT {limit:UInt32}",
            {"tenant": tenant, "limit": limit + 1},
        )
    ).dicts()
    out = [
        {"namespace": r["ns"], "metrics": int(r["n_metrics"]), "series": int(r["n_series"])}
        for r in rows[:limit]
    ]
    return out, len(rows) > limit


async def metric_names(
    store: Store, tenant: str, namespace: str, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    rows = (
        await store.query(
            "SELECT name AS metric, uniqExact(series_id) AS n_series,"
            " groupUniqArrayArray(mapKeys(dimensions)) AS dim_keys"
            " FROM metric_series WHERE tenant = {tenant:String} AND namespace = {ns:String}"
            " GROUP BY name ORDER BY name LIMIT {limit:UInt32}",
            {"tenant": tenant, "ns": namespace, "limit": limit + 1},
        )
    ).dicts()
    out = [
        {
            "name": r["metric"],
            "series": int(r["n_series"]),
            "dimension_keys": sorted(r["dim_keys"]),
        }
        for r in rows[:limit]
    ]
    return out, len(rows) > limit
