"""OTLP histograms as Prometheus' classic series: ``<name>_bucket{le}``, ``_sum``, ``_count``.

What PromQL sees (README "PromQL", "What PromQL sees"): an OTLP histogram series stored in
``metrics`` (``metric_type`` ``histogram``; a ``HISTOGRAM`` row has explicit ``bounds``
and per-bucket ``buckets``, a ``STATS`` row only count and sum) shows, beside its mean
under its own name (``names``), as the series Prometheus' OTLP translation makes of it:

* ``<name>_count``, ``<name>_sum`` (rows of either kind; a row without a sum adds no
  ``_sum`` sample), and for ``HISTOGRAM`` rows ``<name>_bucket{le="b"}`` for every bound
  ``b`` the rows have, plus ``le="+Inf"`` (the count); ``le`` is written as Go's
  ``strconv.FormatFloat(b, 'f', -1, 64)`` (positional, shortest), as Prometheus does;
* as counters: the store keeps every histogram row as a delta (cumulative OTLP histograms
  are differenced at ingest, ``ingest.otlp.cumulative``; delta ones are stored as sent),
  so a sample's value is the running sum of the rows up to it, from the series' first
  stored row (the sum over the rows before the read's start is added in SQL). ``rate``,
  ``increase`` and ``histogram_quantile(φ, sum by (le) (rate(x_bucket[5m])))`` work as on
  Prometheus; absolute values count from the first row vigil stored, and an SDK restart
  shows as no reset (the increase is the same). This is what the collector's Prometheus
  exporter does with delta histograms (it accumulates them).
* a bound ``b`` missing from some rows (the bounds changed, or an exponential histogram —
  stored with explicit bounds at both edges of its cells — whose range moved or whose
  scale went down): such a row adds its count at its largest bound below ``b`` (0 when it
  has none). Exact for an exponential row when ``b`` lies outside its range (its buckets
  below its lowest and above its highest edge are empty) or on one of its edges (a coarser
  scale's edges are a finer one's); otherwise a lower bound. Every row so adds to every
  ``le``: the buckets stay monotonic in ``le`` and keep counting across the change.

The virtual series are found in SQL like stored ones (``virtual_series_sql``): the
matchers run on the labels above, ``le`` formatted in SQL, so one formatting exists.

A name clash (a metric stored as ``x_count`` — or ``x_sum``, ``x_bucket`` with an ``le``
dimension — with the very labels of histogram ``x``'s virtual series): the stored series
wins and that virtual series is not made, whatever the time range, so a label set is one
series and means one thing (the histogram's count stays readable as
``x_bucket{le="+Inf"}``). Prometheus' OTLP translation would write both into one series,
interleaving their samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from vigil.model.metrics import PointKind
from vigil.query.promql import sql
from vigil.query.promql.errors import TooManySamples
from vigil.query.promql.names import METRIC_NAME, PROMETHEUS_NAMESPACE, labels_sql, metric_sql
from vigil.query.promql.sql import LabelMatcher, matchers_sql, metric_filter
from vigil.query.promql.values import Samples
from vigil.store.interface import Store

SUFFIXES = ("_bucket", "_sum", "_count")
LE = "le"

_HIST = (
    f"metric_type = 'histogram' AND kind IN ({int(PointKind.STATS)}, {int(PointKind.HISTOGRAM)})"
)
# A row whose buckets match its bounds (OTLP allows bounds without bucket counts).
_BUCKETED = f"(kind = {int(PointKind.HISTOGRAM)} AND length(buckets) = length(bounds) + 1)"


def could_match(matchers: Sequence[LabelMatcher]) -> bool:
    """False when no virtual series can match (an ``=`` name without a histogram suffix):
    then no store read is spent on histograms."""
    return not any(
        m.name == METRIC_NAME and m.op == "=" and not m.value.endswith(SUFFIXES) for m in matchers
    )


def le_sql(b: str) -> str:
    """``le`` of the bound ``b`` (Float64) as Go's ``FormatFloat(b, 'f', -1, 64)``:
    ClickHouse's shortest form, with its exponent form (below 1e-6, from 1e21) written out."""
    s = f"toString({b})"
    # m: the mantissa without sign, x: the exponent, p: where the point goes in the digits.
    positional = (
        "arrayMap((neg, m, x) -> arrayMap((d, p) -> concat(if(neg, '-', ''), multiIf("
        "p <= 0, concat('0.', repeat('0', toUInt32(-p)), d),"
        " p >= length(d), concat(d, repeat('0', toUInt32(p - length(d)))),"
        " concat(substring(d, 1, p), '.', substring(d, p + 1)))),"
        " [replaceAll(m, '.', '')],"
        " [if(position(m, '.') = 0, toInt64(length(m)), toInt64(position(m, '.')) - 1) + x])[1],"
        f" [startsWith({s}, '-')], [trimLeft(splitByChar('e', {s})[1], '-')],"
        f" [toInt64(splitByChar('e', {s})[2])])[1]"
    )
    return f"if(isInfinite({b}), '+Inf', if(position({s}, 'e') = 0, {s}, {positional}))"


