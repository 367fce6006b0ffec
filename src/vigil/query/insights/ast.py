"""The Logs Insights syntax tree: immutable dataclasses, compared by value.

Expressions: ``Field``, ``Str``, ``Num`` (never negative: ``-1`` is ``Unary("-", Num(1))``),
``Regex``, ``Duration`` (``5m``), ``Star`` (``count(*)``), ``Call``, ``Unary``, ``Binary``
(arithmetic, comparison, ``and``/``or``, ``like``/``not like``/``=~``), ``InList``.
Field names are kept as written except that ``a[0]`` is stored as ``a.0`` (the same field).
Commands: ``Fields``, ``Display``, ``Filter``, ``Stats``, ``Sort``, ``Limit``, ``Parse``,
``Dedup``, ``Unnest``, ``PatternCmd``, ``Diff``; a ``Query`` is an optional ``Source`` and
the commands in order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Str:
    value: str


@dataclass(frozen=True, slots=True)
class Num:
    value: int | float


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: str  # ms s m h d w mo q y


@dataclass(frozen=True, slots=True)
class Star:
    pass


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower case
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / % ^ = != < <= > >= =~ like "not like" and or
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList:
    expr: Expr
    items: tuple[Expr, ...]
    negated: bool = False


Expr = Field | Str | Num | Regex | Duration | Star | Call | Unary | Binary | InList


@dataclass(frozen=True, slots=True)
class Projection:
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[Projection, ...]


@dataclass(frozen=True, slots=True)
class Display:
    items: tuple[Projection, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    expr: Expr


@dataclass(frozen=True, slots=True)
class Stats:
    aggregates: tuple[Projection, ...]
    by: tuple[Projection, ...] = ()


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Limit:
    count: int


@dataclass(frozen=True, slots=True)
class Parse:
    source: Expr
    pattern: Str | Regex
    names: tuple[str, ...] = ()  # the glob's "as" names; empty for a regex (named groups)


@dataclass(frozen=True, slots=True)
class Dedup:
    fields: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unnest:
    source: Expr
    into: str


@dataclass(frozen=True, slots=True)
class PatternCmd:
    source: Expr


@dataclass(frozen=True, slots=True)
class Diff:
    period: str | None = None  # None, "previousDay", "previousWeek", "previousMonth"


Command = (
    Fields | Display | Filter | Stats | Sort | Limit | Parse | Dedup | Unnest | PatternCmd | Diff
)


@dataclass(frozen=True, slots=True)
class Source:
    prefixes: tuple[str, ...]
    log_class: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    commands: tuple[Command, ...]
    source: Source | None = None
