"""Filter pattern text → ``Pattern``: the form is chosen by the first character (``{`` JSON,
``[`` space-delimited, else terms; blank matches everything)."""

from __future__ import annotations

import re

from vigil.syntax import regex
from vigil.syntax.filterpattern import lexer
from vigil.syntax.filterpattern.ast import BoolOp, Condition, FieldCond, JsonCond, SpaceField, Term
from vigil.syntax.filterpattern.lexer import PatternError, Scanner
from vigil.syntax.filterpattern.pattern import Pattern


def parse(text: str) -> Pattern:
    stripped = text.strip()
    if not stripped:
        return Pattern(text, "all")
    if stripped.startswith("{"):
        return Pattern(text, "json", json=_JsonParser(stripped).parse())
    if stripped.startswith("["):
        return Pattern(text, "space", space=_SpaceParser(stripped).parse())
    return Pattern(text, "terms", terms=_parse_terms(stripped))


def _parse_terms(text: str) -> list[Term]:
    terms: list[Term] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        mode = ""
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            mode = text[i]
            i += 1
        if text[i] == '"':
            end = lexer.string_end(text, i)
            terms.append(Term(lexer.unquote(text[i : end + 1]), mode))
            i = end + 1
            continue
        if text[i] == "%":
            end = text.find("%", i + 1)
            if end < 0:
                raise PatternError(f"unterminated regular expression at position {i}")
            try:
                compiled = regex.compile(text[i + 1 : end])
            except regex.RegexError as exc:
                raise PatternError(
                    f"invalid regular expression at position {i}: {exc.reason}"
                ) from None
            terms.append(Term(text[i : end + 1], mode, compiled))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        word = text[i:j]
        if any(c in word for c in '"{}[]'):
            raise PatternError(f"unexpected character in term {word!r} at position {i}")
        terms.append(Term(word, mode))
        i = j
    if any(t.mode == "?" for t in terms) and any(t.mode == "" for t in terms):
        raise PatternError("a pattern with ?terms cannot also have required terms")
    return terms


# How deep parentheses may nest in a JSON pattern (CloudWatch caps a pattern at 1,024
# characters; this keeps the parser and the matcher, both recursive, far from Python's stack
# limit).
MAX_DEPTH = 64


class _JsonParser(Scanner):
    depth = 0

    def parse(self) -> Condition:
        self.take("{")
        expr = self.or_expr()
        self.take("}")
        self.skip()
        if self.pos != len(self.text):
            raise self.error("unexpected text after '}'")
        return expr

    def or_expr(self) -> Condition:
        items = [self.and_expr()]
        while self.peek("||"):
            self.pos += 2
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("||", tuple(items))

    def and_expr(self) -> Condition:
        items = [self.unary()]
        while self.peek("&&"):
            self.pos += 2
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("&&", tuple(items))

    def unary(self) -> Condition:
        if self.peek("("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"parentheses nested deeper than {MAX_DEPTH}")
            self.pos += 1
            expr = self.or_expr()
            self.take(")")
            self.depth -= 1
            return expr
        self.skip()
        selector, self.pos = lexer.selector(self.text, self.pos)
        if self.peek_word("IS"):
            self.pos += 2
            for word in ("NULL", "TRUE", "FALSE"):
                if self.peek_word(word):
                    self.pos += len(word)
                    return JsonCond(selector, f"IS {word}")
            raise self.error("expected NULL, TRUE or FALSE after IS")
        if self.peek_word("NOT"):
            self.pos += 3
            if not self.peek_word("EXISTS"):
                raise self.error("expected EXISTS after NOT")
            self.pos += 6
            return JsonCond(selector, "NOT EXISTS")
        if self.peek_word("EXISTS"):
            self.pos += 6
            return JsonCond(selector, "EXISTS")
        op = self.op()
        return JsonCond(selector, op, self.value(stop="()&|}"))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")


class _SpaceParser(Scanner):
    def parse(self) -> list[SpaceField]:
        self.take("[")
        fields: list[SpaceField] = []
        while True:
            fields.append(self.field())
            if self.peek(","):
                self.pos += 1
                continue
            self.take("]")
            break
        self.skip()
        if self.pos != len(self.text):
            raise self.error("unexpected text after ']'")
        names = [f.name for f in fields if f.name != "..."]
        if len(names) != len(set(names)):
            raise PatternError("a field name is used twice in the pattern")
        return fields

    def field(self) -> SpaceField:
        if self.peek("..."):
            self.pos += 3
            return SpaceField("...")
        name = self.name()
        if self.peek(",") or self.peek("]"):
            return SpaceField(name)
        conds: list[Condition] = [FieldCond(name, self.op(), self.value(stop=",]&|"))]
        joins: list[str] = []
        while self.peek("&&") or self.peek("||"):
            joins.append(self.text[self.pos : self.pos + 2])
            self.pos += 2
            other = self.name()
            if other != name:
                raise self.error(f"a condition of field {name!r} names {other!r}")
            conds.append(FieldCond(name, self.op(), self.value(stop=",]&|")))
        return SpaceField(name, _combine(conds, joins))

    def name(self) -> str:
        self.skip()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected a field name")
        self.pos = match.end()
        return match.group(0)


def _combine(conds: list[Condition], joins: list[str]) -> Condition:
    """&& binds tighter than ||."""
    if not joins:
        return conds[0]
    groups: list[list[Condition]] = [[conds[0]]]
    for join, cond in zip(joins, conds[1:], strict=True):
        if join == "&&":
            groups[-1].append(cond)
        else:
            groups.append([cond])
    ors = [g[0] if len(g) == 1 else BoolOp("&&", tuple(g)) for g in groups]
    return ors[0] if len(ors) == 1 else BoolOp("||", tuple(ors))