def _name_prefilter(matchers: Sequence[LabelMatcher], params: dict[str, Any]) -> list[str]:
    """Conditions on a stored series (``metric``: its PromQL name, ``lbl``: its labels)
    that its virtual series need: each ``__name__`` matcher on some ``metric + suffix``, the
    other matchers (not ``le``) on the stored labels. A superset; the exact test follows."""
    out = []
    for i, m in enumerate(matchers):
        if m.name == LE:
            continue
        if m.name != METRIC_NAME:
            out.extend(matchers_sql([m], params, f"hl{i}_"))
            continue
        k = f"hn{i}"
        params[k] = m.value
        name = "concat(metric, sfx)"
        if m.op in ("=", "!="):
            cond = f"{name} {m.op} {{{k}:String}}"
        else:
            neg = "NOT " if m.op == "!~" else ""
            cond = f"{neg}match({name}, concat('^(?:', {{{k}:String}}, ')$'))"
        out.append(f"arrayExists(sfx -> {cond}, {list(SUFFIXES)!r})")
    return out


def virtual_series_sql(
    tenant: str,
    matchers: Sequence[LabelMatcher],
    start_ms: int | None,
    end_ms: int | None,
    params: dict[str, Any],
) -> str:
    """SELECT series_id, namespace, name, lbl, suffix, bound: the histogram series the
    matchers select (``bound`` the ``le`` as a number, +inf for ``+Inf``, NaN when none),
    from histogram rows in [start_ms, end_ms]."""
    params["tenant"] = tenant
    pre = _name_prefilter(matchers, params) or ["1"]
    where = matchers_sql(matchers, params, "hm") or ["1"]
    times = []
    if start_ms is not None:
        params["hs_ms"] = start_ms
        times.append("timestamp >= fromUnixTimestamp64Milli({hs_ms:Int64})")
    if end_ms is not None:
        params["he_ms"] = end_ms + 1
        times.append("timestamp < fromUnixTimestamp64Milli({he_ms:Int64})")
    candidates = f"""
        SELECT series_id, namespace, name, lbl, metric FROM (
            SELECT namespace, name, series_id, {labels_sql()} AS lbl, {metric_sql()} AS metric
            FROM (
                SELECT namespace, name, series_id, any(dimensions) AS dims
                FROM metric_series
                WHERE tenant = {{tenant:String}} AND namespace != '{PROMETHEUS_NAMESPACE}'
                GROUP BY namespace, name, series_id))
        WHERE {" AND ".join(pre)}"""
    # Stored series named like a candidate's virtual ones, in the candidates' namespaces.
    clashing = f"""
        SELECT {_canonical(labels_sql())} FROM (
            SELECT namespace, name, any(dimensions) AS dims
            FROM metric_series
            WHERE tenant = {{tenant:String}} AND namespace IN (SELECT namespace FROM cand)
              AND {metric_sql()} IN (SELECT concat(metric, sfx) FROM cand
                                     ARRAY JOIN {list(SUFFIXES)!r} AS sfx)
            GROUP BY namespace, name, series_id)"""
    return f"""
        WITH cand AS ({candidates})
        SELECT series_id, namespace, name, lbl, suffix, bound FROM (
            SELECT c.series_id AS series_id, c.namespace AS namespace, c.name AS name,
                   p.1 AS suffix, p.2 AS bound,
                   mapUpdate(c.lbl, if(p.1 = '_bucket',
                       map('{METRIC_NAME}', concat(c.metric, p.1), '{LE}', {le_sql("p.2")}),
                       map('{METRIC_NAME}', concat(c.metric, p.1)))) AS lbl
            FROM cand AS c
            INNER JOIN (
                SELECT namespace, name, series_id, max({_BUCKETED}) AS bucketed,
                       arraySort(arrayDistinct(arrayFlatten(
                           groupUniqArray(if({_BUCKETED}, bounds, []))))) AS bs
                FROM metrics
                WHERE tenant = {{tenant:String}}
                  AND namespace IN (SELECT namespace FROM cand)
                  AND name IN (SELECT name FROM cand)
                  AND series_id IN (SELECT series_id FROM cand)
                  AND {_HIST} {"".join(" AND " + t for t in times)}
                GROUP BY namespace, name, series_id
            ) AS h ON c.series_id = h.series_id AND c.namespace = h.namespace
                  AND c.name = h.name
            ARRAY JOIN arrayConcat([('_count', nan), ('_sum', nan)],
                if(h.bucketed, arrayPushBack(arrayMap(b -> ('_bucket', b), h.bs),
                                             ('_bucket', inf)), [])) AS p)
        WHERE {" AND ".join(where)} AND {_canonical("lbl")} NOT IN ({clashing})"""


