"""Functions over instant vectors and scalars (``abs``, ``clamp``, ``histogram_quantile``,
``label_replace``, the date functions …), as Prometheus defines them.

Each takes the evaluated arguments and the evaluation times (ms) and returns a value;
most work on the whole (series × times) array at once and drop ``__name__``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import re2

from vigil.query.promql.binary import drop_name
from vigil.query.promql.errors import PromQLError
from vigil.query.promql.names import Labels, get
from vigil.query.promql.quantiles import histogram_quantile
from vigil.query.promql.values import Floats, Ints, Scalar, String, Value, Vector

_Elementwise = Callable[[Floats], Floats]


def _round(x: Floats) -> Floats:
    return np.floor(x + 0.5)  # Go's math.Floor(v*10/to + 0.5): halves round up


ELEMENTWISE: dict[str, _Elementwise] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sgn": np.sign,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": np.degrees,
    "rad": np.radians,
}


def _map(vec: Vector, f: Callable[[Floats], Floats]) -> Vector:
    with np.errstate(all="ignore"):
        values = f(vec.values)
    return Vector([drop_name(lbl) for lbl in vec.labels], values, vec.present.copy())


def _scalar_arg(v: Value) -> Floats:
    assert isinstance(v, Scalar)
    return v.values


def _string_arg(v: Value) -> str:
    assert isinstance(v, String)
    return v.value


def _date(part: str, args: list[Value], times: Ints) -> Vector:
    if args:
        vec = args[0]
        assert isinstance(vec, Vector)
    else:
        vec = Vector(
            [()], (times / 1000).astype(np.float64)[None, :], np.ones((1, len(times)), dtype=bool)
        )

    def f(x: Floats) -> Floats:
        out = np.full(x.shape, math.nan)
        flat_in, flat_out = x.reshape(-1), out.reshape(-1)
        for i, s in enumerate(flat_in):
            if math.isfinite(s):
                d = datetime.fromtimestamp(int(s), UTC)
                flat_out[i] = {
                    "minute": d.minute,
                    "hour": d.hour,
                    "day_of_month": d.day,
                    "day_of_week": (d.weekday() + 1) % 7,
                    "day_of_year": d.timetuple().tm_yday,
                    "month": d.month,
                    "year": d.year,
                    "days_in_month": _days_in_month(d),
                }[part]
        return out

    return _map(vec, f)


def _days_in_month(d: datetime) -> int:
    nxt = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
    return (nxt - datetime(d.year, d.month, 1, tzinfo=UTC)).days


DATE_FUNCTIONS = {
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "month",
    "year",
    "days_in_month",
}


def call(name: str, args: list[Value], times: Ints) -> Value:
    t = len(times)
    if name in ELEMENTWISE:
        vec = args[0]
        assert isinstance(vec, Vector)
        return _map(vec, ELEMENTWISE[name])
    if name in DATE_FUNCTIONS:
        return _date(name, args, times)
    if name == "time":
        return Scalar((times / 1000).astype(np.float64))
    if name == "pi":
        return Scalar(np.full(t, math.pi))
    if not args:
        raise PromQLError(f"function {name!r} needs an argument")
    if name == "histogram_quantile":
        return histogram_quantile(_scalar_arg(args[0]), args[1])
    vec = args[0]
    if name == "scalar":
        assert isinstance(vec, Vector)
        count = vec.present.sum(axis=0)
        vals = np.where(vec.present, vec.values, 0.0).sum(axis=0)
        return Scalar(np.where(count == 1, vals, math.nan))
    if name == "vector":
        s = _scalar_arg(args[0])
        return Vector([()], s[None, :].copy(), np.ones((1, t), dtype=bool))
    assert isinstance(vec, Vector)
    if name == "round":
        to = _scalar_arg(args[1]) if len(args) > 1 else np.ones(t)
        return _map(vec, lambda x: _round(x / to) * to)
    if name == "clamp":
        lo, hi = _scalar_arg(args[1]), _scalar_arg(args[2])
        out = _map(vec, lambda x: np.maximum(lo, np.minimum(hi, x)))
        out.present &= ~(lo > hi)[None, :]
        return out
    if name == "clamp_min":
        lo = _scalar_arg(args[1])
        return _map(vec, lambda x: np.maximum(lo, x))
    if name == "clamp_max":
        hi = _scalar_arg(args[1])
        return _map(vec, lambda x: np.minimum(hi, x))
    if name in ("sort", "sort_desc"):
        return _sort(vec, name == "sort_desc")
    if name == "label_replace":
        return label_replace(vec, *(_string_arg(a) for a in args[1:5]))
    if name == "label_join":
        return label_join(
            vec, _string_arg(args[1]), _string_arg(args[2]), [_string_arg(a) for a in args[3:]]
        )
    if name == "absent":
        raise AssertionError("absent is evaluated by the evaluator (it needs the selector)")
    raise PromQLError(f"function {name!r} is not supported by vigil")


def _sort(vec: Vector, desc: bool) -> Vector:
    # Orders an instant query's result (a range result is sorted by labels anyway); NaN last.
    if vec.values.shape[1] != 1 or len(vec) < 2:
        return vec
    col = vec.values[:, 0]
    key = np.where(np.isnan(col), np.inf, -col if desc else col)
    order = np.argsort(key, kind="stable")
    return Vector([vec.labels[i] for i in order], vec.values[order], vec.present[order])


_LABEL = re2.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def label_replace(vec: Vector, dst: str, repl: str, src: str, regex: str) -> Vector:
    try:
        rx = re2.compile(f"^(?:{regex})$")
    except re2.error as exc:
        raise PromQLError(
            f'invalid regular expression in label_replace(): "{regex}": {exc}'
        ) from None
    if not _LABEL.match(dst):
        raise PromQLError(f'invalid destination label name in label_replace(): "{dst}"')
    out = []
    for lbl in vec.labels:
        m = rx.match(get(lbl, src))
        if m is None:
            out.append(lbl)
            continue
        value = _expand(m, repl)
        d = dict(lbl)
        if value:
            d[dst] = value
        else:
            d.pop(dst, None)
        out.append(tuple(sorted(d.items())))
    return _dedup_check(Vector(out, vec.values, vec.present))


def _expand(m: Any, repl: str) -> str:
    # Go's Regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar.
    import re

    def sub(mm: re.Match[str]) -> str:
        if mm.group(0) == "$$":
            return "$"
        key = mm.group(1) or mm.group(2)
        try:
            g = m.group(int(key)) if key.isdigit() else m.group(key)
        except (IndexError, KeyError, re2.error):
            return ""
        return g or ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", sub, repl)


def label_join(vec: Vector, dst: str, sep: str, srcs: list[str]) -> Vector:
    out = []
    for lbl in vec.labels:
        d = dict(lbl)
        value = sep.join(get(lbl, s) for s in srcs)
        if value:
            d[dst] = value
        else:
            d.pop(dst, None)
        out.append(tuple(sorted(d.items())))
    return _dedup_check(Vector(out, vec.values, vec.present))


def _dedup_check(vec: Vector) -> Vector:
    seen: dict[Labels, int] = {}
    for i, lbl in enumerate(vec.labels):
        if lbl in seen and (vec.present[seen[lbl]] & vec.present[i]).any():
            raise PromQLError("vector cannot contain metrics with the same labelset")
        seen.setdefault(lbl, i)
    return vec
