"""The function table of Logs Insights: scalar functions and stats (aggregate) functions.

A scalar function is a ``FunctionSpec``: the number of arguments it takes and an
implementation ``impl(args) -> Col`` over its compiled arguments, which builds SQL through
the coercions of ``coerce`` (a number argument reads as a number, a text one as text).
``FUNCTIONS`` maps the lowercase name to it; the compiler only looks names up and checks
the number of arguments, so a function is added here without touching the compiler.
``bin``, ``datefloor`` and ``dateceil`` are listed for their arity but built by the
compiler (they read the layer's ``@timestamp`` or a time period). Stats functions
(``AGGREGATES``) compile through ``aggregate``; time periods (``5m``) through
``duration_ms`` and ``interval``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vigil.query.insights import ast
from vigil.query.insights.coerce import Col, number, text
from vigil.query.insights.errors import QueryCompileError

Impl = Callable[[list[Col]], Col]


class FunctionSpec(NamedTuple):
    min_args: int
    max_args: int
    impl: Impl


_INTERVAL_UNITS = {
    "ms": "MILLISECOND",
    "s": "SECOND",
    "m": "MINUTE",
    "h": "HOUR",
    "d": "DAY",
    "w": "WEEK",
    "mo": "MONTH",
    "q": "QUARTER",
    "y": "YEAR",
}

AGGREGATES = {
    "avg",
    "count",
    "count_distinct",
    "max",
    "min",
    "pct",
    "stddev",
    "sum",
    "earliest",
    "latest",
    "sortsfirst",
    "sortslast",
}


def aggregate(
    name: str,
    args: tuple[ast.Expr, ...],
    value: Callable[[ast.Expr], Col],
    timestamp: Callable[[], Col],
) -> Col:
    """The stats function ``name`` over its arguments; ``value`` compiles an argument,
    ``timestamp`` gives the rows' ``@timestamp`` (for ``earliest`` and ``latest``)."""
    if name == "count":
        if not args or isinstance(args[0], ast.Star):
            return Col("count()", "num", func="count", has_agg=True)
        inner = value(args[0])
        return Col(f"count({inner.sql})", "num", func="count", has_agg=True)
    if not args:
        raise QueryCompileError(f"{name}() needs a field")
    if isinstance(args[0], ast.Star):
        raise QueryCompileError(f"{name}(*) is not allowed; only count(*)")
    inner = value(args[0])
    if inner.has_agg:
        raise QueryCompileError(f"{name}() cannot contain another aggregate function")
    if name == "pct":
        if len(args) != 2 or not isinstance(args[1], ast.Num):
            raise QueryCompileError("pct() takes a field and a percentile such as 95")
        level = float(args[1].value)
        if not 0 <= level <= 100:
            raise QueryCompileError("pct() percentile must be between 0 and 100")
        return Col(
            f"quantileExactInclusive({level / 100!r})({number(inner)})",
            "num",
            func="pct",
            has_agg=True,
        )
    if len(args) != 1:
        raise QueryCompileError(f"{name}() takes 1 argument, got {len(args)}")
    if name == "count_distinct":
        return Col(f"uniqExact({text(inner)})", "num", func=name, has_agg=True)
    if name in ("min", "max") and inner.kind == "time":
        return Col(f"{name}({inner.sql})", "time", func=name, has_agg=True)
    if name in ("sum", "avg", "min", "max", "stddev"):
        fn = {"stddev": "stddevSamp"}.get(name, name)
        return Col(f"{fn}({number(inner)})", "num", func=name, has_agg=True)
    if name in ("earliest", "latest"):
        ts = timestamp()
        if ts.kind != "time":
            raise QueryCompileError(f"{name}() needs @timestamp, which is gone after stats")
        fn = "argMin" if name == "earliest" else "argMax"
        return Col(f"{fn}({inner.sql}, {ts.sql})", inner.kind, func=name, has_agg=True)
    fn = "min" if name == "sortsfirst" else "max"
    return Col(f"{fn}({inner.sql})", inner.kind, func=name, has_agg=True)


def duration_ms(d: ast.Duration) -> int:
    per = {
        "ms": 1,
        "s": 1000,
        "m": 60_000,
        "h": 3_600_000,
        "d": 86_400_000,
        "w": 7 * 86_400_000,
        "mo": 30 * 86_400_000,
        "q": 91 * 86_400_000,
        "y": 365 * 86_400_000,
    }
    return d.amount * per[d.unit]


def interval(d: ast.Duration) -> str:
    if d.amount < 1:
        raise QueryCompileError("a time period must be at least 1")
    return f"INTERVAL {d.amount} {_INTERVAL_UNITS[d.unit]}"


def _f(sql: str, kind: str) -> Impl:
    """A function whose SQL is a template over its arguments' numbers ({n0}) or texts ({t0})."""

    def build(args: list[Col]) -> Col:
        values: dict[str, str] = {}
        for i, a in enumerate(args):
            values[f"n{i}"] = number(a)
            values[f"t{i}"] = text(a)
            values[f"r{i}"] = a.sql
        return Col(sql.format(**values), kind)

    return build


def _variadic(fn: str, kind: str, numeric: bool) -> Impl:
    def build(args: list[Col]) -> Col:
        parts = [number(a) if numeric else text(a) for a in args]
        if fn == "concat":
            parts = [f"coalesce({p}, '')" for p in parts]
        return Col(f"{fn}({', '.join(parts)})", kind)

    return build


