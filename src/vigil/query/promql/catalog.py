"""``/series``, ``/labels``, ``/label/<name>/values`` and ``/metadata``: what PromQL sees,
listed from ``metric_series`` (one row per stored series) with the same label mapping and
matcher SQL as selectors (``names``, ``sql``). Every list is bounded by ``limit``.

``/metadata``: a metric family remote write or a scrape described (type, help, unit as
sent, ``prom_metadata``; the API layer reads it and passes it in) answers that; the series
of such a family (``x_bucket`` of a described histogram ``x``) add nothing. Every other
metric gets a type inferred from how it was stored (an OTLP monotonic sum or a Prometheus
``*_total`` is a counter, an OTLP histogram or a ``_bucket`` series a histogram, else a
gauge), empty help, and the stored unit when it is not CloudWatch's ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.query.promql import histograms
from vigil.query.promql.names import PROMETHEUS_NAMESPACE, metric_name, metric_sql
from vigil.query.promql.sql import LabelMatcher, series_sql
from vigil.store.interface import Store


def _union(
    tenant: str,
    match: Sequence[Sequence[LabelMatcher]],
    start_ms: int | None,
    end_ms: int | None,
    params: dict[str, Any],
) -> str:
    if not match:
        match = [[]]
    parts = []
    for i, matchers in enumerate(match):
        makers = [series_sql]
        if histograms.could_match(matchers):
            makers.append(histograms.virtual_series_sql)
        for j, make in enumerate(makers):
            sub: dict[str, Any] = {}
            sql = make(tenant, matchers, start_ms, end_ms, sub)
            for k, v in sub.items():
                params[f"u{i}_{j}_{k}"] = v
                sql = sql.replace(f"{{{k}:", f"{{u{i}_{j}_{k}:")
            parts.append(sql)
    return " UNION DISTINCT ".join(f"SELECT lbl FROM ({p})" for p in parts)


async def series(
    store: Store,
    tenant: str,
    match: Sequence[Sequence[LabelMatcher]],
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[dict[str, str]]:
    params: dict[str, Any] = {"lim": limit}
    rows = await store.query(
        f"SELECT DISTINCT lbl FROM ({_union(tenant, match, start_ms, end_ms, params)})"
        " ORDER BY toString(lbl) LIMIT {lim:UInt32}",
        params,
    )
    return [dict(sorted((k, v) for k, v in r[0].items() if v != "")) for r in rows.rows]


async def label_names(
    store: Store,
    tenant: str,
    match: Sequence[Sequence[LabelMatcher]],
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[str]:
    params: dict[str, Any] = {"lim": limit}
    rows = await store.query(
        "SELECT DISTINCT arrayJoin(mapKeys(mapFilter((k, v) -> v != '', lbl))) AS k FROM ("
        f"{_union(tenant, match, start_ms, end_ms, params)}) ORDER BY k LIMIT {{lim:UInt32}}",
        params,
    )
    return [r[0] for r in rows.rows]


async def label_values(
    store: Store,
    tenant: str,
    name: str,
    match: Sequence[Sequence[LabelMatcher]],
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[str]:
    params: dict[str, Any] = {"lim": limit, "label": name}
    rows = await store.query(
        "SELECT DISTINCT lbl[{label:String}] AS v FROM ("
        f"{_union(tenant, match, start_ms, end_ms, params)}) WHERE v != ''"
        " ORDER BY v LIMIT {lim:UInt32}",
        params,
    )
    return [r[0] for r in rows.rows]


async def metadata(
    store: Store,
    tenant: str,
    metric: str | None,
    limit: int | None,
    limit_per_metric: int | None = None,
    stored: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """``/metadata``: ``stored`` (metric family → its Prometheus metadata, as remote write
    and scrapes sent it) where known; every other metric with a type inferred from how it
    was stored. ``limit`` bounds the metrics (None: no bound), ``limit_per_metric`` the
    entries of each (None: no bound), as Prometheus does."""
    stored = stored or {}
    rows = await store.query(
        f"""SELECT namespace, name, groupUniqArrayArray(units) AS u, {metric_sql()} AS metric
            FROM metric_series WHERE tenant = {{tenant:String}}
            GROUP BY namespace, name ORDER BY metric""",
        {"tenant": tenant},
    )
    kinds = await store.query(
        """SELECT namespace, name, groupUniqArray(metric_type) FROM metrics
           WHERE tenant = {tenant:String} AND timestamp > now() - INTERVAL 1 DAY
           GROUP BY namespace, name""",
        {"tenant": tenant},
    )
    types = {(r[0], r[1]): set(r[2]) for r in kinds.rows}
    found: dict[str, list[dict[str, str]]] = {
        name: list(entries) for name, entries in stored.items()
    }
    for namespace, name, units, shown in rows.rows:
        if namespace == PROMETHEUS_NAMESPACE and _described(shown, stored):
            continue
        unit = next((u for u in sorted(units) if u not in ("None", "")), "")
        entry = {"type": _type(name, types.get((namespace, name), set())), "help": "", "unit": unit}
        entries = found.setdefault(shown, [])
        if entry not in entries:
            entries.append(entry)
    out: dict[str, list[dict[str, str]]] = {}
    for name in sorted(found):
        if metric is not None and name != metric:
            continue
        if limit is not None and len(out) >= limit:
            break
        out[name] = found[name][:limit_per_metric] if limit_per_metric else found[name]
    return out


# The series names of a family beside its own (Prometheus' metadata is per family).
_FAMILY_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
}


def _described(name: str, stored: dict[str, list[dict[str, str]]]) -> bool:
    """Whether a remote-written or scraped series name belongs to a family ``stored``
    describes (then its inferred entry would only repeat it, worse)."""
    if name in stored:
        return True
    for family_type, suffixes in _FAMILY_SUFFIXES.items():
        for suffix in suffixes:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and any(
                e["type"] == family_type for e in stored.get(base, [])
            ):
                return True
    return False


def _type(name: str, stored: set[str]) -> str:
    shown = metric_name(name)
    if "histogram" in stored or shown.endswith("_bucket"):
        return "histogram"
    if "summary" in stored:
        return "summary"
    if "sum" in stored or "counter" in stored or shown.endswith("_total"):
        return "counter"
    return "gauge"
