"""Metric series listing and datapoints by statistic and period (raw points).

Statistics over the rows of a period, whatever their kind (see model.metrics):
  SampleCount = Σ count;  Sum = Σ (value·count for samples, value otherwise)
  Average = Sum / SampleCount;  Minimum / Maximum over sample values and set min/max
  pNN = exact weighted percentile of sample values; for histogram rows, linear
        interpolation inside the merged buckets (bounded by the rows' min and max).
Periods are aligned to the epoch (a 60 s period starts on the minute).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from vigil.api.params import rfc3339
from vigil.store.interface import Store

STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")
MAX_DATAPOINTS = 100_800

_SUM = "sum(if(kind = 0, value * count, value))"
_COUNT = "sum(count)"
_MIN = "minIf(if(kind = 0, value, min), NOT isNaN(if(kind = 0, value, min)))"
_MAX = "maxIf(if(kind = 0, value, max), NOT isNaN(if(kind = 0, value, max)))"


def valid_statistic(stat: str) -> bool:
    return stat in STATISTICS or bool(PERCENTILE.match(stat))


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
            f"""SELECT namespace, name, series_id, any(dimensions) AS dimensions,
                   groupUniqArrayArray(units) AS units,
                   toUnixTimestamp64Nano(min(first_seen)) AS first_seen,
                   toUnixTimestamp64Nano(max(last_seen)) AS last_seen, sum(points) AS points
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
            "dimensions": dict(r["dimensions"]),
            "units": sorted(r["units"]),
            "first_seen": rfc3339(r["first_seen"]),
            "last_seen": rfc3339(r["last_seen"]),
            "points": int(r["points"]),
        }
        for r in rows
    ], cursor


async def datapoints(
    store: Store,
    f: SeriesFilter,
    statistic: str,
    period: int,
    start_ns: int,
    end_ns: int,
    unit: str | None = None,
) -> list[dict[str, Any]]:
    """One value per period with data, ascending; the series' dimensions must match exactly."""
    where, params = _series_where(f, exact_dimensions=True)
    where.append("timestamp >= fromUnixTimestamp64Nano({start:Int64})")
    where.append("timestamp < fromUnixTimestamp64Nano({end:Int64})")
    params.update(start=start_ns, end=end_ns, period=period)
    if unit is not None:
        where.append("unit = {unit:String}")
        params["unit"] = unit
    bucket = "intDiv(toUnixTimestamp(timestamp), {period:UInt32}) * {period:UInt32}"
    if statistic in STATISTICS:
        expr = {
            "Sum": _SUM,
            "SampleCount": _COUNT,
            "Average": f"{_SUM} / nullIf({_COUNT}, 0)",
            "Minimum": _MIN,
            "Maximum": _MAX,
        }[statistic]
        rows = await store.query(
            f"SELECT {bucket} AS t, {expr} AS v, groupUniqArray(unit) FROM metrics"
            f" WHERE {' AND '.join(where)} GROUP BY t ORDER BY t",
            params,
        )
        return [_point(t, v, units) for t, v, units in rows.rows if v is not None and not _nan(v)]
    return await _percentile(store, where, params, bucket, float(statistic[1:]) / 100)


async def _percentile(
    store: Store, where: list[str], params: dict[str, Any], bucket: str, q: float
) -> list[dict[str, Any]]:
    params["q"] = q
    rows = await store.query(
        f"""SELECT {bucket} AS t,
               quantileExactWeightedIf({{q:Float64}})(
                   value, toUInt64(greatest(count, 0)), kind = 0) AS pv,
               countIf(kind = 0) AS samples, groupUniqArray(unit) AS units,
               groupArrayIf((bounds, buckets, min, max), kind = 2) AS hists
            FROM metrics WHERE {" AND ".join(where)} GROUP BY t ORDER BY t""",
        params,
    )
    out = []
    for t, pv, samples, units, hists in rows.rows:
        value = pv if samples else histogram_quantile(hists, params["q"])
        if value is not None and not _nan(value):
            out.append(_point(t, value, units))
    return out


def histogram_quantile(
    hists: list[tuple[list[float], list[int], float, float]], q: float
) -> float | None:
    """Quantile of merged explicit-bucket histograms (rows with other bounds are skipped)."""
    if not hists:
        return None
    bounds = list(hists[0][0])
    counts = [0] * (len(bounds) + 1)
    lo, hi = math.inf, -math.inf
    for b, row_counts, mn, mx in hists:
        if list(b) != bounds or len(row_counts) != len(counts):
            continue
        counts = [x + y for x, y in zip(counts, row_counts, strict=True)]
        if not math.isnan(mn):
            lo = min(lo, mn)
        if not math.isnan(mx):
            hi = max(hi, mx)
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lower = (
                bounds[i - 1]
                if i > 0
                else (lo if math.isfinite(lo) else (bounds[0] if bounds else 0.0))
            )
            upper = bounds[i] if i < len(bounds) else (hi if math.isfinite(hi) else bounds[-1])
            if math.isfinite(lo):
                lower = max(lower, lo)
            if math.isfinite(hi):
                upper = min(upper, hi)
            return lower + (upper - lower) * ((rank - seen) / c)
        seen += c
    return hi if math.isfinite(hi) else bounds[-1]


def _nan(value: Any) -> bool:
    return isinstance(value, float) and (math.isnan(value) or math.isinf(value))


def _point(t: int, value: float, units: list[str]) -> dict[str, Any]:
    return {
        "timestamp": rfc3339(int(t) * 10**9),
        "time": int(t),
        "value": float(value),
        "unit": units[0] if len(units) == 1 else ("Mixed" if units else "None"),
    }
