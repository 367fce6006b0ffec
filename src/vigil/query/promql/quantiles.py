"""``histogram_quantile`` over classic buckets (``le`` series), as Prometheus 2.42 computes it.

Contract: ``histogram_quantile(q, vec)`` takes φ per evaluation time and an instant vector
of bucket series; series are grouped by their labels without ``le`` and ``__name__`` (the
output's labels), series whose ``le`` is not a number are skipped; a group answers at every
time at which one of its buckets has a sample. At one time the answer is
``bucket_quantile`` of the group's buckets present then: that function is the reference,
one time at a time; ``histogram_quantile`` computes the same for all times of a group at
once with numpy (the buckets sorted once per group, every step's arithmetic as arrays), and
falls back to the reference only for a group with a NaN ``le`` (where Prometheus' order
depends on its sort algorithm).

Prometheus 2.42's ``bucketQuantile`` (promql/quantile.go), kept exactly, including its
handling of NaN counts (which later versions' "forced monotonicity" annotations do not
change for floats): φ NaN → NaN, φ < 0 → -Inf, φ > 1 → +Inf (before anything else); the
highest bucket not ``+Inf`` → NaN; buckets with equal bounds added; counts made
non-decreasing from the first bucket's (``ensureMonotonic``: a bucket below the running
maximum is raised to it; a NaN count is left as it is and does not move the maximum; a NaN
first count leaves every count as it is); fewer than two buckets or a total of 0 → NaN;
rank = φ × total, the bucket found by Go's ``sort.Search`` (a binary search: with NaN
counts the predicate is not monotonic and its answer is not the first match); in the
``+Inf`` bucket → the second highest bound; in the lowest with bound ≤ 0 → that bound;
otherwise linear interpolation in the bucket, from 0 for the lowest.
"""

from __future__ import annotations

import math

import numpy as np

from vigil.query.promql.names import METRIC_NAME, Labels, get
from vigil.query.promql.values import Bools, Floats, Value, Vector


def histogram_quantile(q: Floats, vec: Value) -> Vector:
    assert isinstance(vec, Vector)
    t = vec.values.shape[1]
    groups: dict[Labels, list[tuple[float, int]]] = {}
    for i, lbl in enumerate(vec.labels):
        le = get(lbl, "le")
        try:
            upper = float(le.replace("+Inf", "inf"))
        except ValueError:
            continue
        key = tuple((k, v) for k, v in lbl if k not in ("le", METRIC_NAME))
        groups.setdefault(key, []).append((upper, i))
    labels, rows, present = [], [], []
    for key, members in groups.items():
        members.sort()
        if any(math.isnan(u) for u, _ in members):
            res, has = _reference(q, vec, members)
        else:
            res, has = _group(q, vec, members)
        if has.any():
            labels.append(key)
            rows.append(res)
            present.append(has)
    if not rows:
        return Vector.empty(t)
    return Vector(labels, np.vstack(rows), np.vstack(present))


def _reference(q: Floats, vec: Vector, members: list[tuple[float, int]]) -> tuple[Floats, Bools]:
    """One group, one time at a time, through ``bucket_quantile``."""
    t = vec.values.shape[1]
    res = np.zeros(t)
    has = np.zeros(t, dtype=bool)
    for j in range(t):
        buckets = [(u, float(vec.values[i, j])) for u, i in members if vec.present[i, j]]
        if buckets:
            res[j] = bucket_quantile(float(q[j]), buckets)
            has[j] = True
    return res, has


