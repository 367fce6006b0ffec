"""CloudWatch ``SEARCH()`` expressions: ``{Namespace,Dim1,Dim2} MetricName="x" term``.

* The optional schema in braces names the namespace and the exact set of dimension names
  the metrics must have (names may be double-quoted).
* Terms, combined with AND (implicit between terms), OR, NOT and parentheses:
  ``Name=value`` or ``Name="value"`` — the property (``MetricName``, ``Namespace`` or a
  dimension name) equals the value; ``"phrase"`` — the phrase appears, case-sensitive, in
  the namespace, the metric name or a dimension name or value; ``word`` — the same,
  ignoring case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"=]+)|(=))')


class SearchError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Candidate:
    namespace: str
    name: str
    dimensions: Mapping[str, str]


Predicate = Callable[[Candidate], bool]


@dataclass(frozen=True, slots=True)
class Search:
    namespace: str | None = None
    schema: frozenset[str] | None = None  # exact dimension names, when a schema is given
    predicate: Predicate = field(default=lambda c: True)

    def matches(self, c: Candidate) -> bool:
        if self.namespace is not None and c.namespace != self.namespace:
            return False
        if self.schema is not None and frozenset(c.dimensions) != self.schema:
            return False
        return self.predicate(c)


def parse_search(text: str) -> Search:
    body = text.strip()
    namespace: str | None = None
    schema: frozenset[str] | None = None
    if body.startswith("{"):
        close = body.find("}")
        if close < 0:
            raise SearchError("the schema has no closing '}'")
        parts = [p.strip().strip('"') for p in body[1:close].split(",")]
        if not parts or not parts[0]:
            raise SearchError("the schema must start with a namespace")
        namespace, schema = parts[0], frozenset(p for p in parts[1:] if p)
        body = body[close + 1 :]
    tokens = _tokens(body)
    if not tokens:
        return Search(namespace, schema)
    parser = _Parser(tokens)
    predicate = parser.or_expr()
    if parser.i != len(tokens):
        raise SearchError(f"unexpected {tokens[parser.i][1]!r} in the search expression")
    return Search(namespace, schema, predicate)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SearchError(f"cannot read the search expression at {text[pos:]!r}")
        lp, rp, quoted, word, eq = match.groups()
        if lp:
            out.append(("(", lp))
        elif rp:
            out.append((")", rp))
        elif quoted is not None:
            out.append(("phrase", re.sub(r"\\(.)", r"\1", quoted)))
        elif eq:
            out.append(("=", eq))
        else:
            out.append(("word", word))
        pos = match.end()
    return out


def _strings(c: Candidate) -> list[str]:
    return [c.namespace, c.name, *c.dimensions.keys(), *c.dimensions.values()]


def _property(name: str, value: str) -> Predicate:
    if name == "MetricName":
        return lambda c: c.name == value
    if name == "Namespace":
        return lambda c: c.namespace == value
    return lambda c: c.dimensions.get(name) == value


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while (t := self.peek()) is not None and t == ("word", "OR"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda c: any(p(c) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while (t := self.peek()) is not None and t[0] != ")" and t != ("word", "OR"):
            if t == ("word", "AND"):
                self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda c: all(p(c) for p in parts))

    def unary(self) -> Predicate:
        t = self.peek()
        if t is None:
            raise SearchError("the search expression ends too early")
        if t == ("word", "NOT"):
            self.i += 1
            inner = self.unary()
            return lambda c: not inner(c)
        if t[0] == "(":
            self.i += 1
            inner = self.or_expr()
            if self.peek() is None or self.peek()[0] != ")":  # type: ignore[index]
                raise SearchError("missing ')' in the search expression")
            self.i += 1
            return inner
        self.i += 1
        kind, text = t
        nxt = self.peek()
        if nxt is not None and nxt[0] == "=":
            self.i += 1
            value = self.peek()
            if value is None or value[0] not in ("word", "phrase"):
                raise SearchError(f"{text}= needs a value")
            self.i += 1
            return _property(text, value[1])
        if kind == "phrase":
            return lambda c: any(text in s for s in _strings(c))
        if kind == "word":
            low = text.lower()
            return lambda c: any(low in s.lower() for s in _strings(c))
        raise SearchError(f"unexpected {text!r} in the search expression")
