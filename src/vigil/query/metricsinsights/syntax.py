"""The Metrics Insights query language: tokens and the parser, text → ``Query``.

    SELECT FUNCTION(metricName)
    FROM namespace | SCHEMA(namespace [, labelKey ...])
    [ WHERE condition ]
    [ GROUP BY labelKey [, ...] ]
    [ ORDER BY FUNCTION() [ ASC | DESC ] ]
    [ LIMIT number ]

Keywords are case-insensitive, identifiers (namespace, metric name, label keys) are not.
An identifier holding anything but letters, digits and ``_``, or spelling a keyword of the
language, is written in double quotes; label values always in single quotes. Inside
either kind of quotes a backslash escapes the next character (``"Bytes\\"In\\""``); a
doubled quote inside single quotes is one quote (``'it''s'``, as SQL writes it).

Conditions: ``key = 'v'``, ``key != 'v'``, ``key IN ('a', 'b')``, ``key NOT IN (…)``,
``key LIKE 'pre%'`` (``%`` any run, ``_`` one character), combined with ``AND``, ``OR``
and parentheses (AND binds tighter than OR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNCTIONS = ("AVG", "COUNT", "MAX", "MIN", "SUM")
MAX_LIMIT = 500
# The words the grammar itself uses: unquoted, they cannot name a namespace, metric or key.
# (CloudWatch reserves a longer list of SQL words; vigil refuses only these.)
KEYWORDS = frozenset(
    {"SELECT", "FROM", "SCHEMA", "WHERE", "GROUP", "ORDER", "BY", "ASC", "DESC", "LIMIT"}
    | {"AND", "OR", "NOT", "IN", "LIKE", "WITH", *FUNCTIONS}
)


class InsightsSyntaxError(ValueError):
    """A query that does not parse: ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"Syntax error at position {position}: {message}")
        self.position = position
        self.reason = message


@dataclass(frozen=True, slots=True)
class Compare:
    """``key op value``; op is ``=``, ``!=``, ``IN``, ``NOT IN`` or ``LIKE``."""

    key: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # AND | OR
    left: Condition
    right: Condition


Condition = Compare | Logical


@dataclass(frozen=True, slots=True)
class Query:
    function: str  # AVG COUNT MAX MIN SUM
    metric: str
    namespace: str
    schema: tuple[str, ...] | None  # None: FROM namespace; else SCHEMA's exact label keys
    where: Condition | None = None
    group_by: tuple[str, ...] = ()
    order_function: str | None = None
    descending: bool = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | ident (double-quoted) | string (single-quoted) | number | op | end
    text: str
    position: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+")
_OPS = ("!=", "<>", "=", "(", ")", ",")


