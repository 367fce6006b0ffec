"""Aggregation operators (``sum by (job) (…)``, ``topk``, ``quantile``, ``count_values`` …).

Series are grouped by their labels reduced as ``by``/``without`` say (``without`` also
drops ``__name__``); each group gives one series whose value at an evaluation time
aggregates the members present then (absent where none is). ``topk``/``bottomk`` keep
the chosen members' own labels; ``count_values`` makes one series per distinct value.
Statistics are population ones (``stddev``, ``stdvar``), as Prometheus'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vigil.query.promql.errors import PromQLError
from vigil.query.promql.format import format_float
from vigil.query.promql.names import METRIC_NAME, Labels
from vigil.query.promql.rangefuncs import quantile
from vigil.query.promql.values import Floats, Vector


def group_labels(labels: Labels, names: Sequence[str] | None, without: bool) -> Labels:
    if names is None:
        return ()
    if without:
        drop = {*names, METRIC_NAME}
        return tuple((k, v) for k, v in labels if k not in drop)
    keep = set(names)
    return tuple((k, v) for k, v in labels if k in keep)


def _groups(vec: Vector, names: Sequence[str] | None, without: bool) -> dict[Labels, list[int]]:
    groups: dict[Labels, list[int]] = {}
    for i, lbl in enumerate(vec.labels):
        groups.setdefault(group_labels(lbl, names, without), []).append(i)
    return groups


def aggregate(
    op: str,
    vec: Vector,
    names: Sequence[str] | None,
    without: bool,
    param: Floats | str | None,
) -> Vector:
    t = vec.values.shape[1]
    if op in ("topk", "bottomk"):
        assert isinstance(param, np.ndarray)
        return _topk(vec, names, without, param, op == "topk")
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vec, names, without, param)
    out_labels: list[Labels] = []
    rows: list[Floats] = []
    present: list[np.ndarray] = []
    for key, members in _groups(vec, names, without).items():
        vals = vec.values[members]
        mask = vec.present[members]
        count = mask.sum(axis=0)
        has = count > 0
        if not has.any():
            continue
        masked = np.where(mask, vals, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if op == "sum":
                res = masked.sum(axis=0)
            elif op == "count":
                res = count.astype(np.float64)
            elif op == "group":
                res = np.ones(t)
            elif op == "avg":
                res = masked.sum(axis=0) / np.maximum(count, 1)
            elif op in ("min", "max"):
                res = _minmax(vals, mask, op == "min")
            elif op in ("stddev", "stdvar"):
                mean = masked.sum(axis=0) / np.maximum(count, 1)
                dev = np.where(mask, vals - mean, 0.0)
                res = (dev * dev).sum(axis=0) / np.maximum(count, 1)
                if op == "stddev":
                    res = np.sqrt(res)
            elif op == "quantile":
                assert isinstance(param, np.ndarray)
                res = np.array(
                    [
                        quantile(float(param[j]), vals[mask[:, j], j]) if has[j] else 0.0
                        for j in range(t)
                    ]
                )
            else:
                raise PromQLError(f"aggregation {op!r} is not supported")
        out_labels.append(key)
        rows.append(res)
        present.append(has)
    if not rows:
        return Vector.empty(t)
    return Vector(out_labels, np.vstack(rows), np.vstack(present))


def _minmax(vals: Floats, mask: np.ndarray, is_min: bool) -> Floats:
    # A NaN is replaced by any number: NaN only when every present value is NaN.
    fill = math.inf if is_min else -math.inf
    usable = mask & ~np.isnan(vals)
    picked = np.where(usable, vals, fill)
    res = picked.min(axis=0) if is_min else picked.max(axis=0)
    return np.where(usable.any(axis=0), res, math.nan)


def _topk(vec: Vector, names: Sequence[str] | None, without: bool, k: Floats, top: bool) -> Vector:
    present = np.zeros_like(vec.present)
    for members in _groups(vec, names, without).values():
        vals = vec.values[members]
        mask = vec.present[members]
        # Order: present numbers (largest first for topk), then NaNs, then absent.
        klass = np.where(mask, np.where(np.isnan(vals), 1, 0), 2)
        key = np.where(np.isnan(vals), 0.0, -vals if top else vals)
        order = np.lexsort((key, klass), axis=0)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(len(members))[:, None], axis=0)
        kk = np.where(np.isnan(k), 0, np.clip(k, 0, len(members))).astype(np.int64)
        present[members] = mask & (ranks < kk[None, :])
    keep = np.asarray(present.any(axis=1))
    return Vector(
        [lbl for lbl, kp in zip(vec.labels, keep, strict=True) if kp],
        vec.values[keep],
        present[keep],
    )


def _count_values(vec: Vector, names: Sequence[str] | None, without: bool, label: str) -> Vector:
    t = vec.values.shape[1]
    counts: dict[Labels, Floats] = {}
    for i, lbl in enumerate(vec.labels):
        base = dict(group_labels(lbl, names, without))
        for j in np.flatnonzero(vec.present[i]):
            base[label] = format_float(float(vec.values[i, j]))
            key = tuple(sorted(base.items()))
            counts.setdefault(key, np.zeros(t))[j] += 1
    if not counts:
        return Vector.empty(t)
    rows = np.vstack(list(counts.values()))
    return Vector(list(counts), rows, rows > 0)