def _canonical(lbl: str) -> str:
    """A labels map as a sorted array of its non-empty pairs: equal for equal label sets."""
    return f"arraySort(arrayFilter(x -> x.2 != '', arrayZip(mapKeys({lbl}), mapValues({lbl}))))"


async def select(
    store: Store,
    tenant: str,
    virtual: pa.Table,
    start_ms: int,
    end_ms: int,
    max_samples: int,
    timeout: float | None = None,
) -> list[Samples]:
    """The samples in [start_ms, end_ms] of the virtual series ``virtual`` (rows of
    ``virtual_series_sql``), in the order of the rows."""
    if virtual.num_rows == 0:
        return []
    ids = sorted(set(virtual.column("series_id").to_pylist()))
    where = f"""tenant = {{tenant:String}}
              AND namespace IN {{namespaces:Array(String)}} AND name IN {{names:Array(String)}}
              AND series_id IN {{ids:Array(UInt64)}} AND {_HIST}"""
    params = {
        "tenant": tenant,
        **metric_filter(virtual),
        "ids": ids,
        "s": start_ms,
        "e": end_ms + 1,
        "lim": max_samples + 1,
    }
    # What the rows before the read add to each counter: the running sums' starting values.
    # Per bucket layout (rows with the same bounds), as a bound missing from some rows
    # still takes their count at their largest bound below it (``_samples``).
    before = await store.query_arrow(
        f"""SELECT series_id, if({_BUCKETED}, bounds, []) AS bs, sum(count) AS c,
                   sumIf(value, NOT isNaN(value)) AS v,
                   sumForEach(if({_BUCKETED}, arrayMap(x -> toFloat64(x),
                              arrayCumSum(arrayPopBack(buckets))), [])) AS m
            FROM metrics
            WHERE {where} AND timestamp < fromUnixTimestamp64Milli({{s:Int64}})
            GROUP BY series_id, bs""",
        params,
        timeout=timeout,
    )
    rows = await store.query_arrow(
        f"""SELECT series_id, toUnixTimestamp64Milli(timestamp) AS t, count, value,
                   if({_BUCKETED}, bounds, []) AS bounds,
                   if({_BUCKETED}, arrayCumSum(buckets), []) AS cum
            FROM metrics
            WHERE {where}
              AND timestamp >= fromUnixTimestamp64Milli({{s:Int64}})
              AND timestamp < fromUnixTimestamp64Milli({{e:Int64}})
            ORDER BY tenant, namespace, name, series_id, timestamp
            LIMIT {{lim:UInt64}}""",
        params,
        timeout=timeout,
    )
    if rows.num_rows > max_samples:
        raise TooManySamples(max_samples)
    out = _samples(virtual, before, rows)
    if sum(len(s.times) for s in out) > max_samples:
        raise TooManySamples(max_samples)
    return out


