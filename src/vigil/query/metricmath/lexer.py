"""Tokens of metric math expressions.

Numbers (``12``, ``1.5``, ``2e3``), strings in single or double quotes (a backslash escapes
the next character), identifiers (query ids, function names and keywords such as REPEAT),
operators ``+ - * / ^ == != < <= > >= && ||``, the words AND/OR, parentheses, brackets and
commas. Every token keeps its position for error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vigil.query.metricmath.errors import MathSyntaxError

TokenKind = Literal["num", "str", "ident", "op", "(", ")", "[", "]", ",", "end"]

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "^", "<", ">")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()[],":
            tokens.append(Token(ch, ch, i))  # type: ignore[arg-type]
            i += 1
            continue
        if ch in "'\"":
            text, i = _string(source, i)
            tokens.append(text)
            continue
        match = _NUMBER.match(source, i)
        if match:
            tokens.append(Token("num", match.group(), i))
            i = match.end()
            continue
        match = _IDENT.match(source, i)
        if match:
            word = match.group()
            kind: TokenKind = "op" if word.upper() in ("AND", "OR") else "ident"
            tokens.append(Token(kind, word.upper() if kind == "op" else word, i))
            i = match.end()
            continue
        op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
        if op is None:
            raise MathSyntaxError(f"unexpected character {ch!r}", i)
        tokens.append(Token("op", op, i))
        i += len(op)
    tokens.append(Token("end", "", len(source)))
    return tokens


def _string(source: str, start: int) -> tuple[Token, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source):
            out.append(source[i + 1])
            i += 2
            continue
        if ch == quote:
            return Token("str", "".join(out), start), i + 1
        out.append(ch)
        i += 1
    raise MathSyntaxError("unterminated string", start)