def _trim(side: str) -> Impl:
    def build(args: list[Col]) -> Col:
        value = text(args[0])
        if len(args) == 1:
            fn = {"l": "trimLeft", "r": "trimRight", "b": "trimBoth"}[side]
            return Col(f"{fn}({value})", "str")
        where = {"l": "LEADING", "r": "TRAILING", "b": "BOTH"}[side]
        return Col(f"trim({where} {args[1].sql} FROM {value})", "str")

    return build


def _jsonparse(args: list[Col]) -> Col:
    return Col(text(args[0]), "json")


def _substr(args: list[Col]) -> Col:
    start = f"toInt64({number(args[1])}) + 1"
    if len(args) == 3:
        return Col(f"substringUTF8({text(args[0])}, {start}, toInt64({number(args[2])}))", "str")
    return Col(f"substringUTF8({text(args[0])}, {start})", "str")


def _coalesce(args: list[Col]) -> Col:
    kinds = {a.kind for a in args}
    if len(kinds) == 1 and kinds != {"json"}:
        return Col(f"coalesce({', '.join(a.sql for a in args)})", args[0].kind)
    return Col(f"coalesce({', '.join(text(a) for a in args)})", "any")


def _ip(check: str) -> Impl:
    def build(args: list[Col]) -> Col:
        ip = f"coalesce({text(args[0])}, '')"
        valid = {
            "any": f"(isIPv4String({ip}) OR isIPv6String({ip}))",
            "v4": f"isIPv4String({ip})",
            "v6": f"isIPv6String({ip})",
        }[check]
        if len(args) == 1:
            return Col(valid, "bool")
        subnet = f"coalesce({text(args[1])}, '')"
        fallback = "'::'" if check == "v6" else "'0.0.0.0'"
        return Col(
            f"({valid} AND isIPAddressInRange(if({valid}, {ip}, {fallback}), {subnet}))", "bool"
        )

    return build


FUNCTIONS: dict[str, FunctionSpec] = {
    # numeric
    "abs": FunctionSpec(1, 1, _f("abs({n0})", "num")),
    "ceil": FunctionSpec(1, 1, _f("ceil({n0})", "num")),
    "floor": FunctionSpec(1, 1, _f("floor({n0})", "num")),
    "greatest": FunctionSpec(1, 100, _variadic("greatest", "num", numeric=True)),
    "least": FunctionSpec(1, 100, _variadic("least", "num", numeric=True)),
    "log": FunctionSpec(1, 1, _f("if({n0} > 0, log({n0}), NULL)", "num")),
    "sqrt": FunctionSpec(1, 1, _f("if({n0} >= 0, sqrt({n0}), NULL)", "num")),
    # general
    "ispresent": FunctionSpec(1, 1, _f("({r0} IS NOT NULL)", "bool")),
    "coalesce": FunctionSpec(1, 100, _coalesce),
    # string
    "isempty": FunctionSpec(1, 1, _f("({r0} IS NULL OR {t0} = '')", "bool")),
    "isblank": FunctionSpec(1, 1, _f("({r0} IS NULL OR trimBoth({t0}) = '')", "bool")),
    "concat": FunctionSpec(1, 100, _variadic("concat", "str", numeric=False)),
    "ltrim": FunctionSpec(1, 2, _trim("l")),
    "rtrim": FunctionSpec(1, 2, _trim("r")),
    "trim": FunctionSpec(1, 2, _trim("b")),
    "strlen": FunctionSpec(1, 1, _f("toFloat64(lengthUTF8({t0}))", "num")),
    "toupper": FunctionSpec(1, 1, _f("upperUTF8({t0})", "str")),
    "tolower": FunctionSpec(1, 1, _f("lowerUTF8({t0})", "str")),
    "substr": FunctionSpec(2, 3, _substr),
    "replace": FunctionSpec(3, 3, _f("replaceAll({t0}, {t1}, {t2})", "str")),
    "strcontains": FunctionSpec(
        2, 2, _f("toFloat64(position(coalesce({t0}, ''), {t1}) > 0)", "num")
    ),
    # datetime (bin, datefloor and dateceil are built by the compiler itself)
    "bin": FunctionSpec(1, 1, _f("", "time")),
    "datefloor": FunctionSpec(2, 2, _f("", "time")),
    "dateceil": FunctionSpec(2, 2, _f("", "time")),
    # Clamped to 0001..9999 (Python's datetime range, which the store's client converts
    # into): fromMillis(99999999999999999) left a query "Running" for ever.
    "frommillis": FunctionSpec(
        1,
        1,
        _f(
            "fromUnixTimestamp64Milli(toInt64(least(greatest({n0}, -62135596800000.0),"
            " 253402300799999.0)))",
            "time",
        ),
    ),
    "tomillis": FunctionSpec(1, 1, _f("toFloat64(toUnixTimestamp64Milli({r0}))", "num")),
    # IP addresses
    "isvalidip": FunctionSpec(1, 1, _ip("any")),
    "isvalidipv4": FunctionSpec(1, 1, _ip("v4")),
    "isvalidipv6": FunctionSpec(1, 1, _ip("v6")),
    "isipinsubnet": FunctionSpec(2, 2, _ip("any")),
    "isipv4insubnet": FunctionSpec(2, 2, _ip("v4")),
    "isipv6insubnet": FunctionSpec(2, 2, _ip("v6")),
    # JSON
    "jsonparse": FunctionSpec(1, 1, _jsonparse),
}
