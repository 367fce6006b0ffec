"""Binary operators: arithmetic, comparisons (with and without ``bool``), the set
operators ``and``/``or``/``unless``, and vector matching (``on``/``ignoring``,
``group_left``/``group_right``), as Prometheus' engine defines them.

Matching is decided per evaluation time (a series pairs with whichever partner is present
then). Arithmetic and ``bool`` comparisons drop ``__name__``; a filtering comparison keeps
the left side's value (for a ``scalar OP vector`` comparison, the vector's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vigil.query.promql.errors import PromQLError
from vigil.query.promql.names import METRIC_NAME, Labels
from vigil.query.promql.values import Bools, Floats, Scalar, Vector

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}
# The operators whose result loses __name__ (Prometheus 2.42's shouldDropMetricName: not
# atan2, which keeps it).
DROPS_NAME = {"+", "-", "*", "/", "%", "^"}


def _mod(a: Floats, b: Floats) -> Floats:
    return np.fmod(a, b)  # Go's math.Mod: the result has the sign of the dividend


ARITH: dict[str, Callable[[Floats, Floats], Floats]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": _mod,
    "^": np.power,
    "atan2": np.arctan2,
}
CMP: dict[str, Callable[[Floats, Floats], Bools]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


@dataclass(frozen=True, slots=True)
class Matching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool
    labels: Sequence[str]
    include: Sequence[str]
    return_bool: bool


def apply(op: str, a: Floats, b: Floats) -> tuple[Floats, Bools]:
    """Values and keep-mask of ``a OP b`` elementwise (keep is all-true for arithmetic)."""
    with np.errstate(all="ignore"):
        if op in ARITH:
            res = ARITH[op](a, b)
            return res, np.ones(np.shape(res), dtype=bool)
        keep = CMP[op](a, b)
        return np.broadcast_to(a, keep.shape).astype(np.float64), keep


def drop_name(labels: Labels) -> Labels:
    return tuple((k, v) for k, v in labels if k != METRIC_NAME)


def scalar_scalar(op: str, a: Scalar, b: Scalar, return_bool: bool) -> Scalar:
    res, keep = apply(op, a.values, b.values)
    if op in COMPARISONS:
        if not return_bool:
            raise PromQLError("comparisons between scalars must use BOOL modifier")
        res = keep.astype(np.float64)
    return Scalar(res)


def vector_scalar(op: str, vec: Vector, s: Scalar, scalar_left: bool, return_bool: bool) -> Vector:
    a, b = (s.values[None, :], vec.values) if scalar_left else (vec.values, s.values[None, :])
    res, keep = apply(op, a, b)
    present = vec.present.copy()
    labels = vec.labels
    if op in COMPARISONS:
        res = vec.values.copy()
        if return_bool:
            res = keep.astype(np.float64)
        else:
            present &= keep
    if op in DROPS_NAME or return_bool:
        labels = [drop_name(lbl) for lbl in labels]
    return Vector(list(labels), np.broadcast_to(res, vec.values.shape).copy(), present)


def signature(labels: Labels, m: Matching) -> Labels:
    if m.on:
        keep = set(m.labels)
        return tuple((k, v) for k, v in labels if k in keep)
    drop = {*m.labels, METRIC_NAME}
    return tuple((k, v) for k, v in labels if k not in drop)


def set_op(op: str, lhs: Vector, rhs: Vector, m: Matching) -> Vector:
    t = lhs.values.shape[1]
    rsig: dict[Labels, Bools] = {}
    for lbl, pres in zip(rhs.labels, rhs.present, strict=True):
        sig = signature(lbl, m)
        rsig[sig] = rsig.get(sig, np.zeros(t, dtype=bool)) | pres
    if op == "and":
        present = np.array(
            [
                p & rsig.get(signature(lbl, m), False)
                for lbl, p in zip(lhs.labels, lhs.present, strict=True)
            ]
        ).reshape(lhs.present.shape)
        return Vector(lhs.labels, lhs.values, present)
    if op == "unless":
        present = np.array(
            [
                p & ~rsig.get(signature(lbl, m), np.zeros(t, dtype=bool))
                for lbl, p in zip(lhs.labels, lhs.present, strict=True)
            ]
        ).reshape(lhs.present.shape)
        return Vector(lhs.labels, lhs.values, present)
    # or: every left series, and right series at times no left series of their signature is
    lsig: dict[Labels, Bools] = {}
    for lbl, pres in zip(lhs.labels, lhs.present, strict=True):
        sig = signature(lbl, m)
        lsig[sig] = lsig.get(sig, np.zeros(t, dtype=bool)) | pres
    rpresent = np.array(
        [
            p & ~lsig.get(signature(lbl, m), np.zeros(t, dtype=bool))
            for lbl, p in zip(rhs.labels, rhs.present, strict=True)
        ]
    ).reshape(rhs.present.shape)
    return Vector(
        [*lhs.labels, *rhs.labels],
        np.vstack([lhs.values, rhs.values]),
        np.vstack([lhs.present, rpresent]),
    )


def vector_vector(op: str, lhs: Vector, rhs: Vector, m: Matching) -> Vector:
    if op in SET_OPS:
        return set_op(op, lhs, rhs, m)
    t = lhs.values.shape[1]
    swapped = m.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    # The "one" side: at most one series per signature at any time.
    one_by_sig: dict[Labels, list[int]] = {}
    for i, lbl in enumerate(one.labels):
        one_by_sig.setdefault(signature(lbl, m), []).append(i)
    for sig, idx in one_by_sig.items():
        if len(idx) > 1 and (one.present[idx].sum(axis=0) > 1).any():
            side = "left" if swapped else "right"
            raise PromQLError(
                f"found duplicate series for the match group {dict(sig)} on the {side} hand-side"
                " of the operation; many-to-many matching not allowed: matching labels must be"
                " unique on one side"
            )
    drop = op in DROPS_NAME or m.return_bool
    out: dict[Labels, tuple[Floats, Bools]] = {}
    for i, lbl in enumerate(many.labels):
        partners = one_by_sig.get(signature(lbl, m))
        if not partners:
            continue
        for j in partners:
            both = many.present[i] & one.present[j]
            if not both.any():
                continue
            vl, vr = (one.values[j], many.values[i]) if swapped else (many.values[i], one.values[j])
            res, keep = apply(op, vl, vr)
            if op in COMPARISONS and m.return_bool:
                res, keep = keep.astype(np.float64), np.ones(t, dtype=bool)
            pres = both & keep
            result = _result_labels(lbl, one.labels[j], m, drop)
            if result in out:
                prev_v, prev_p = out[result]
                if (prev_p & pres).any():
                    raise PromQLError(
                        "multiple matches for labels: many-to-one matching must be explicit"
                        " (group_left/group_right)"
                        if m.card == "one-to-one"
                        else "multiple matches for labels: grouping labels must ensure unique"
                        " matches"
                    )
                out[result] = (np.where(pres, res, prev_v), prev_p | pres)
            else:
                out[result] = (np.where(pres, res, 0.0), pres)
    if not out:
        return Vector.empty(t)
    return Vector(
        list(out),
        np.vstack([v for v, _ in out.values()]),
        np.vstack([p for _, p in out.values()]),
    )


def _result_labels(many: Labels, one: Labels, m: Matching, drop: bool) -> Labels:
    lbl = dict(many)
    if drop:
        lbl.pop(METRIC_NAME, None)
    if m.card == "one-to-one":
        if m.on:
            lbl = {k: v for k, v in lbl.items() if k in set(m.labels)}
        else:
            for k in m.labels:
                lbl.pop(k, None)
    one_d = dict(one)
    for k in m.include:
        if one_d.get(k, ""):
            lbl[k] = one_d[k]
        else:
            lbl.pop(k, None)
    return tuple(sorted(lbl.items()))
