"""The AST of filter expressions and its printer.

Positions (``pos``: character offset in the source) are kept for error messages and left
out of equality, so that a printed and re-parsed expression equals the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

Value = str | float | bool

STRING_OPS = ("=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH")
ORDER_OPS = ("<", "<=", ">", ">=")
OPERATORS = (*STRING_OPS, *ORDER_OPS)


@dataclass(frozen=True)
class Compare:
    """``keyword [op value]``: ``duration > 1``, ``annotation.k = "v"``, a bare ``fault``."""

    keyword: str  # lower-case path: "duration", "http.status", "annotation.KEY" (key as typed)
    op: str | None = None
    value: Value | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NodeRef:
    """A service node: ``"name"`` or ``id(name: "n", type: "t")``."""

    name: str | None = None
    type: str | None = None
    is_id: bool = False


@dataclass(frozen=True)
class Service:
    """``service("name") { filter }``; ``id(...) { filter }`` is the same with is_id."""

    node: NodeRef | None
    filter: Expr | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Edge:
    source: NodeRef
    dest: NodeRef
    filter: Expr | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class RootCause:
    """``rootcause.fault.service { name = "x" }``: kind fault/error/throttle; level
    service/entity."""

    kind: str
    level: str
    filter: Expr | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    item: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Compare | Service | Edge | RootCause | Not | And | Or


def _value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return json.dumps(value, ensure_ascii=False)


def _node(ref: NodeRef) -> str:
    if not ref.is_id:
        return _value(ref.name or "")
    parts = []
    if ref.name is not None:
        parts.append(f"name: {_value(ref.name)}")
    if ref.type is not None:
        parts.append(f"type: {_value(ref.type)}")
    return f"id({', '.join(parts)})"


def _braces(expr: Expr | None) -> str:
    return "" if expr is None else f" {{ {to_text(expr)} }}"


def to_text(expr: Expr) -> str:
    """Canonical text of an expression (fully parenthesised where precedence needs it)."""
    if isinstance(expr, Compare):
        if expr.op is None:
            return expr.keyword
        assert expr.value is not None
        return f"{expr.keyword} {expr.op} {_value(expr.value)}"
    if isinstance(expr, Service):
        if expr.node is not None and expr.node.is_id:
            return _node(expr.node) + _braces(expr.filter)
        inner = "" if expr.node is None else _node(expr.node)
        return f"service({inner}){_braces(expr.filter)}"
    if isinstance(expr, Edge):
        return f"edge({_node(expr.source)}, {_node(expr.dest)}){_braces(expr.filter)}"
    if isinstance(expr, RootCause):
        return f"rootcause.{expr.kind}.{expr.level}{_braces(expr.filter)}"
    if isinstance(expr, Not):
        return f"NOT {_wrap(expr.item, Not)}"
    if isinstance(expr, And):
        return " AND ".join(_wrap(item, And) for item in expr.items)
    return " OR ".join(_wrap(item, Or) for item in expr.items)


def _wrap(expr: Expr, parent: type) -> str:
    """Groups inside groups keep their parentheses, so printing keeps the tree's shape."""
    text = to_text(expr)
    return f"({text})" if isinstance(expr, And | Or) else text