def _samples(virtual: pa.Table, before: pa.Table, rows: pa.Table) -> list[Samples]:
    """Running sums per virtual series (pure: Arrow tables in, samples out)."""
    base_c: dict[int, float] = {}
    base_v: dict[int, float] = {}
    layouts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for sid, bs, c, v, m in zip(
        before.column("series_id").to_pylist(),
        before.column("bs").to_pylist(),
        before.column("c").to_pylist(),
        before.column("v").to_pylist(),
        before.column("m").to_pylist(),
        strict=True,
    ):
        base_c[sid] = base_c.get(sid, 0.0) + float(c)
        base_v[sid] = base_v.get(sid, 0.0) + float(v or 0.0)
        if bs:
            layouts.setdefault(sid, []).append((np.array(bs, np.float64), np.array(m, np.float64)))

    def base_b(v_sid: int, bound: float) -> float:
        """What the rows before the read add at ``bound``: each layout's count at its
        largest bound at or below it."""
        total = 0.0
        for bs, cum in layouts.get(v_sid, ()):
            k = int(np.searchsorted(bs, bound, side="right"))
            if k:
                total += float(cum[k - 1])
        return total

    sid = rows.column("series_id").to_numpy().astype(np.uint64)
    t = rows.column("t").to_numpy().astype(np.int64)
    count = rows.column("count").to_numpy().astype(np.float64)
    value = rows.column("value").to_numpy().astype(np.float64)
    # Every row's finite bounds end to end, with the cumulative count at each (``cum`` has
    # one more element per row than ``bounds``, the +Inf bucket: each row's last dropped).
    bounds_col = rows.column("bounds").combine_chunks()
    cum_col = rows.column("cum").combine_chunks()
    off = bounds_col.offsets.to_numpy().astype(np.int64)
    flat_bounds = bounds_col.flatten().to_numpy().astype(np.float64)
    cum_flat = cum_col.flatten().to_numpy().astype(np.float64)
    nc = np.diff(cum_col.offsets.to_numpy())
    keep = np.ones(len(cum_flat), dtype=bool)
    keep[(np.cumsum(nc) - 1)[nc > 0]] = False
    flat_cum = cum_flat[keep]
    flat_row = np.repeat(np.arange(len(sid)), np.diff(off))

    # Row ranges of each series (rows come ordered by series and time).
    spans: dict[int, tuple[int, int]] = {}
    if len(sid):
        cuts = np.flatnonzero(sid[1:] != sid[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(sid)]))
        spans = {int(sid[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}

    # Per series, when every row has the same bounds (the usual case): its running sums at
    # every bound at once, one column per bound.
    same: dict[int, tuple[dict[float, int], np.ndarray] | None] = {}

    def running(v_sid: int, a: int, b: int) -> tuple[dict[float, int], np.ndarray] | None:
        if v_sid not in same:
            k = int(off[a + 1] - off[a]) if b > a else 0
            lo, hi = off[a], off[b]
            first = flat_bounds[lo : lo + k]
            grid = flat_bounds[lo:hi]
            if k and hi - lo == k * (b - a) and (grid.reshape(-1, k) == first).all():
                sums = flat_cum[lo:hi].reshape(-1, k).cumsum(axis=0)
                same[v_sid] = ({float(x): i for i, x in enumerate(first)}, sums)
            else:
                same[v_sid] = None
        return same[v_sid]

    out = []
    for v_sid, suffix, bound, lbl in zip(
        virtual.column("series_id").to_pylist(),
        virtual.column("suffix").to_pylist(),
        virtual.column("bound").to_pylist(),
        virtual.column("lbl").to_pylist(),
        strict=True,
    ):
        labels = tuple(sorted((k, v) for k, v in lbl if v != ""))
        a, b = spans.get(v_sid, (0, 0))
        if suffix == "_count" or (suffix == "_bucket" and np.isinf(bound)):
            times, vals = t[a:b], base_c.get(v_sid, 0.0) + np.cumsum(count[a:b])
        elif suffix == "_sum":
            ok = ~np.isnan(value[a:b])
            times = t[a:b][ok]
            vals = base_v.get(v_sid, 0.0) + np.cumsum(value[a:b][ok])
        elif (grid := running(v_sid, a, b)) is not None and bound in grid[0]:
            times = t[a:b]
            vals = base_b(v_sid, bound) + grid[1][:, grid[0][bound]]
        else:
            times, vals = _at_bound(bound, a, b, t, off, flat_bounds, flat_row, flat_cum)
            vals = base_b(v_sid, bound) + vals
        out.append(_last_per_ms(labels, times, vals))
    return out


def _at_bound(
    bound: float,
    a: int,
    b: int,
    t: np.ndarray,
    off: np.ndarray,
    flat_bounds: np.ndarray,
    flat_row: np.ndarray,
    flat_cum: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The running count at or below ``bound`` over rows [a, b) whose bounds differ: each
    bucketed row adds its count at its largest bound at or below ``bound`` (0 if none)."""
    lo, hi = off[a], off[b]
    nb = np.diff(off[a : b + 1])
    # How many of each row's (increasing) bounds are at or below ``bound``.
    k = np.bincount(flat_row[lo:hi][flat_bounds[lo:hi] <= bound] - a, minlength=b - a)
    at = np.zeros(b - a, np.float64)
    has = k > 0
    at[has] = flat_cum[(off[a:b] + k - 1)[has]]
    bucketed = nb > 0
    return t[a:b][bucketed], np.cumsum(at[bucketed])


def _last_per_ms(labels: Any, times: np.ndarray, values: np.ndarray) -> Samples:
    # Two rows at one millisecond: the running sum after both (as ``sql.split``'s rule,
    # the later row wins, and it already includes the earlier one).
    keep = np.ones(len(times), dtype=bool)
    keep[:-1] = times[1:] != times[:-1]
    return Samples(labels, times[keep].astype(np.int64), values[keep].astype(np.float64))


async def select_all(
    store: Store,
    tenant: str,
    matchers: Sequence[LabelMatcher],
    start_ms: int,
    end_ms: int,
    max_samples: int,
    timeout: float | None = None,
) -> list[Samples]:
    """``sql.select`` (the stored series) and the virtual histogram series the matchers
    select, under one sample limit."""
    out = await sql.select(store, tenant, matchers, start_ms, end_ms, max_samples, timeout)
    if not could_match(matchers):
        return out
    params: dict[str, Any] = {}
    virtual = await store.query_arrow(
        virtual_series_sql(tenant, matchers, start_ms, end_ms, params), params, timeout=timeout
    )
    used = sum(len(s.times) for s in out)
    return out + await select(store, tenant, virtual, start_ms, end_ms, max_samples - used, timeout)


async def any_virtual(
    store: Store,
    tenant: str,
    matchers: Sequence[LabelMatcher],
    start_ms: int,
    end_ms: int,
    timeout: float | None = None,
) -> bool:
    """Whether the matchers select a virtual histogram series in [start_ms, end_ms] (the
    pushdown reads stored series only, so it must leave such selectors to the evaluator)."""
    if not could_match(matchers):
        return False
    params: dict[str, Any] = {}
    sql_text = virtual_series_sql(tenant, matchers, start_ms, end_ms, params)
    found = await store.query_arrow(f"SELECT 1 FROM ({sql_text}) LIMIT 1", params, timeout=timeout)
    return bool(found.num_rows > 0)
