"""Reading Prometheus metadata (``prom_metadata``, written by remote write and scraping).

``read_metadata(store, tenant, metric=None, limit=None)`` answers what PromQL's
``/api/v1/metadata`` needs: metric family → the list of its distinct
``{"type", "help", "unit"}`` (one entry per family here: the newest description wins),
families in name order, at most ``limit`` of them. Safe from the event loop (it awaits
``store.query``).
"""

from __future__ import annotations

from typing import Any

from vigil.store.interface import Store


async def read_metadata(
    store: Store, tenant: str, metric: str | None = None, limit: int | None = None
) -> dict[str, list[dict[str, str]]]:
    params: dict[str, Any] = {"t": tenant}
    where = "tenant = {t:String}"
    if metric is not None:
        where += " AND metric = {m:String}"
        params["m"] = metric
    sql = (
        "SELECT metric, argMax(type, updated), argMax(help, updated), argMax(unit, updated)"
        f" FROM prom_metadata WHERE {where} GROUP BY metric ORDER BY metric"
    )
    if limit is not None and limit >= 0:
        sql += " LIMIT {n:UInt64}"
        params["n"] = limit
    rows = await store.query(sql, params)
    return {
        str(name): [{"type": str(typ), "help": str(help_), "unit": str(unit)}]
        for name, typ, help_, unit in rows.rows
    }