def _group(q: Floats, vec: Vector, members: list[tuple[float, int]]) -> tuple[Floats, Bools]:
    """One group at every time at once: ``bucket_quantile`` as arrays over the times.
    ``members``: (bound, row) sorted by bound, no NaN bound."""
    t = vec.values.shape[1]
    # Coalesced: one row per distinct bound, the present counts added in member order (as
    # the reference adds them), absent where none of its members is present.
    bounds: list[float] = []
    counts: list[Floats] = []
    seen: list[Bools] = []
    for upper, i in members:
        c, p = vec.values[i], vec.present[i]
        if bounds and bounds[-1] == upper:
            with np.errstate(all="ignore"):  # inf + -inf where it is not kept
                added = counts[-1] + c
            counts[-1] = np.where(p, np.where(seen[-1], added, c), counts[-1])
            seen[-1] = seen[-1] | p
        else:
            bounds.append(upper)
            counts.append(np.where(p, c, 0.0))
            seen.append(p)
    k = len(bounds)
    cnt, pres = np.vstack(counts), np.vstack(seen)
    cols = np.arange(t)
    # Each time's present buckets first, in bound order: row r of column j is the r-th
    # bucket present at time j (rows from n[j] on are padding, never read).
    order = np.argsort(~pres, axis=0, kind="stable")
    ub = np.asarray(bounds)[order]
    cnt = np.take_along_axis(cnt, order, axis=0)
    n = pres.sum(axis=0)
    has = n > 0
    last = np.maximum(n - 1, 0)
    with np.errstate(all="ignore"):
        # ensureMonotonic: raised to the running maximum (NaN counts ignored, left alone);
        # not at all where the first count is NaN. Padding rows follow: they change nothing.
        run = np.fmax.accumulate(cnt, axis=0)
        mono = np.where((cnt < run) & ~np.isnan(cnt[0])[None, :], run, cnt)
        total = mono[last, cols]
        rank = q * total
        # Go's sort.Search over the first n - 1 buckets, every time at once.
        lo = np.zeros(t, dtype=np.int64)
        hi = last.copy()
        while True:
            active = lo < hi
            if not active.any():
                break
            h = (lo + hi) >> 1
            found = mono[np.minimum(h, k - 1), cols] >= rank
            lo = np.where(active & ~found, h + 1, lo)
            hi = np.where(active & found, h, hi)
        b = lo
        prev = np.maximum(b - 1, 0)
        first = b == 0
        start = np.where(first, 0.0, ub[prev, cols])
        below = np.where(first, 0.0, mono[prev, cols])
        end = ub[b, cols]
        inner = start + (end - start) * ((rank - below) / (mono[b, cols] - below))
        res = np.where(first & (ub[0] <= 0), ub[0], inner)
        res = np.where(b == last, ub[np.maximum(n - 2, 0), cols], res)
        res = np.where((ub[last, cols] != math.inf) | (n < 2) | (total == 0), math.nan, res)
        res = np.where(q > 1, math.inf, res)
        res = np.where(q < 0, -math.inf, res)
        res = np.where(np.isnan(q), math.nan, res)
    return np.where(has, res, 0.0), has


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus 2.42's ``bucketQuantile`` over (upper bound, cumulative count), sorted
    by bound (the module docstring has its rules)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if buckets[-1][0] != math.inf:
        return math.nan
    merged: list[list[float]] = []
    for upper, count in buckets:
        if merged and merged[-1][0] == upper:
            merged[-1][1] += count
        else:
            merged.append([upper, count])
    top = merged[0][1]  # ensureMonotonic: NaN compares false both ways
    for b in merged[1:]:
        if b[1] > top:
            top = b[1]
        elif b[1] < top:
            b[1] = top
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    lo, hi = 0, len(merged) - 1  # Go's sort.Search over all but the +Inf bucket
    while lo < hi:
        h = (lo + hi) // 2
        if merged[h][1] >= rank:
            hi = h
        else:
            lo = h + 1
    k = lo
    if k == len(merged) - 1:
        return merged[-2][0]
    if k == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[k][0], merged[k][1]
    if k > 0:
        start = merged[k - 1][0]
        count -= merged[k - 1][1]
        rank -= merged[k - 1][1]
    return start + (end - start) * _divide(rank, count)


def _divide(a: float, b: float) -> float:
    """IEEE division, as Go's: x/0 is ±Inf or NaN (Python raises; the interpolation in a
    bucket of no observations, ``histogram_quantile(0, …)`` over an empty lowest bucket,
    reaches it)."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)
