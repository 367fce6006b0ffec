"""The function table of metric math.

A function is a ``FunctionSpec``: its name, the number of arguments it takes and an
implementation ``impl(ctx, args) -> Value`` (or an awaitable of one, for functions that
query the store such as SEARCH). ``FunctionTable.register`` adds one; the evaluator only
looks names up, so a later pillar plugs in a function (ANOMALY_DETECTION_BAND needs its
trained models from ``ctx``) without touching the evaluator. Arguments arrive evaluated,
except for functions registered with ``raw_args=True`` which get the syntax nodes.

Missing values are NaN throughout; functions over one series ignore them, functions across
an array of series work timestamp by timestamp over the series that have a value there.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

import numpy as np

from vigil.query.metricmath.errors import MathError
from vigil.query.metricmath.series import Floats, Keyword, Series, Value, describe

Impl = Callable[["Context", Sequence[Any]], "Value | Awaitable[Value]"]


class Context(Protocol):
    """What functions may ask of the request being evaluated."""

    start: int  # aligned start of the request, epoch seconds
    end: int
    period: int  # the expression's period (its own Period, else the request's first)

    def metrics(self, contains: str | None) -> list[Series]: ...

    async def search(self, query: str, stat: str, period: int) -> list[Series]: ...

    async def search_aggregate(
        self, query: str, stat: str, period: int, function: str
    ) -> Series | None:
        """``function`` (SUM, AVG, MIN, MAX) across the series a SEARCH finds, computed by
        the store; None when the store cannot (the evaluator then materializes them)."""
        ...

    def grid(self, period: int) -> np.ndarray[Any, np.dtype[np.int64]]: ...


Pushdown = Callable[["Context", Sequence[Any]], "Awaitable[Value | None]"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    impl: Impl
    min_args: int
    max_args: int | None  # None: any number
    raw_args: bool = False
    # Tried first with the argument *nodes*; a value it returns is the result, None means
    # "evaluate normally". Lets SUM(SEARCH(…)) aggregate inside the store.
    pushdown: Pushdown | None = None


class FunctionTable:
    def __init__(self, specs: Sequence[FunctionSpec] = ()) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: FunctionSpec) -> None:
        self._specs[spec.name.upper()] = spec

    def get(self, name: str) -> FunctionSpec | None:
        return self._specs.get(name.upper())

    def names(self) -> list[str]:
        return sorted(self._specs)

    def copy(self) -> FunctionTable:
        return FunctionTable(list(self._specs.values()))


# --- helpers ---------------------------------------------------------------------------


def _quiet(fn: Callable[[], Floats]) -> Floats:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fn()
    return np.where(np.isfinite(out), out, np.nan)


def elementwise(name: str, value: Value, fn: Callable[[Floats], Floats]) -> Value:
    """Apply ``fn`` to a scalar, a series or every series of an array."""
    if isinstance(value, float):
        result = _quiet(lambda: fn(np.array([value], dtype=np.float64)))[0]
        return float(result)
    if isinstance(value, Series):
        return value.with_values(_quiet(lambda: fn(value.values)))
    if isinstance(value, list):
        return [s.with_values(_quiet(partial(fn, s.values))) for s in value]
    raise MathError(f"{name} takes a number, a time series or an array, not {describe(value)}")


def series_arg(name: str, value: Value, position: str = "its argument") -> Series:
    if not isinstance(value, Series):
        raise MathError(f"{name} needs a time series as {position}, not {describe(value)}")
    return value


def array_arg(name: str, value: Value) -> list[Series]:
    if isinstance(value, Series):
        return [value]
    if not isinstance(value, list):
        raise MathError(f"{name} needs an array of time series, not {describe(value)}")
    return value


def scalar_arg(name: str, value: Value) -> float:
    if not isinstance(value, float):
        raise MathError(f"{name} needs a number here, not {describe(value)}")
    return value


def stack(name: str, series: list[Series]) -> tuple[np.ndarray[Any, Any], Floats]:
    """The series of an array on one grid: (timestamps, matrix rows = series)."""
    if not series:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    first = series[0]
    if all(s.same_grid(first) for s in series):
        return first.timestamps, np.vstack([s.values for s in series])
    stamps = np.unique(np.concatenate([s.timestamps for s in series]))
    matrix = np.full((len(series), len(stamps)), np.nan)
    for row, s in enumerate(series):
        matrix[row, np.searchsorted(stamps, s.timestamps)] = s.values
    return stamps, matrix


# --- reductions: one series → scalar, an array → one series -----------------------------

_REDUCERS: dict[str, Callable[[Floats], float]] = {
    "AVG": lambda v: float(np.mean(v)),
    "SUM": lambda v: float(np.sum(v)),
    "MIN": lambda v: float(np.min(v)),
    "MAX": lambda v: float(np.max(v)),
    "STDDEV": lambda v: float(np.std(v)),
}


def reduce_values(name: str, values: Floats) -> float:
    present = values[~np.isnan(values)]
    return _REDUCERS[name](present) if len(present) else math.nan


_ACROSS: dict[str, Callable[..., Any]] = {
    "AVG": np.nanmean,
    "SUM": np.nansum,
    "MIN": np.nanmin,
    "MAX": np.nanmax,
    "STDDEV": np.nanstd,
}


def _across(name: str, series: list[Series]) -> Series:
    stamps, matrix = stack(name, series)
    reducer = _ACROSS[name]
    counts = (~np.isnan(matrix)).sum(axis=0) if len(series) else np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = reducer(matrix, axis=0) if len(series) else np.zeros(0)
    values = np.where(counts > 0, values, np.nan)
    template = series[0]
    return Series(stamps, values.astype(np.float64), template.period, label=name.lower())


def _reduction(name: str) -> Impl:
    def impl(ctx: Context, args: Sequence[Value]) -> Value:
        if len(args) > 1:
            return _across(name, [series_arg(name, a, "every argument") for a in args])
        (value,) = args
        if isinstance(value, float):
            return value
        if isinstance(value, Series):
            return reduce_values(name, value.values)
        if isinstance(value, list):
            if not value:
                raise MathError(f"{name} got an empty array")
            return _across(name, value)
        raise MathError(f"{name} takes a time series or an array, not {describe(value)}")

    return impl


def _datapoint_count(ctx: Context, args: Sequence[Value]) -> Value:
    (value,) = args
    if isinstance(value, Series):
        return float(np.count_nonzero(value.present))
    series = array_arg("DATAPOINT_COUNT", value)
    if not series:
        raise MathError("DATAPOINT_COUNT got an empty array")
    stamps, matrix = stack("DATAPOINT_COUNT", series)
    counts = (~np.isnan(matrix)).sum(axis=0).astype(np.float64)
    return Series(stamps, counts, series[0].period, label="datapoint_count")


def _metric_count(ctx: Context, args: Sequence[Value]) -> Value:
    return float(len(array_arg("METRIC_COUNT", args[0])))


# --- one series at a time, over its reported points -------------------------------------


def _per_series(name: str, fn: Callable[[Series], Floats]) -> Impl:
    def impl(ctx: Context, args: Sequence[Value]) -> Value:
        (value,) = args
        if isinstance(value, Series):
            return value.with_values(_quiet(lambda: fn(value)))
        if isinstance(value, list):
            return [s.with_values(_quiet(partial(fn, s))) for s in value]
        raise MathError(f"{name} takes a time series or an array, not {describe(value)}")

    return impl


def _diff(s: Series) -> Floats:
    out = np.full(len(s.values), np.nan)
    idx = np.nonzero(s.present)[0]
    out[idx[1:]] = np.diff(s.values[idx])
    return out


def _diff_time(s: Series) -> Floats:
    out = np.full(len(s.values), np.nan)
    idx = np.nonzero(s.present)[0]
    out[idx[1:]] = np.diff(s.timestamps[idx]).astype(np.float64)
    return out


def _rate(s: Series) -> Floats:
    return _diff(s) / _diff_time(s)


def _running_sum(s: Series) -> Floats:
    out = np.full(len(s.values), np.nan)
    idx = np.nonzero(s.present)[0]
    out[idx] = np.cumsum(s.values[idx])
    return out


def _time_part(name: str) -> Impl:
    def part(stamp: int) -> float:
        t = dt.datetime.fromtimestamp(int(stamp), tz=dt.UTC)
        return float(
            {
                "MINUTE": t.minute,
                "HOUR": t.hour,
                "DAY": t.isoweekday(),
                "DATE": t.day,
                "MONTH": t.month,
                "YEAR": t.year,
                "EPOCH": int(stamp),
            }[name]
        )

    def fn(s: Series) -> Floats:
        parts = np.array([part(t) for t in s.timestamps], dtype=np.float64)
        return np.where(s.present, parts, np.nan)

    return _per_series(name, fn)


def _period(ctx: Context, args: Sequence[Value]) -> Value:
    return float(series_arg("PERIOD", args[0]).period)


# --- filling, conditions ----------------------------------------------------------------


def _fill(ctx: Context, args: Sequence[Value]) -> Value:
    target, how = args

    def fill_one(s: Series) -> Series:
        values = s.values.copy()
        missing = np.isnan(values)
        if isinstance(how, float):
            values[missing] = how
        elif isinstance(how, Series):
            other = _on_grid(how, s)
            values[missing] = other[missing]
        elif isinstance(how, Keyword) and how.word.upper() == "REPEAT":
            idx = np.where(~missing, np.arange(len(values)), -1)
            last = np.maximum.accumulate(idx)
            values = np.where(last >= 0, values[np.maximum(last, 0)], np.nan)
        elif isinstance(how, Keyword) and how.word.upper() == "LINEAR":
            present = np.nonzero(~missing)[0]
            if len(present) >= 2:
                inner = np.arange(present[0], present[-1] + 1)
                values[inner] = np.interp(
                    s.timestamps[inner].astype(np.float64),
                    s.timestamps[present].astype(np.float64),
                    s.values[present],
                )
        else:
            raise MathError(
                f"FILL needs a number, a time series, REPEAT or LINEAR, not {describe(how)}"
            )
        return s.with_values(values)

    if isinstance(target, Series):
        return fill_one(target)
    if isinstance(target, list):
        return [fill_one(s) for s in target]
    raise MathError(f"FILL takes a time series or an array, not {describe(target)}")


def _on_grid(source: Series, target: Series) -> Floats:
    """``source``'s values at ``target``'s timestamps (NaN where it has none)."""
    if source.same_grid(target):
        return source.values
    out = np.full(len(target.timestamps), np.nan)
    pos = np.searchsorted(source.timestamps, target.timestamps)
    pos = np.clip(pos, 0, max(len(source.timestamps) - 1, 0))
    if len(source.timestamps):
        hit = source.timestamps[pos] == target.timestamps
        out[hit] = source.values[pos[hit]]
    return out


def _if(ctx: Context, args: Sequence[Value]) -> Value:
    condition = args[0]
    when_true = args[1]
    when_false: Value = args[2] if len(args) > 2 else math.nan

    def choose(cond: Series) -> Series:
        truth = np.where(np.isnan(cond.values), np.nan, (cond.values != 0).astype(np.float64))
        yes = _as_values(when_true, cond)
        no = _as_values(when_false, cond)
        values = np.where(truth == 1, yes, np.where(truth == 0, no, np.nan))
        template = when_true if isinstance(when_true, Series) else cond
        return template.with_values(_quiet(lambda: values.astype(np.float64)))

    if isinstance(condition, Series):
        return choose(condition)
    if isinstance(condition, list):
        return [choose(c) for c in condition]
    if isinstance(condition, float):
        return when_true if condition != 0 else when_false
    raise MathError(f"IF needs a condition series, not {describe(condition)}")


def _as_values(value: Value, like: Series) -> Floats:
    if isinstance(value, float):
        return np.full(len(like.values), value)
    if isinstance(value, Series):
        return _on_grid(value, like)
    raise MathError(f"IF takes numbers or time series as values, not {describe(value)}")


# --- arrays -----------------------------------------------------------------------------


def _first(ctx: Context, args: Sequence[Value]) -> Value:
    series = array_arg("FIRST", args[0])
    if not series:
        raise MathError("FIRST got an empty array")
    return series[0]


def _last(ctx: Context, args: Sequence[Value]) -> Value:
    series = array_arg("LAST", args[0])
    if not series:
        raise MathError("LAST got an empty array")
    return series[-1]


def _remove_empty(ctx: Context, args: Sequence[Value]) -> Value:
    return [s for s in array_arg("REMOVE_EMPTY", args[0]) if s.present.any()]


def _slice(ctx: Context, args: Sequence[Value]) -> Value:
    series = array_arg("SLICE", args[0])
    start = int(scalar_arg("SLICE", args[1]))
    end = int(scalar_arg("SLICE", args[2])) if len(args) > 2 else len(series)
    return series[start:end]


def _sort(ctx: Context, args: Sequence[Value]) -> Value:
    series = array_arg("SORT", args[0])
    how = args[1]
    if not isinstance(how, Keyword) or how.word.upper() not in _REDUCERS:
        raise MathError("SORT needs AVG, MIN, MAX, SUM or STDDEV as its second argument")
    order = args[2] if len(args) > 2 else Keyword("ASC")
    if not isinstance(order, Keyword) or order.word.upper() not in ("ASC", "DESC"):
        raise MathError("SORT needs ASC or DESC as its third argument")
    keyed = [(reduce_values(how.word.upper(), s.values), i, s) for i, s in enumerate(series)]
    descending = order.word.upper() == "DESC"
    present = [k for k in keyed if not math.isnan(k[0])]
    absent = [k for k in keyed if math.isnan(k[0])]
    present.sort(key=lambda k: (-k[0] if descending else k[0], k[1]))
    ranked = [s for _, _, s in present + absent]
    if len(args) > 3:
        ranked = ranked[: int(scalar_arg("SORT", args[3]))]
    return ranked


def _concat(ctx: Context, args: Sequence[Value]) -> Value:
    out: list[Series] = []
    for arg in args:
        out.extend(array_arg("CONCAT", arg))
    return out


def _metrics(ctx: Context, args: Sequence[Value]) -> Value:
    contains = None
    if args:
        if not isinstance(args[0], str):
            raise MathError("METRICS takes an optional string")
        contains = args[0]
    return ctx.metrics(contains)


def _time_series(ctx: Context, args: Sequence[Value]) -> Value:
    value = scalar_arg("TIME_SERIES", args[0])
    stamps = ctx.grid(ctx.period)
    return Series(stamps, np.full(len(stamps), value), ctx.period, label="time_series")


async def _search(ctx: Context, args: Sequence[Value]) -> Value:
    query, stat = args[0], args[1]
    if not isinstance(query, str) or not isinstance(stat, str):
        raise MathError("SEARCH needs a search string and a statistic string")
    period = int(scalar_arg("SEARCH", args[2])) if len(args) > 2 else ctx.period
    return await ctx.search(query, stat, period)


def _search_pushdown(name: str) -> Pushdown | None:
    if name == "STDDEV":
        return None

    async def pushdown(ctx: Context, nodes: Sequence[Any]) -> Value | None:
        from vigil.query.metricmath.ast import Call, Number, String

        if len(nodes) != 1 or not isinstance(nodes[0], Call) or nodes[0].function != "SEARCH":
            return None
        args = nodes[0].args
        if not (
            2 <= len(args) <= 3 and isinstance(args[0], String) and isinstance(args[1], String)
        ):
            return None
        if len(args) == 3 and not isinstance(args[2], Number):
            return None
        period = int(args[2].value) if len(args) == 3 else ctx.period  # type: ignore[union-attr]
        return await ctx.search_aggregate(args[0].value, args[1].value, period, name)

    return pushdown


def _math(fn: Callable[[Floats], Floats], name: str) -> Impl:
    def impl(ctx: Context, args: Sequence[Value]) -> Value:
        return elementwise(name, args[0], fn)

    return impl


def default_functions() -> FunctionTable:
    specs = [
        FunctionSpec("ABS", _math(np.abs, "ABS"), 1, 1),
        FunctionSpec("CEIL", _math(np.ceil, "CEIL"), 1, 1),
        FunctionSpec("FLOOR", _math(np.floor, "FLOOR"), 1, 1),
        FunctionSpec("LOG", _math(np.log, "LOG"), 1, 1),
        FunctionSpec("LOG10", _math(np.log10, "LOG10"), 1, 1),
        FunctionSpec("DATAPOINT_COUNT", _datapoint_count, 1, 1),
        FunctionSpec("METRIC_COUNT", _metric_count, 1, 1),
        FunctionSpec("DIFF", _per_series("DIFF", _diff), 1, 1),
        FunctionSpec("DIFF_TIME", _per_series("DIFF_TIME", _diff_time), 1, 1),
        FunctionSpec("RATE", _per_series("RATE", _rate), 1, 1),
        FunctionSpec("RUNNING_SUM", _per_series("RUNNING_SUM", _running_sum), 1, 1),
        FunctionSpec("FILL", _fill, 2, 2),
        FunctionSpec("IF", _if, 2, 3),
        FunctionSpec("FIRST", _first, 1, 1),
        FunctionSpec("LAST", _last, 1, 1),
        FunctionSpec("REMOVE_EMPTY", _remove_empty, 1, 1),
        FunctionSpec("SLICE", _slice, 2, 3),
        FunctionSpec("SORT", _sort, 2, 4),
        FunctionSpec("CONCAT", _concat, 1, None),
        FunctionSpec("METRICS", _metrics, 0, 1),
        FunctionSpec("PERIOD", _period, 1, 1),
        FunctionSpec("TIME_SERIES", _time_series, 1, 1),
        FunctionSpec("SEARCH", _search, 2, 3),
    ]
    specs += [
        FunctionSpec(n, _reduction(n), 1, None, pushdown=_search_pushdown(n)) for n in _REDUCERS
    ]
    specs += [
        FunctionSpec(n, _time_part(n), 1, 1)
        for n in ("MINUTE", "HOUR", "DAY", "DATE", "MONTH", "YEAR", "EPOCH")
    ]
    return FunctionTable(specs)


def relabel(series: Series, label: str) -> Series:
    return replace(series, label=label)
