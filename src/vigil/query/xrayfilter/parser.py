"""Recursive-descent parser: tokens → AST, checking keywords, operators and value types.

expr     := or
or       := and (("OR" | "||") and)*
and      := unary (("AND" | "&&") unary)*
unary    := ("NOT" | "!") unary | "(" expr ")" | term
term     := keyword [op value]
          | "service" "(" [node] ")" [block]  |  "id" "(" idargs ")" [block]
          | "edge" "(" node "," node ")" [block]
          | "rootcause." kind "." level block
kind     := fault | error | throttle | responsetime      level := service | entity
node     := string | "id" "(" idargs ")"        idargs := (name|type) ":" string, …
block    := "{" expr "}"                          (inside: span keywords only)
"""

from __future__ import annotations

from vigil.query.xrayfilter.ast import (
    ORDER_OPS,
    STRING_OPS,
    And,
    Compare,
    Edge,
    Expr,
    NodeRef,
    Not,
    Or,
    RootCause,
    Service,
    Value,
)
from vigil.query.xrayfilter.lexer import FilterError, Token, tokenize

NUMBER_KEYWORDS = frozenset({"responsetime", "duration", "http.status"})
STRING_KEYWORDS = frozenset({"http.url", "http.method", "http.useragent", "http.clientip", "user"})
BOOLEAN_KEYWORDS = frozenset({"ok", "error", "fault", "throttle", "partial"})
ROOTCAUSE_KEYWORDS = frozenset({"name", "type", "message", "remote"})
# rootcause.responsetime: no message (nothing failed); coverage = share of the trace's time.
RESPONSETIME_KEYWORDS = frozenset({"name", "type", "remote", "coverage"})
ROOTCAUSE_NUMBERS = frozenset({"coverage"})
ROOTCAUSE_BOOLEANS = frozenset({"remote"})
ROOTCAUSE_KINDS = ("fault", "error", "throttle", "responsetime")
ROOTCAUSE_LEVELS = ("service", "entity")
MAX_DEPTH = 64
MAX_LENGTH = 2000  # X-Ray's own limit on FilterExpression

# Contexts: "trace" (top level), "span" (inside service/edge braces), "rootcause.KIND"
# (inside rootcause.KIND.LEVEL braces).


