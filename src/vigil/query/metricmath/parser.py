"""Recursive-descent parser: tokens → ``ast.Node``.

Grammar (loosest first): OR/|| < AND/&& < comparisons (non-associative) < + - < * / <
unary minus < ^ (right-associative) < primaries: numbers, strings, ids, keyword names,
``FUNC(args)``, ``[a, b]`` and parentheses. Errors name the position of the offending token.
"""

from __future__ import annotations

from vigil.query.metricmath.ast import (
    PRECEDENCE,
    ArrayLiteral,
    Binary,
    Call,
    Name,
    Node,
    Number,
    String,
    Unary,
)
from vigil.query.metricmath.errors import MathSyntaxError
from vigil.query.metricmath.lexer import Token, tokenize

_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">="))
MAX_DEPTH = 100


def parse(source: str) -> Node:
    if not source.strip():
        raise MathSyntaxError("the expression is empty", 0)
    parser = _Parser(tokenize(source))
    node = parser.expression(1)
    token = parser.peek()
    if token.kind != "end":
        raise MathSyntaxError(f"unexpected {_describe(token)}", token.position)
    _check_depth(node)
    return node


def _check_depth(root: Node) -> None:
    """Refuse a tree deeper than ``MAX_DEPTH`` (``m1 + m1 + …`` builds one level per
    operator without nesting), naming the position of the first node past the bound; the
    evaluator and the printer recurse over the tree, so this keeps them in Python's stack."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MathSyntaxError(
                f"the expression is nested deeper than {MAX_DEPTH} levels", node.position
            )
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
        stack.extend((child, depth + 1) for child in children)


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of expression"
    return f"{token.text!r}"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise MathSyntaxError(f"expected {kind!r} but found {_describe(token)}", token.position)
        return token

    def expression(self, min_level: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise MathSyntaxError("the expression is nested too deeply", self.peek().position)
        left = self.unary()
        while True:
            token = self.peek()
            level = PRECEDENCE.get(token.text) if token.kind == "op" else None
            if level is None or level < min_level:
                break
            self.take()
            # ^ is right-associative: its right side may hold another ^.
            right = self.expression(level if token.text == "^" else level + 1)
            if token.text in _COMPARISONS and isinstance(left, Binary) and left.op in _COMPARISONS:
                raise MathSyntaxError("comparisons cannot be chained", token.position)
            op = {"&&": "AND", "||": "OR"}.get(token.text, token.text)
            left = Binary(op, left, right, token.position)
        self.depth -= 1
        return left

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in ("-", "+"):
            self.take()
            self.depth += 1  # "- - - … m1" recurses here, not through expression()
            if self.depth > MAX_DEPTH:
                raise MathSyntaxError("the expression is nested too deeply", token.position)
            operand = self.unary()
            self.depth -= 1
            if token.text == "+":
                return operand
            if isinstance(operand, Number):
                return Number(-operand.value, token.position)
            return Unary("-", operand, token.position)
        node = self.primary()
        if self.peek().kind == "op" and self.peek().text == "^":
            op = self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise MathSyntaxError("the expression is nested too deeply", op.position)
            exponent = self.unary()
            self.depth -= 1
            node = Binary("^", node, exponent, op.position)
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "num":
            return Number(float(token.text), token.position)
        if token.kind == "str":
            return String(token.text, token.position)
        if token.kind == "(":
            node = self.expression(1)
            self.expect(")")
            return node
        if token.kind == "[":
            items = self.items("]")
            return ArrayLiteral(tuple(items), token.position)
        if token.kind == "ident":
            if self.peek().kind == "(":
                self.take()
                args = self.items(")")
                return Call(token.text.upper(), tuple(args), token.position)
            return Name(token.text, token.position)
        raise MathSyntaxError(f"unexpected {_describe(token)}", token.position)

    def items(self, closing: str) -> list[Node]:
        items: list[Node] = []
        if self.peek().kind == closing:
            self.take()
            return items
        while True:
            items.append(self.expression(1))
            token = self.take()
            if token.kind == closing:
                return items
            if token.kind != ",":
                raise MathSyntaxError(
                    f"expected ',' or {closing!r} but found {_describe(token)}", token.position
                )
