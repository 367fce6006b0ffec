"""``sum by (…) (rate(x[5m]))`` computed in the store: the windows, the extrapolation and
the aggregation in one ClickHouse statement, so that only the result (groups × steps)
travels back instead of every sample.

Why: a range query over 10,000 series × 24 h reads 14 M samples; turning them into Arrow
rows and numpy arrays costs several times what ClickHouse needs to compute the answer
where the samples are (bench/RESULTS.md, "PromQL").

What it answers (``WindowAggregate``): ``op by|without (…) (fn(selector[range] offset o))``
with ``fn`` one of ``rate``, ``increase``, ``delta`` and ``op`` one of ``sum``, ``avg``,
``count``, over an evenly spaced grid of window ends (a range query's steps, an instant
query's one time). The evaluator uses it only then, and only for a selector naming one
metric (so no two series can share a label set once ``__name__`` is dropped); anything
else takes the general path.

Semantics are the evaluator's, step by step (``rangefuncs._extrapolated``): samples read
as ``sql.select`` reads them (the stored value ``sql.VALUE_SQL`` shows, milliseconds, two
rows of one series at one millisecond: the later one wins, staleness markers dropped
after that), windows ``[end - range, end]`` with both ends included, Prometheus 2.x's
extrapolation (to the window's edge unless farther than 1.1 × the average gap, then half a
gap; counters not below zero before their first sample) and counter resets. The groups are
made in Python from the series' labels (``aggregate.group_labels``), not in SQL, so that the
label mapping stays in one place (``names``).

How, per series (arrays, one row each): its samples sorted by time; per step ``k`` (end
``E0 + k·S``) the index ``L[k]`` of the last sample at or before the end and ``F[k]`` of the
first one at or after ``end - range``, found without searching: sample ``i`` is the last
one for the steps ``[h_i, h_{i+1})`` with ``h_i = ceil((t_i - E0) / S)``, and the first one
for ``[g_{i-1}, g_i)`` with ``g_i = floor((t_i + range - E0) / S) + 1`` (both clamped to the
grid), so ``L`` and ``F`` are each sample's index repeated that many times. Counter resets:
the running sum of the value before each drop; a window adds those after its first sample.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.query.promql.aggregate import group_labels
from vigil.query.promql.binary import drop_name
from vigil.query.promql.errors import TooManySamples
from vigil.query.promql.names import Labels
from vigil.query.promql.sql import VALUE_SQL, LabelMatcher, metric_filter, series_sql
from vigil.query.promql.values import STALE_NAN_BITS, Vector
from vigil.store.interface import Store

FUNCTIONS = ("rate", "increase", "delta")
OPS = ("sum", "avg", "count")


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """``op by|without (names) (fn(selector[range_ms]))`` at ``steps`` window ends
    ``first_end + k * step_ms`` (ms; offset already applied)."""

    fn: str
    op: str
    names: tuple[str, ...]
    without: bool
    range_ms: int
    first_end: int
    step_ms: int
    steps: int


def windows_sql(spec: WindowAggregate) -> str:
    """One row per group: ``gid``, ``total`` (per step, the sum of the members' values),
    ``n`` (per step, how many members have a value) and ``samples`` (the samples read)."""
    counter = spec.fn in ("rate", "increase")
    # Integers formatted in (ints from the evaluator, never text from a user), so that
    # ClickHouse folds them as constants inside the lambdas.
    e0, s, r, k = int(spec.first_end), int(spec.step_ms), int(spec.range_ms), int(spec.steps)
    pad = r // s + 2  # keeps intDiv's operand positive (it truncates toward zero)
    # Exactly rangefuncs._extrapolated's operations, in its order, per step: F and L are
    # the window's first and last sample, E its end.
    sub = {
        "tf": "ts[f]",
        "tl": "ts[l]",
        "vf": "vs[f]",
        "vl": "vs[l]",
        "c": "(toInt64(l) - toInt64(f) + 1)",
    }
    res = "(((vl - vf) + corr[l]) - corr[f])" if counter else "(vl - vf)"
    sm = "((tl - tf) / 1000)"
    t0 = f"((tf - (e - {r})) / 1000)"
    te = "((e - tl) / 1000)"
    avg = f"({sm} / (c - 1))"
    if counter:
        zero = f"({sm} * (vf / {res}))"
        t0 = f"if({res} > 0 AND vf >= 0 AND {zero} < {t0}, {zero}, {t0})"
    scale = f" / {r / 1000!r}" if spec.fn == "rate" else ""
    val = (
        f"if(c >= 2, {res} * ((({sm} + if({t0} < {avg} * 1.1, {t0}, {avg} / 2))"
        f" + if({te} < {avg} * 1.1, {te}, {avg} / 2)) / {sm}){scale}, 0)"
    )
    for name, expr in sub.items():
        val = re.sub(rf"\b{name}\b", expr, val)
    return f"""
SELECT gid, sumForEach(val) AS total, sumForEach(ok) AS n, sum(raw) AS samples
FROM (
  SELECT gid, raw,
    arrayMap((l, f) -> toUInt32(toInt64(l) - toInt64(f) >= 1), L, F) AS ok,
    arrayMap((l, f, e) -> {val}, L, F, range({e0}, {e0 + k * s}, {s})) AS val
        FROM (
          SELECT gid, raw, ts, vs,
            arrayMap(x -> least(greatest(
                intDiv(x - {e0} + {pad * s + s - 1}, {s}) - {pad}, 0), {k}), ts) AS h,
            arrayMap(x -> least(greatest(
                intDiv(x + {r} - {e0} + {pad * s}, {s}) - {pad} + 1, 0), {k}), ts) AS g,
            arrayConcat(
              arrayWithConstant(toUInt64(if(length(ts) = 0, {k}, h[1])), toUInt32(0)),
              arrayFlatten(arrayMap((i, a, b) -> arrayWithConstant(toUInt64(b - a), i),
                arrayEnumerate(ts), h, arrayPushBack(arrayPopFront(h), {k})))) AS L,
            arrayConcat(
              arrayFlatten(arrayMap((i, a, b) -> arrayWithConstant(toUInt64(b - a), i),
                arrayEnumerate(ts), arrayPushFront(arrayPopBack(g), 0), g)),
              arrayWithConstant(toUInt64({k} - if(length(ts) = 0, 0, g[-1])),
                toUInt32(length(ts) + 1))) AS F,
            arrayCumSum(arrayMap((v, p) -> if(v < p, p, 0), vs,
              if(empty(vs), vs, arrayPushFront(arrayPopBack(vs), vs[1])))) AS corr
          FROM (
            SELECT gid, length(keep) AS raw,
              arrayFilter((t, kp) -> kp, tms, keep) AS ts,
              arrayFilter((v, kp) -> kp, vraw, keep) AS vs
            FROM (
              SELECT gid, tms, vraw,
                arrayMap((t, nt, v) -> t != nt AND reinterpretAsUInt64(v) != {STALE_NAN_BITS},
                  tms, arrayPushBack(arrayPopFront(tms), -1), vraw) AS keep
              FROM (
                SELECT transform(series_id, {{ids:Array(UInt64)}}, {{gids:Array(UInt32)}},
                                 toUInt32(0)) AS gid,
                  arraySort(groupArray((timestamp, {VALUE_SQL}))) AS pts,
                  arrayMap(p -> toUnixTimestamp64Milli(p.1), pts) AS tms,
                  arrayMap(p -> p.2, pts) AS vraw
                FROM metrics
                WHERE tenant = {{tenant:String}}
                  AND namespace IN {{namespaces:Array(String)}} AND name IN {{names:Array(String)}}
                  AND series_id IN {{ids:Array(UInt64)}}
                  AND timestamp >= fromUnixTimestamp64Milli({{s:Int64}})
                  AND timestamp < fromUnixTimestamp64Milli({{e:Int64}})
                GROUP BY series_id)))))
GROUP BY gid"""


async def aggregate_windows(
    store: Store,
    tenant: str,
    matchers: Sequence[LabelMatcher],
    spec: WindowAggregate,
    max_samples: int,
    timeout: float | None = None,
) -> Vector | None:
    """``spec`` over the series ``matchers`` select, as the evaluator's Vector; None when
    the general path must answer (the per-series result would pass ``max_samples``)."""
    fetch_start = spec.first_end - spec.range_ms
    fetch_end = spec.first_end + (spec.steps - 1) * spec.step_ms
    params: dict[str, Any] = {}
    series = await store.query_arrow(
        series_sql(tenant, matchers, fetch_start, fetch_end, params), params, timeout=timeout
    )
    t = spec.steps
    if series.num_rows == 0:
        return Vector.empty(t)
    if series.num_rows * t > max_samples:
        # The general path refuses, or not, on the rate's own size (series × steps):
        # leave the decision, and the error, to it.
        return None
    ids = series.column("series_id").to_numpy()
    order = np.argsort(ids, kind="stable")  # the general path's order: by series id
    lbls = series.column("lbl").to_pylist()
    keys: dict[Labels, int] = {}
    gids = np.empty(len(ids), dtype=np.uint32)
    for i in order.tolist():
        labels = tuple(sorted((k, v) for k, v in lbls[i] if v != ""))
        key = group_labels(drop_name(labels), spec.names, spec.without)
        gids[i] = keys.setdefault(key, len(keys) + 1)
    rows = await store.query_arrow(
        windows_sql(spec),
        {
            "tenant": tenant,
            **metric_filter(series),
            "ids": ids.tolist(),
            "gids": gids.tolist(),
            "s": fetch_start,
            "e": fetch_end + 1,
        },
        timeout=timeout,
    )
    if sum(rows.column("samples").to_pylist()) > max_samples:
        raise TooManySamples(max_samples)
    g = len(keys)
    total = np.zeros((g, t))
    count = np.zeros((g, t))
    for gid, tot, n in zip(
        rows.column("gid").to_pylist(),
        rows.column("total").to_pylist(),
        rows.column("n").to_pylist(),
        strict=True,
    ):
        total[gid - 1] = tot
        count[gid - 1] = n
    present = count > 0
    if spec.op == "sum":
        values = total
    elif spec.op == "avg":
        with np.errstate(invalid="ignore", divide="ignore"):
            values = total / np.maximum(count, 1)
    else:
        values = count
    keep = np.asarray(present.any(axis=1))
    kept = [lbl for lbl, kp in zip(keys, keep, strict=True) if kp]
    return Vector(kept, values[keep], present[keep])
