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
from vigil.query.promql.names import METRIC_NAME, get
from vigil.query.promql.parse import enum_name
from vigil.query.promql.pushdown import FUNCTIONS, OPS, WindowAggregate, aggregate_samples
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
# ``op by (…) (rate(x[r]))`` answered where the samples are (``pushdown``); optional.
Reduce = Callable[[Sequence[LabelMatcher], WindowAggregate], Vector | None]

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
    reduce: Reduce | None = None

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
            if kind == "Start":
                fixed = self.start_ms
            elif kind == "End":
                fixed = self.end_ms
            else:
                try:  # the parser keeps `@ 1e27`, then cannot hand it over as a time
                    fixed = round(at.at.timestamp() * 1000)  # type: ignore[union-attr]
                except (ValueError, OverflowError):
                    raise BadData("the @ modifier's time is out of range") from None
                if abs(fixed) > 2**53:
                    raise BadData("the @ modifier's time is out of range")
            base = np.full(len(times), fixed, dtype=np.int64)
        return base - ms(offset)

    def _select(self, vs: pp.VectorSelector, start: int, end: int) -> list[Samples]:
        return self.fetch(selector_matchers(vs), start, end)

    def vector_selector(
        self, vs: pp.VectorSelector, times: Ints, with_times: bool = False
    ) -> Vector:
        refs = self._refs(vs.at, vs.offset, times)
        t = len(times)
        series = [
            s
            for s in self._select(vs, int(refs.min()) - self.lookback_ms, int(refs.max()))
            if len(s.times)
        ]
        if not series:
            return Vector.empty(t)
        # The newest sample in [ref - lookback, ref] of every series at every time: the
        # last sample of the window, all series at once.
        flat_t, lo, hi = windows(series, refs, self.lookback_ms)
        flat_v = np.concatenate([s.values for s in series])
        last = np.maximum(hi - 1, 0)
        present = (hi > lo) & ~is_stale(flat_v[last])
        values = flat_t[last] / 1000 if with_times else flat_v[last]
        return Vector([s.labels for s in series], values, present)

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
        # Counted before the grid exists: `x[1y:1ms]` would be 31.5 G steps (fuzz found it).
        count = max(0, (int(refs.max()) - start) // step + 1)
        if count * max(1, len(times)) > self.max_samples * 10:
            raise TooManySamples(self.max_samples)
        inner_times = np.arange(start, int(refs.max()) + 1, step, dtype=np.int64)
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
        values = [self.eval(a, times) for a in args]
        return functions.call(name, values, times)

    def range_function(self, name: str, args: list[pp.Expr], times: Ints) -> Vector:
        scalar = None
        if name in SCALAR_FIRST:
            s = self.eval(args[0], times)
            assert isinstance(s, Scalar)
            scalar, args = s.values, args[1:]
        elif name in SCALAR_AFTER:
            scalars = [self.eval(a, times) for a in args[1:]]
            assert all(isinstance(s, Scalar) for s in scalars)
            scalar = np.vstack([s.values for s in scalars])  # type: ignore[union-attr]
            if name in ("holt_winters", "double_exponential_smoothing"):
                _smoothing(scalar)
        m = self.eval(_unparen(args[0]), times)
        assert isinstance(m, Matrix)
        return self._over_windows(name, m, scalar, times)

    def _over_windows(self, name: str, m: Matrix, scalar: np.ndarray | None, times: Ints) -> Vector:
        fn = RANGE_FUNCTIONS[name]
        t = len(times)
        series = [s for s in m.series if len(s.times)]
        if not series:
            return Vector.empty(t)
        # All series at once: their samples end to end, each window as global index
        # bounds (lo, hi) into them, one call of the function over every (series, time).
        flat_t, lo, hi = windows(series, m.ends, m.range_ms)
        flat_v = np.concatenate([s.values for s in series])
        ends = np.tile(m.ends, len(series))
        arg = None if scalar is None else np.tile(scalar, len(series))
        if arg is not None and arg.ndim == 2 and len(arg) == 1:
            arg = arg[0]
        vals, ok = fn(flat_t, flat_v, lo.reshape(-1), hi.reshape(-1), ends, m.range_ms, arg)
        vals, ok = vals.reshape(len(series), t), ok.reshape(len(series), t)
        keep = np.asarray(ok.any(axis=1))
        labels = [
            s.labels if name == "last_over_time" else drop_name(s.labels)
            for s, k in zip(series, keep, strict=True)
            if k
        ]
        out = Vector(labels, vals[keep], ok[keep])
        if len({get(s.labels, METRIC_NAME) for s in series}) < 2:
            return out  # one metric: the labels without __name__ stay distinct
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
        inner: Value | None = None
        shape = self._pushdown(node, times)
        if shape is not None:
            pushed, inner = self._windows_folded(*shape, times)
            if pushed is not None:
                return pushed
        op = str(node.op)
        param: np.ndarray | str | None = None
        if node.param is not None:
            p = self.eval(node.param, times)
            param = p.value if isinstance(p, String) else p.values  # type: ignore[union-attr]
        if inner is None:
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

    def _windows_folded(
        self,
        matchers: Sequence[LabelMatcher],
        spec: WindowAggregate,
        arg: pp.MatrixSelector,
        times: Ints,
    ) -> tuple[Vector | None, Vector | None]:
        """``op by (…) (fn(x[r]))`` by ``reduce`` (in the store), or when it declines by
        the same kernel over the samples read here (``pushdown.aggregate_samples``: no
        Vector of every series' windows); (None, the ``fn`` Vector) when the general
        path must aggregate: several metric names (their series could share a label set
        once ``__name__`` is dropped, an error the general path raises), over the sample
        limit, or no kernel."""
        assert self.reduce is not None
        pushed = self.reduce(matchers, spec)
        if pushed is not None:
            return pushed, None
        m = self.matrix_selector(arg, times)
        series = [s for s in m.series if len(s.times)]
        one_name = len({get(s.labels, METRIC_NAME) for s in series}) < 2
        if one_name and len(series) * len(times) <= self.max_samples:
            folded = aggregate_samples(series, spec)
            if folded is not None:
                return folded, None
        inner = self._over_windows(spec.fn, m, None, times)
        if inner.values.size > self.max_samples:
            raise TooManySamples(self.max_samples)
        return None, inner

    def _pushdown(
        self, node: pp.AggregateExpr, times: Ints
    ) -> tuple[Sequence[LabelMatcher], WindowAggregate, pp.MatrixSelector] | None:
        """The matchers, the shape and the range selector when the aggregation is one
        ``reduce`` computes (``pushdown``'s docstring): one metric name, no ``@``, evenly
        spaced times, ``reduce`` given. None: the general path answers."""
        op = str(node.op)
        if self.reduce is None or op not in OPS or node.param is not None:
            return None
        call = _unparen(node.expr)
        if not isinstance(call, pp.Call) or call.func.name not in FUNCTIONS:
            return None
        arg = _unparen(call.args[0])
        if not isinstance(arg, pp.MatrixSelector):
            return None
        vs = arg.vector_selector
        if vs.at is not None:
            return None
        matchers = selector_matchers(vs)
        if not any(m.name == METRIC_NAME and m.op == "=" for m in matchers):
            return None
        step = int(times[1] - times[0]) if len(times) > 1 else 1
        if step <= 0 or (len(times) > 2 and np.any(np.diff(times) != step)):
            return None
        names: list[str] = []
        without = False
        if node.modifier is not None:
            names = list(node.modifier.labels)
            without = enum_name(node.modifier.type) == "Without"
        spec = WindowAggregate(
            fn=call.func.name,
            op=op,
            names=tuple(names),
            without=without,
            range_ms=ms(arg.range),
            first_end=int(times[0]) - ms(vs.offset),
            step_ms=step,
            steps=len(times),
        )
        if spec.range_ms <= 0:
            return None
        return matchers, spec, arg

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


def _smoothing(factors: np.ndarray) -> None:
    for label, short, values in (("smoothing", "sf", factors[0]), ("trend", "tf", factors[1])):
        bad = values[(values <= 0) | (values >= 1) | np.isnan(values)]
        if len(bad):
            raise PromQLError(
                f"invalid {label} factor. Expected: 0 < {short} < 1, got: {float(bad[0]):f}"
            )


_SHIFT = 41  # bits for a sample's time relative to the earliest (ms): 69 years


def windows(series: list[Samples], ends: Ints, range_ms: int) -> tuple[Ints, Ints, Ints]:
    """The samples' times end to end, and per (series, end) the bounds [lo, hi) of the
    samples in [end - range, end]: one searchsorted over keys (series index, time)."""
    flat_t = np.concatenate([s.times for s in series])
    sizes = np.array([len(s.times) for s in series])
    tmin = int(flat_t.min())
    limit = (1 << _SHIFT) - 1
    idx = np.repeat(np.arange(len(series), dtype=np.int64), sizes)
    keys = (idx << _SHIFT) | (flat_t - tmin)
    base = (np.arange(len(series), dtype=np.int64) << _SHIFT)[:, None]
    low = np.clip(ends - range_ms - tmin, 0, limit)[None, :]
    high = np.clip(ends - tmin, -1, limit)[None, :]
    lo = np.searchsorted(keys, base + low, side="left")
    hi = np.searchsorted(keys, base + high, side="right")
    return flat_t, lo, hi


def _unparen(node: pp.Expr) -> pp.Expr:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node
