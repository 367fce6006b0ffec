"""The evaluator: a parsed PromQL expression over an array of evaluation times.

Pure: the store is reached only through ``fetch`` (matchers and a time range in, series
with their samples out), passed in, as is everything time-related (the query's start and
end for ``@ start()``/``@ end()``, the lookback). An instant query evaluates at one time, a
range query at its steps, a subquery evaluates its inner expression at its own steps
(multiples of its step in absolute time, as Prometheus aligns them) — the same code.

Semantics kept from Prometheus 2.x (the version the differential suite runs against):
an instant selector at time t takes each series' newest sample in [t - lookback, t] unless
that sample is a staleness marker; a range selector takes the samples in
[t - range, t] (both ends included), markers dropped; ``offset`` and ``@`` move t.
Every result's size (series × evaluation times) counts against the sample limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import promql_parser as pp

from vigil.query.promql import binary, functions
from vigil.query.promql.aggregate import aggregate
from vigil.query.promql.binary import Matching, drop_name
from vigil.query.promql.errors import BadData, PromQLError, TooManySamples
from vigil.query.promql.names import METRIC_NAME, Labels
from vigil.query.promql.parse import enum_name
from vigil.query.promql.rangefuncs import RANGE_FUNCTIONS, SCALAR_AFTER, SCALAR_FIRST
from vigil.query.promql.sql import LabelMatcher, selector_matchers
from vigil.query.promql.values import (
    Ints,
    Matrix,
    Samples,
    Scalar,
    String,
    Value,
    Vector,
    is_stale,
)

Fetch = Callable[[Sequence[LabelMatcher], int, int], list[Samples]]

DEFAULT_LOOKBACK_MS = 5 * 60 * 1000
DEFAULT_SUBQUERY_STEP_MS = 60 * 1000  # Prometheus' default evaluation_interval


def ms(d: timedelta | None) -> int:
    return 0 if d is None else int(d / timedelta(milliseconds=1))


@dataclass
class Evaluator:
    fetch: Fetch
    start_ms: int
    end_ms: int
    lookback_ms: int = DEFAULT_LOOKBACK_MS
    max_samples: int = 50_000_000
    subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS
    check: Callable[[], None] = field(default=lambda: None)  # raises when out of time

    def eval(self, node: pp.Expr, times: Ints) -> Value:
        self.check()
        value = self._eval(node, times)
        if isinstance(value, Vector) and value.values.size > self.max_samples:
            raise TooManySamples(self.max_samples)
        return value

    def _eval(self, node: pp.Expr, times: Ints) -> Value:
        t = len(times)
        if isinstance(node, pp.NumberLiteral):
            return Scalar(np.full(t, float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return String(node.val)
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr, times)
        if isinstance(node, pp.UnaryExpr):
            inner = self.eval(node.expr, times)
            if isinstance(inner, Scalar):
                return Scalar(-inner.values)
            assert isinstance(inner, Vector)
            return Vector([drop_name(lbl) for lbl in inner.labels], -inner.values, inner.present)
        if isinstance(node, pp.VectorSelector):
            return self.vector_selector(node, times)
        if isinstance(node, pp.MatrixSelector):
            return self.matrix_selector(node, times)
        if isinstance(node, pp.SubqueryExpr):
            return self.subquery(node, times)
        if isinstance(node, pp.Call):
            return self.call(node, times)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregation(node, times)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node, times)
        raise PromQLError(f"unsupported expression {node}")

    # -- selectors ---------------------------------------------------------------------

    def _refs(self, at: pp.AtModifier | None, offset: timedelta | None, times: Ints) -> Ints:
        base = times
        if at is not None:
            kind = enum_name(at.type)
            fixed = (
                self.start_ms
                if kind == "Start"
                else self.end_ms
                if kind == "End"
                else round(at.at.timestamp() * 1000)  # type: ignore[union-attr]
            )
            base = np.full(len(times), fixed, dtype=np.int64)
        return base - ms(offset)

    def _select(self, vs: pp.VectorSelector, start: int, end: int) -> list[Samples]:
        return self.fetch(selector_matchers(vs), start, end)

    def vector_selector(
        self, vs: pp.VectorSelector, times: Ints, with_times: bool = False
    ) -> Vector:
        refs = self._refs(vs.at, vs.offset, times)
        t = len(times)
        series = self._select(vs, int(refs.min()) - self.lookback_ms, int(refs.max()))
        labels: list[Labels] = []
        values, present = np.zeros((len(series), t)), np.zeros((len(series), t), dtype=bool)
        for i, s in enumerate(series):
            idx = np.searchsorted(s.times, refs, side="right") - 1
            ok = idx >= 0
            safe = np.where(ok, idx, 0)
            ok &= s.times[safe] >= refs - self.lookback_ms
            ok &= ~is_stale(s.values[safe])
            values[i] = s.times[safe] / 1000 if with_times else s.values[safe]
            present[i] = ok
            labels.append(s.labels)
        return Vector(labels, values, present)

    def matrix_selector(self, node: pp.MatrixSelector, times: Ints) -> Matrix:
        vs = node.vector_selector
        refs = self._refs(vs.at, vs.offset, times)
        rng = ms(node.range)
        series = self._select(vs, int(refs.min()) - rng, int(refs.max()))
        out = []
        for s in series:
            fresh = ~is_stale(s.values)
            out.append(Samples(s.labels, s.times[fresh], s.values[fresh]))
        return Matrix(out, refs, rng)

    def subquery(self, node: pp.SubqueryExpr, times: Ints) -> Matrix:
        refs = self._refs(node.at, node.offset, times)
        rng = ms(node.range)
        step = ms(node.step) or self.subquery_step_ms
        first = int(refs.min()) - rng
        start = (first // step) * step
        if start < first:
            start += step
        inner_times = np.arange(start, int(refs.max()) + 1, step, dtype=np.int64)
        if len(inner_times) * max(1, len(times)) > self.max_samples * 10:
            raise TooManySamples(self.max_samples)
        inner = self.eval(node.expr, inner_times)
        if isinstance(inner, Scalar):
            raise BadData("subquery is only allowed on instant vector")
        assert isinstance(inner, Vector)
        out = []
        for i, lbl in enumerate(inner.labels):
            keep = inner.present[i]
            out.append(Samples(lbl, inner_times[keep], inner.values[i][keep]))
        return Matrix(out, refs, rng)

    # -- functions ---------------------------------------------------------------------

    def call(self, node: pp.Call, times: Ints) -> Value:
        name = node.func.name
        args = list(node.args)
        if name in RANGE_FUNCTIONS:
            return self.range_function(name, args, times)
        if name in ("absent", "absent_over_time"):
            return self.absent(name, args[0], times)
        if name == "timestamp":
            arg = _unparen(args[0])
            if isinstance(arg, pp.VectorSelector):
                vec = self.vector_selector(arg, times, with_times=True)
                return Vector([drop_name(lbl) for lbl in vec.labels], vec.values, vec.present)
            inner = self.eval(arg, times)
            assert isinstance(inner, Vector)
            stamp = np.broadcast_to((times / 1000)[None, :], inner.values.shape).copy()
            return Vector([drop_name(lbl) for lbl in inner.labels], stamp, inner.present)
        if name in ("holt_winters",):
            raise PromQLError(f"function {name!r} is not supported by vigil")
        values = [self.eval(a, times) for a in args]
        return functions.call(name, values, times)

    def range_function(self, name: str, args: list[pp.Expr], times: Ints) -> Vector:
        scalar = None
        if name in SCALAR_FIRST:
            s = self.eval(args[0], times)
            assert isinstance(s, Scalar)
            scalar, args = s.values, args[1:]
        elif name in SCALAR_AFTER:
            s = self.eval(args[1], times)
            assert isinstance(s, Scalar)
            scalar = s.values
        m = self.eval(_unparen(args[0]), times)
        assert isinstance(m, Matrix)
        fn = RANGE_FUNCTIONS[name]
        t = len(times)
        labels: list[Labels] = []
        rows, present = [], []
        lows = m.ends - m.range_ms
        for series in m.series:
            if len(series.times) == 0:
                continue
            lo = np.searchsorted(series.times, lows, side="left")
            hi = np.searchsorted(series.times, m.ends, side="right")
            vals, ok = fn(series.times, series.values, lo, hi, m.ends, m.range_ms, scalar)
            if ok.any():
                lbl = series.labels
                labels.append(lbl if name == "last_over_time" else drop_name(lbl))
                rows.append(vals)
                present.append(ok)
        if not rows:
            return Vector.empty(t)
        out = Vector(labels, np.vstack(rows), np.vstack(present))
        return functions._dedup_check(out)

    def absent(self, name: str, arg: pp.Expr, times: Ints) -> Vector:
        inner = self.eval(arg, times)
        t = len(times)
        if isinstance(inner, Matrix):
            have = np.zeros(t, dtype=bool)
            lows = inner.ends - inner.range_ms
            for s in inner.series:
                lo = np.searchsorted(s.times, lows, side="left")
                hi = np.searchsorted(s.times, inner.ends, side="right")
                have |= hi > lo
        else:
            assert isinstance(inner, Vector)
            have = np.asarray(inner.present.any(axis=0))
        labels: dict[str, str] = {}
        sel = _unparen(arg)
        if isinstance(sel, pp.MatrixSelector):
            sel = sel.vector_selector
        if isinstance(sel, pp.VectorSelector):
            for m in selector_matchers(sel):
                if m.op == "=" and m.name != METRIC_NAME:
                    labels[m.name] = m.value
        return Vector([tuple(sorted(labels.items()))], np.ones((1, t)), ~have[None, :])

    # -- aggregations and operators ----------------------------------------------------

    def aggregation(self, node: pp.AggregateExpr, times: Ints) -> Vector:
        op = str(node.op)
        param: np.ndarray | str | None = None
        if node.param is not None:
            p = self.eval(node.param, times)
            param = p.value if isinstance(p, String) else p.values  # type: ignore[union-attr]
        inner = self.eval(node.expr, times)
        if not isinstance(inner, Vector):
            raise BadData(
                "expected type instant vector in aggregation expression, got"
                f" {type(inner).__name__.lower()}"
            )
        names: list[str] | None = None
        without = False
        if node.modifier is not None:
            names = list(node.modifier.labels)
            without = enum_name(node.modifier.type) == "Without"
        elif op in ("topk", "bottomk"):
            names = []
        if names is None:
            names = []
        return aggregate(op, inner, names, without, param)

    def binary(self, node: pp.BinaryExpr, times: Ints) -> Value:
        op = str(node.op).lower()
        mod = node.modifier
        return_bool = bool(mod and mod.return_bool)
        lhs = self.eval(node.lhs, times)
        rhs = self.eval(node.rhs, times)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return binary.scalar_scalar(op, lhs, rhs, return_bool)
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return binary.vector_scalar(op, lhs, rhs, False, return_bool)
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return binary.vector_scalar(op, rhs, lhs, True, return_bool)
        assert isinstance(lhs, Vector)
        assert isinstance(rhs, Vector)
        card = {
            "OneToOne": "one-to-one",
            "ManyToOne": "many-to-one",
            "OneToMany": "one-to-many",
            "ManyToMany": "many-to-many",
        }[enum_name(mod.card) if mod else ("ManyToMany" if op in binary.SET_OPS else "OneToOne")]
        matching = mod.matching if mod else None
        m = Matching(
            card=card,
            on=bool(matching and enum_name(matching.type) == "Include"),
            labels=list(matching.labels) if matching else [],
            include=list(mod.group_labels or []) if mod else [],
            return_bool=return_bool,
        )
        return binary.vector_vector(op, lhs, rhs, m)


def _unparen(node: pp.Expr) -> pp.Expr:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node
