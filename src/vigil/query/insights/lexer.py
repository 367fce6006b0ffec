"""Tokens of the Logs Insights language.

Kinds: ``name`` (identifiers, ``@fields``, dotted paths, ``a[0]`` → ``a.0``, backquoted
names), ``number``, ``duration`` (``5m``, ``1h``), ``string`` ('…' or "…"), ``regex``
(``/…/``, only where an operand may start), ``op`` (punctuation and operators), ``pipe``,
``end``. ``#`` starts a comment that runs to the end of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.query.insights.errors import QuerySyntaxError

UNITS = {
    "ms": "ms",
    "msec": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "week": "w",
    "weeks": "w",
    "mo": "mo",
    "month": "mo",
    "months": "mo",
    "q": "q",
    "qtr": "q",
    "quarter": "q",
    "quarters": "q",
    "y": "y",
    "yr": "y",
    "year": "y",
    "years": "y",
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str  # the value: unescaped string, regex body, canonical name, operator
    start: int
    end: int
    quoted: bool = False  # a backquoted name


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DURATION = re.compile(r"([0-9]+)([A-Za-z]+)")
_NAME = re.compile(r"[@A-Za-z_$][@A-Za-z0-9_$]*(?:(?:\.[@A-Za-z0-9_$\-]+)|\[\d+\])*")
_OPS = ("!=", "<=", ">=", "=~", "==", "=", "<", ">", "+", "-", "*", "/", "%", "^")
_PUNCT = "(),[]:"
_OPERAND_END = {"name", "number", "duration", "string", "regex"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == "|":
            tokens.append(Token("pipe", "|", i, i + 1))
            i += 1
            continue
        if ch in "'\"":
            end, value = _string(text, i)
            tokens.append(Token("string", value, i, end))
            i = end
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise QuerySyntaxError(f"unterminated `name` at position {i}", i, n)
            tokens.append(Token("name", text[i + 1 : end], i, end + 1, quoted=True))
            i = end + 1
            continue
        if ch == "/" and not _after_operand(tokens):
            end, value = _regex(text, i)
            tokens.append(Token("regex", value, i, end))
            i = end
            continue
        if "0" <= ch <= "9":
            match = _DURATION.match(text, i)
            if match and match.group(2).lower() in UNITS and not _continues(text, match.end()):
                unit = UNITS[match.group(2).lower()]
                tokens.append(Token("duration", f"{match.group(1)}{unit}", i, match.end()))
                i = match.end()
                continue
            num = _NUMBER.match(text, i)
            assert num is not None
            if _continues(text, num.end()):
                raise QuerySyntaxError(
                    f"unexpected character {text[num.end()]!r} after number at position"
                    f" {num.end()}",
                    num.end(),
                    num.end() + 1,
                )
            tokens.append(Token("number", num.group(0), i, num.end()))
            i = num.end()
            continue
        match = _NAME.match(text, i)
        if match:
            name = re.sub(r"\[(\d+)\]", r".\1", match.group(0))
            tokens.append(Token("name", name, i, match.end()))
            i = match.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                tokens.append(Token("op", "=" if op == "==" else op, i, i + len(op)))
                i += len(op)
                break
        else:
            if ch in _PUNCT:
                tokens.append(Token("op", ch, i, i + 1))
                i += 1
                continue
            raise QuerySyntaxError(f"unexpected character {ch!r} at position {i}", i, i + 1)
    tokens.append(Token("end", "", n, n))
    return tokens


def _continues(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos].isalnum() or text[pos] in "_@")


def _after_operand(tokens: list[Token]) -> bool:
    if not tokens:
        return False
    last = tokens[-1]
    if (
        len(tokens) >= 2
        and tokens[-2].kind == "name"
        and tokens[-2].text.lower() == "parse"
        and (len(tokens) == 2 or tokens[-3].kind == "pipe")
    ):
        return False  # parse FIELD /regex/
    if (
        last.kind == "name"
        and not last.quoted
        and last.text.lower() in _COMMAND_WORDS
        and (len(tokens) == 1 or tokens[-2].kind == "pipe")
    ):
        return False  # a command word: an operand starts after it
    if last.kind in _OPERAND_END:
        return last.kind != "name" or last.quoted or last.text.lower() not in _WORD_OPERATORS
    return last.kind == "op" and last.text in (")", "]")


_COMMAND_WORDS = {
    "fields", "display", "filter", "stats", "sort", "limit", "parse", "dedup", "unnest",
    "pattern", "diff",
}  # fmt: skip
# Words after which an operand (so possibly a regex) starts.
_WORD_OPERATORS = {"like", "and", "or", "not", "in", "by", "filter", "parse", "as"}


def _string(text: str, start: int) -> tuple[int, str]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(nxt if nxt in (quote, "\\", "'", '"') else "\\" + nxt)
            i += 2
            continue
        if ch == quote:
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise QuerySyntaxError(f"unterminated string starting at position {start}", start, len(text))


def _regex(text: str, start: int) -> tuple[int, str]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("/" if nxt == "/" else "\\" + nxt)
            i += 2
            continue
        if ch == "/":
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise QuerySyntaxError(
        f"unterminated regular expression starting at position {start}", start, len(text)
    )
