"""The syntax tree of metric math and its printer (``to_text(parse(s))`` parses back to
the same tree)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# Binding strength of binary operators, loosest first (the parser uses the same table).
PRECEDENCE = {"OR": 1, "||": 1, "AND": 2, "&&": 2}
PRECEDENCE.update(dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), 3))
PRECEDENCE.update({"+": 4, "-": 4, "*": 5, "/": 5, "^": 7})
UNARY = 6


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class String:
    value: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A query id (``m1``) or a keyword argument (``REPEAT``, ``SUM``, ``DESC``)."""

    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # upper case
    args: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ArrayLiteral:
    items: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-"
    operand: Node
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    position: int = field(default=0, compare=False)


Node = Number | String | Name | Call | ArrayLiteral | Unary | Binary


def walk(node: Node) -> Iterator[Node]:
    """The node and every node below it, parents before children."""
    yield node
    if isinstance(node, Call):
        children: tuple[Node, ...] = node.args
    elif isinstance(node, ArrayLiteral):
        children = node.items
    elif isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Binary):
        children = (node.left, node.right)
    else:
        children = ()
    for child in children:
        yield from walk(child)


def to_text(node: Node) -> str:
    """Canonical text of a tree: minimal parentheses, AND/OR spelled as words."""
    return _text(node, 0)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _text(node: Node, parent: int) -> str:
    if isinstance(node, Number):
        text = _number(node.value)
        return f"({text})" if node.value < 0 and parent > UNARY else text
    if isinstance(node, String):
        return _quote(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.function}({', '.join(_text(a, 0) for a in node.args)})"
    if isinstance(node, ArrayLiteral):
        return f"[{', '.join(_text(a, 0) for a in node.items)}]"
    if isinstance(node, Unary):
        text = f"-{_text(node.operand, UNARY)}"
        return f"({text})" if parent > UNARY else text
    op = {"&&": "AND", "||": "OR"}.get(node.op, node.op)
    level = PRECEDENCE[node.op]
    right_assoc = node.op == "^"
    left = _text(node.left, level + 1 if right_assoc else level)
    right = _text(node.right, level if right_assoc else level + 1)
    text = f"{left} {op} {right}"
    return f"({text})" if level < parent else text
