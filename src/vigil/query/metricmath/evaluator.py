"""Evaluates a parsed expression over aligned series.

Operators work on scalars, series and arrays: a scalar applies to every value, two series
combine at equal timestamps, an array applies the operation to each of its series (two
arrays cannot be combined). A value missing on either side stays missing; so do results
that are not finite numbers, which is how division by zero (``x / 0``) and ``LOG(0)``
come out: the data point is dropped, as CloudWatch does. Comparisons and AND/OR give 1 or 0.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from vigil.model.deadline import Deadline
from vigil.query.metricmath.ast import (
    ArrayLiteral,
    Binary,
    Call,
    Name,
    Node,
    Number,
    String,
    Unary,
    walk,
)
from vigil.query.metricmath.errors import MathError
from vigil.query.metricmath.functions import Context, FunctionTable, default_functions
from vigil.query.metricmath.series import Floats, Keyword, Series, Value, describe

DEFAULT_FUNCTIONS = default_functions()

_OPS: dict[str, Callable[[Floats, Floats], Floats]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
    "==": lambda a, b: (a == b).astype(np.float64),
    "!=": lambda a, b: (a != b).astype(np.float64),
    "<": lambda a, b: (a < b).astype(np.float64),
    "<=": lambda a, b: (a <= b).astype(np.float64),
    ">": lambda a, b: (a > b).astype(np.float64),
    ">=": lambda a, b: (a >= b).astype(np.float64),
    "AND": lambda a, b: ((a != 0) & (b != 0)).astype(np.float64),
    "&&": lambda a, b: ((a != 0) & (b != 0)).astype(np.float64),
    "OR": lambda a, b: ((a != 0) | (b != 0)).astype(np.float64),
    "||": lambda a, b: ((a != 0) | (b != 0)).astype(np.float64),
}


class Evaluator:
    """Evaluates nodes; ``refs`` maps query ids to their values (evaluated on demand)."""

    def __init__(
        self,
        ctx: Context,
        refs: Callable[[str], Any],
        functions: FunctionTable = DEFAULT_FUNCTIONS,
        deadline: Deadline | None = None,
    ) -> None:
        self._ctx = ctx
        self._refs = refs
        self._functions = functions
        self._deadline = deadline

    async def evaluate(self, node: Node) -> Value:
        if self._deadline is not None:
            self._deadline.check()  # raises ExpressionTimeout past the bound
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Name):
            value = self._refs(node.name)
            if inspect.isawaitable(value):
                value = await value
            return Keyword(node.name) if value is None else value
        if isinstance(node, ArrayLiteral):
            items: list[Series] = []
            for item in node.items:
                value = await self.evaluate(item)
                if isinstance(value, Series):
                    items.append(value)
                elif isinstance(value, list):
                    items.extend(value)
                else:
                    raise MathError(f"an array can hold time series only, not {describe(value)}")
            return items
        if isinstance(node, Unary):
            return combine("*", -1.0, await self.evaluate(node.operand))
        if isinstance(node, Binary):
            left = await self.evaluate(node.left)
            right = await self.evaluate(node.right)
            return combine(node.op, left, right)
        return await self._call(node)

    async def _call(self, node: Call) -> Value:
        spec = self._functions.get(node.function)
        if spec is None:
            raise MathError(f"unknown function {node.function} at position {node.position}")
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            expected = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args if spec.max_args is not None else 'any'}"
            )
            raise MathError(f"{spec.name} takes {expected} arguments, not {count}")
        if spec.pushdown is not None:
            pushed = await spec.pushdown(self._ctx, node.args)
            if pushed is not None:
                return pushed
        args: list[Any] = (
            list(node.args) if spec.raw_args else [await self.evaluate(a) for a in node.args]
        )
        result = spec.impl(self._ctx, args)
        if inspect.isawaitable(result):
            result = await result
        return result


def combine(op: str, left: Value, right: Value) -> Value:
    """``left op right`` for scalars, series and arrays."""
    fn = _OPS[op]
    if isinstance(left, list) and isinstance(right, list):
        raise MathError(f"cannot apply {op} to two arrays of time series")
    if isinstance(left, list):
        return [_series_op(fn, s, right) for s in left]
    if isinstance(right, list):
        return [_series_op(fn, left, s) for s in right]
    if isinstance(left, float) and isinstance(right, float):
        out = _apply(fn, np.array([left]), np.array([right]))[0]
        return float(out)
    if isinstance(left, Series) or isinstance(right, Series):
        return _series_op(fn, left, right)
    raise MathError(f"cannot apply {op} to {describe(left)} and {describe(right)}")


def _series_op(fn: Callable[[Floats, Floats], Floats], left: Value, right: Value) -> Series:
    if isinstance(left, Series) and isinstance(right, float):
        return left.with_values(_apply(fn, left.values, np.full(len(left.values), right)))
    if isinstance(left, float) and isinstance(right, Series):
        return right.with_values(_apply(fn, np.full(len(right.values), left), right.values))
    if isinstance(left, Series) and isinstance(right, Series):
        if left.same_grid(right):
            return left.with_values(_apply(fn, left.values, right.values))
        stamps = np.union1d(left.timestamps, right.timestamps)
        a, b = _spread(left, stamps), _spread(right, stamps)
        period = min(left.period, right.period)
        return Series(stamps, _apply(fn, a, b), period, left.label, dict(left.meta))
    raise MathError(f"cannot combine {describe(left)} and {describe(right)}")


def _spread(series: Series, stamps: np.ndarray[Any, Any]) -> Floats:
    out = np.full(len(stamps), np.nan)
    out[np.searchsorted(stamps, series.timestamps)] = series.values
    return out


def _apply(fn: Callable[[Floats, Floats], Floats], a: Floats, b: Floats) -> Floats:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.asarray(fn(a, b), dtype=np.float64)
    missing = np.isnan(a) | np.isnan(b)
    return np.where(missing | ~np.isfinite(out), np.nan, out)


def references(node: Node) -> set[str]:
    """The names an expression mentions (query ids, and keywords the caller ignores)."""
    return {n.name for n in walk(node) if isinstance(n, Name)}


def calls(node: Node) -> set[str]:
    return {n.function for n in walk(node) if isinstance(n, Call)}


def finite(value: float) -> bool:
    return not math.isnan(value) and not math.isinf(value)


__all__ = ["DEFAULT_FUNCTIONS", "Evaluator", "Mapping", "calls", "combine", "references"]