def parse(text: str) -> Expr:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "EOF":
        raise FilterError("empty filter expression", 0)
    expr = parser.expr("trace", 0)
    token = parser.peek()
    if token.kind != "EOF":
        raise FilterError(f"unexpected {token.text!r}", token.pos)
    return expr


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "EOF":
            self.i += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        token = self.next()
        if token.kind != kind:
            found = "the end" if token.kind == "EOF" else repr(token.text)
            raise FilterError(f"expected {what}, found {found}", token.pos)
        return token

    def expr(self, ctx: str, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise FilterError("expression nested too deeply", self.peek().pos)
        items = [self.conj(ctx, depth)]
        while self.peek().kind == "LOGIC" and self.peek().text == "OR":
            self.next()
            items.append(self.conj(ctx, depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self, ctx: str, depth: int) -> Expr:
        items = [self.unary(ctx, depth)]
        while self.peek().kind == "LOGIC" and self.peek().text == "AND":
            self.next()
            items.append(self.unary(ctx, depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, ctx: str, depth: int) -> Expr:
        token = self.peek()
        if depth > MAX_DEPTH:  # "!!!!…" recurses here without passing through expr()
            raise FilterError("expression nested too deeply", token.pos)
        if token.kind == "LOGIC" and token.text == "NOT":
            self.next()
            return Not(self.unary(ctx, depth + 1), token.pos)
        if token.kind == "(":
            self.next()
            inner = self.expr(ctx, depth + 1)
            self.expect(")", "')'")
            return inner
        if token.kind == "IDENT":
            return self.term(ctx, depth)
        found = "the end of the expression" if token.kind == "EOF" else repr(token.text)
        raise FilterError(f"expected a keyword or '(', found {found}", token.pos)

    def term(self, ctx: str, depth: int) -> Expr:
        token = self.next()
        word = token.text.lower()
        if word in ("service", "edge", "id") or word.startswith("rootcause"):
            if ctx != "trace":
                raise FilterError(f"{token.text} is not allowed inside {{ }}", token.pos)
            if word == "service":
                return self.service(token, depth)
            if word == "edge":
                return self.edge(token, depth)
            if word == "id":
                node = self.id_args(token)
                return Service(node, self.block(depth), token.pos)
            return self.rootcause(token, depth)
        return self.compare(token, ctx)

    def service(self, token: Token, depth: int) -> Expr:
        self.expect("(", "'(' after service")
        node = None if self.peek().kind == ")" else self.node()
        self.expect(")", "')'")
        return Service(node, self.block(depth), token.pos)

    def edge(self, token: Token, depth: int) -> Expr:
        self.expect("(", "'(' after edge")
        source = self.node()
        self.expect(",", "',' between the two services of edge()")
        dest = self.node()
        self.expect(")", "')'")
        return Edge(source, dest, self.block(depth), token.pos)

    def rootcause(self, token: Token, depth: int) -> Expr:
        parts = token.text.lower().split(".")
        if (
            len(parts) != 3
            or parts[0] != "rootcause"
            or parts[1] not in ROOTCAUSE_KINDS
            or parts[2] not in ROOTCAUSE_LEVELS
        ):
            raise FilterError(
                "expected rootcause.(fault|error|throttle|responsetime).(service|entity)",
                token.pos,
            )
        if self.peek().kind != "{":
            raise FilterError("expected '{' after " + token.text, self.peek().pos)
        self.next()
        inner = self.expr(f"rootcause.{parts[1]}", depth + 1)
        self.expect("}", "'}'")
        return RootCause(parts[1], parts[2], inner, token.pos)

    def block(self, depth: int) -> Expr | None:
        if self.peek().kind != "{":
            return None
        self.next()
        inner = self.expr("span", depth + 1)
        self.expect("}", "'}'")
        return inner

    def node(self) -> NodeRef:
        token = self.peek()
        if token.kind == "STRING":
            self.next()
            return NodeRef(name=str(token.value))
        if token.kind == "IDENT" and token.text.lower() == "id":
            self.next()
            return self.id_args(token)
        raise FilterError("expected a service name in quotes or id(...)", token.pos)

    def id_args(self, token: Token) -> NodeRef:
        self.expect("(", "'(' after id")
        values: dict[str, str] = {}
        while True:
            key = self.expect("IDENT", "name or type")
            if key.text.lower() not in ("name", "type") or key.text.lower() in values:
                raise FilterError(f"unexpected id() argument {key.text!r}", key.pos)
            self.expect(":", "':'")
            values[key.text.lower()] = str(self.expect("STRING", "a string in quotes").value)
            if self.peek().kind != ",":
                break
            self.next()
        self.expect(")", "')'")
        return NodeRef(values.get("name"), values.get("type"), is_id=True)

    def compare(self, token: Token, ctx: str) -> Expr:
        word = token.text.lower()
        is_annotation = word.startswith("annotation.") and len(word) > len("annotation.")
        keyword = "annotation." + token.text[len("annotation.") :] if is_annotation else word
        if ctx.startswith("rootcause"):
            allowed = (
                RESPONSETIME_KEYWORDS if ctx == "rootcause.responsetime" else ROOTCAUSE_KEYWORDS
            )
            if word not in allowed:
                raise FilterError(
                    f"unknown keyword {token.text!r} in {ctx} (expected one of"
                    f" {', '.join(sorted(allowed))})",
                    token.pos,
                )
            known = True
        else:
            known = is_annotation or word in NUMBER_KEYWORDS | STRING_KEYWORDS | BOOLEAN_KEYWORDS
            if word == "partial" and ctx == "span":
                raise FilterError("partial is not allowed inside { }", token.pos)
        if not known:
            raise FilterError(f"unknown keyword {token.text!r}", token.pos)
        if self.peek().kind != "OP":
            if is_annotation or word in BOOLEAN_KEYWORDS | ROOTCAUSE_BOOLEANS:
                return Compare(keyword, None, None, token.pos)
            raise FilterError(f"{token.text} needs an operator and a value", self.peek().pos)
        op_token = self.next()
        value_token = self.next()
        value = _value(value_token)
        _check(keyword, word, op_token, value, value_token, is_annotation)
        return Compare(keyword, op_token.text, value, token.pos)


def _value(token: Token) -> Value:
    if token.kind == "STRING":
        return str(token.value)
    if token.kind == "NUMBER":
        assert isinstance(token.value, float)
        return token.value
    if token.kind == "IDENT" and token.text.lower() in ("true", "false"):
        return token.text.lower() == "true"
    found = "the end" if token.kind == "EOF" else repr(token.text)
    raise FilterError(f"expected a value (string, number, true or false), found {found}", token.pos)


def _check(
    keyword: str, word: str, op: Token, value: Value, at: Token, is_annotation: bool
) -> None:
    kind = (
        "number" if isinstance(value, float) else "boolean" if isinstance(value, bool) else "string"
    )
    if word in NUMBER_KEYWORDS | ROOTCAUSE_NUMBERS:
        expected = "number"
    elif word in BOOLEAN_KEYWORDS | ROOTCAUSE_BOOLEANS:
        expected = "boolean"
    elif is_annotation:
        expected = kind
    else:
        expected = "string"
    if kind != expected:
        raise FilterError(f"{keyword} compares with a {expected}, not a {kind}", at.pos)
    if expected == "boolean" and op.text not in ("=", "!="):
        raise FilterError(f"{keyword} takes only = or !=", op.pos)
    if expected == "number" and op.text not in ("=", "!=", *ORDER_OPS):
        raise FilterError(f"{op.text} does not apply to numbers", op.pos)
    if expected == "string" and op.text not in STRING_OPS:
        raise FilterError(f"{op.text} does not apply to strings", op.pos)
