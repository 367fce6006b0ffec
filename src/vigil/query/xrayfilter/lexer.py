"""Tokens of filter expressions. Errors name the character position (0-based)."""

from __future__ import annotations

import re
from dataclasses import dataclass


class FilterError(ValueError):
    """A filter expression that cannot be parsed or compiled; ``pos`` is a 0-based offset."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} at position {pos}")
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # IDENT STRING NUMBER OP ( ) { } , : EOF
    text: str
    pos: int
    value: str | float | None = None


_WORD_OPS = {"AND": "AND", "OR": "OR", "NOT": "NOT"}
_SYMBOL_OPS = {"&&": "AND", "||": "OR", "!": "NOT"}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "/": "/",
    "b": "\b",
    "f": "\f",
}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(){},:":
            tokens.append(Token(ch, ch, i))
            i += 1
            continue
        two = text[i : i + 2]
        if two in ("!=", "<=", ">=", "&&", "||"):
            kind = "LOGIC" if two in _SYMBOL_OPS else "OP"
            tokens.append(Token(kind, _SYMBOL_OPS.get(two, two), i))
            i += 2
            continue
        if ch in "=<>":
            tokens.append(Token("OP", ch, i))
            i += 1
            continue
        if ch == "!":
            tokens.append(Token("LOGIC", "NOT", i))
            i += 1
            continue
        if ch in "\"'":
            value, end = _string(text, i)
            tokens.append(Token("STRING", text[i:end], i, value))
            i = end
            continue
        match = _NUMBER.match(text, i)
        if match and (ch.isdigit() or ch in "-."):
            tokens.append(Token("NUMBER", match.group(), i, float(match.group())))
            i = match.end()
            continue
        match = _IDENT.match(text, i)
        if match:
            word = match.group()
            upper = word.upper()
            if upper in _WORD_OPS:
                tokens.append(Token("LOGIC", upper, i))
            elif upper in ("CONTAINS", "BEGINSWITH", "ENDSWITH"):
                tokens.append(Token("OP", upper, i))
            else:
                tokens.append(Token("IDENT", word, i))
            i = match.end()
            continue
        raise FilterError(f"unexpected character {ch!r}", i)
    tokens.append(Token("EOF", "", n))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise FilterError(f"unknown escape \\{nxt}", i)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise FilterError("unterminated string", start)