def looks_like_insights(text: str) -> bool:
    """Whether an Expression is a Metrics Insights query (it starts with SELECT)."""
    return re.match(r"\s*SELECT\b", text, re.IGNORECASE) is not None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            value, i2 = _quoted(text, i)
            tokens.append(Token("ident" if ch == '"' else "string", value, i))
            i = i2
            continue
        match = _WORD.match(text, i)
        if match:
            tokens.append(Token("word", match.group(0), i))
            i = match.end()
            continue
        match = _NUMBER.match(text, i)
        if match:
            tokens.append(Token("number", match.group(0), i))
            i = match.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is None:
            raise InsightsSyntaxError(
                f"unexpected character {ch!r}: a namespace, metric name or label key holding"
                " characters other than letters, digits and _ is written in double quotes",
                i,
            )
        tokens.append(Token("op", "!=" if op == "<>" else op, i))
        i += len(op)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            if quote == "'" and text.startswith("''", i):
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    what = "label value" if quote == "'" else "quoted identifier"
    raise InsightsSyntaxError(f"unterminated {what}", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is_kw(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.upper() in words

    def _kw(self, word: str) -> Token:
        if not self._is_kw(word):
            raise InsightsSyntaxError(
                f"expected {word}, found {_show(self.tok)}", self.tok.position
            )
        return self._next()

    def _op(self, op: str) -> Token:
        if not (self.tok.kind == "op" and self.tok.text == op):
            raise InsightsSyntaxError(
                f"expected '{op}', found {_show(self.tok)}", self.tok.position
            )
        return self._next()

    def _at_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == op

    def identifier(self, what: str) -> str:
        tok = self.tok
        if tok.kind == "ident":
            if not tok.text:
                raise InsightsSyntaxError(f"the {what} is empty", tok.position)
            self.i += 1
            return tok.text
        if tok.kind == "word":
            if tok.text.upper() in KEYWORDS:
                raise InsightsSyntaxError(
                    f"{tok.text} is a reserved keyword: write the {what} in double quotes"
                    f' ("{tok.text}")',
                    tok.position,
                )
            self.i += 1
            return tok.text
        raise InsightsSyntaxError(f"expected the {what}, found {_show(tok)}", tok.position)

    def function(self) -> str:
        tok = self.tok
        if tok.kind != "word" or tok.text.upper() not in FUNCTIONS:
            raise InsightsSyntaxError(
                f"expected one of {', '.join(FUNCTIONS)}, found {_show(tok)}", tok.position
            )
        self.i += 1
        return tok.text.upper()

    def query(self) -> Query:
        self._kw("SELECT")
        function = self.function()
        self._op("(")
        metric = self.identifier("metric name")
        self._op(")")
        self._kw("FROM")
        schema: tuple[str, ...] | None = None
        if self._is_kw("SCHEMA") and self.tokens[self.i + 1].text == "(":
            self.i += 2
            namespace = self.identifier("namespace")
            keys: list[str] = []
            while self._at_op(","):
                self.i += 1
                keys.append(self.identifier("label key"))
            self._op(")")
            schema = tuple(keys)
        else:
            namespace = self.identifier("namespace")
        where = None
        if self._is_kw("WHERE"):
            self.i += 1
            where = self.condition()
        group: list[str] = []
        if self._is_kw("GROUP"):
            self.i += 1
            self._kw("BY")
            group.append(self.identifier("label key"))
            while self._at_op(","):
                self.i += 1
                group.append(self.identifier("label key"))
        order, descending = None, False
        if self._is_kw("ORDER"):
            self.i += 1
            self._kw("BY")
            order = self.function()
            self._op("(")
            self._op(")")
            if self._is_kw("ASC", "DESC"):
                descending = self._next().text.upper() == "DESC"
        limit = None
        if self._is_kw("LIMIT"):
            self.i += 1
            tok = self.tok
            if tok.kind != "number":
                raise InsightsSyntaxError(f"expected a number, found {_show(tok)}", tok.position)
            self.i += 1
            limit = int(tok.text)
            if not 1 <= limit <= MAX_LIMIT:
                raise InsightsSyntaxError(
                    f"LIMIT must be between 1 and {MAX_LIMIT}, not {limit}", tok.position
                )
        if self.tok.kind != "end":
            raise InsightsSyntaxError(f"unexpected {_show(self.tok)}", self.tok.position)
        return Query(
            function, metric, namespace, schema, where, tuple(group), order, descending, limit
        )

    def condition(self) -> Condition:
        left = self.conjunction()
        while self._is_kw("OR"):
            self.i += 1
            left = Logical("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.primary()
        while self._is_kw("AND"):
            self.i += 1
            left = Logical("AND", left, self.primary())
        return left

    def primary(self) -> Condition:
        if self._at_op("("):
            self.i += 1
            inner = self.condition()
            self._op(")")
            return inner
        key = self.identifier("label key")
        tok = self.tok
        if tok.kind == "op" and tok.text in ("=", "!="):
            self.i += 1
            return Compare(key, tok.text, (self.value(),))
        if self._is_kw("LIKE"):
            self.i += 1
            return Compare(key, "LIKE", (self.value(),))
        negate = False
        if self._is_kw("NOT"):
            self.i += 1
            negate = True
        if self._is_kw("IN"):
            self.i += 1
            self._op("(")
            values = [self.value()]
            while self._at_op(","):
                self.i += 1
                values.append(self.value())
            self._op(")")
            return Compare(key, "NOT IN" if negate else "IN", tuple(values))
        raise InsightsSyntaxError(
            f"expected =, !=, IN, NOT IN or LIKE after {key!r}, found {_show(self.tok)}",
            self.tok.position,
        )

    def value(self) -> str:
        tok = self.tok
        if tok.kind != "string":
            raise InsightsSyntaxError(
                f"expected a label value in single quotes, found {_show(tok)}", tok.position
            )
        self.i += 1
        return tok.text


def _show(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the query"
    if tok.kind == "string":
        return f"'{tok.text}'"
    if tok.kind == "ident":
        return f'"{tok.text}"'
    return repr(tok.text)


def parse(text: str) -> Query:
    """The query of ``text``; ``InsightsSyntaxError`` naming the position otherwise."""
    return _Parser(text).query()
