"""The AST of filter patterns: plain data, built by the parser, read by match.py and sql.py.

A pattern has one of three forms (``Pattern.kind`` in pattern.py): a list of ``Term``s, a
JSON condition (``JsonCond``s under ``BoolOp``s), or a list of ``SpaceField``s whose
conditions are ``FieldCond``s under ``BoolOp``s.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.syntax.regex import Regex

# Longest first, so that the scanner takes "<=" before "<".
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")


@dataclass(frozen=True, slots=True)
class Value:
    """A literal on the right of a comparison: number, string (with * wildcards) or regex.

    Built by ``lexer.value_of``, which decides which of the three it is."""

    text: str
    number: float | None = None
    regex: Regex | None = None
    glob: Regex | None = None


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a term pattern, found anywhere in the message (case-sensitively)."""

    text: str
    mode: str = ""  # "" required, "?" any-of, "-" excluded
    regex: Regex | None = None


@dataclass(frozen=True, slots=True)
class Selector:
    """``$.a.b[0]``: a path of keys (str) and indexes (int)."""

    text: str
    path: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class JsonCond:
    selector: Selector
    op: str  # a comparison operator, or "IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS", "EXISTS"
    value: Value | None = None


@dataclass(frozen=True, slots=True)
class FieldCond:
    """A condition on a named field of a space-delimited pattern."""

    name: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "&&" or "||"
    items: tuple[Condition, ...]


# A JSON pattern's body, or a space-delimited field's condition.
Condition = JsonCond | FieldCond | BoolOp


@dataclass(frozen=True, slots=True)
class SpaceField:
    name: str  # "..." for the ellipsis
    condition: Condition | None = None  # FieldCond or BoolOp of FieldConds
