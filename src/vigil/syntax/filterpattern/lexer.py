"""Tokens of filter patterns: quoted strings, ``%regex%``, selectors, operators, values.

``Scanner`` walks the text for the JSON and space-delimited parsers; errors name the
0-based character position.
"""

from __future__ import annotations

import re

from vigil.syntax import regex
from vigil.syntax.filterpattern.ast import OPERATORS, Selector, Value


class PatternError(ValueError):
    """A filter pattern that cannot be parsed; the message names the position."""


def value_of(text: str, quoted: bool) -> Value:
    """The literal ``text``: ``%…%`` a regex, unquoted numbers numbers, ``*`` wildcards."""
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        try:
            return Value(text, regex=regex.compile(text[1:-1]))
        except regex.RegexError as exc:
            raise PatternError(f"invalid regular expression {text}: {exc.reason}") from None
    number = None
    if not quoted:
        try:
            number = float(text)
        except ValueError:
            number = None
    glob = None
    if "*" in text:
        # RE2 too: Python's engine backtracks on "*a*a*a*…b" globs (polynomial, not linear).
        glob = regex.compile("(?s)" + ".*".join(regex.escape(p) for p in text.split("*")))
    return Value(text, number=number, glob=glob)


def string_end(text: str, start: int) -> int:
    """The index of the quote closing the string that opens at ``start``."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise PatternError(f"unterminated string starting at position {start}")


def unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_@$\-]+)|\[(-?\d+)\]|\.\"([^\"]*)\"")


def selector(text: str, pos: int) -> tuple[Selector, int]:
    """The selector (``$.a.b[0]``) at ``pos`` and the position after it."""
    if not text.startswith("$", pos):
        raise PatternError(f"expected a selector like $.field at position {pos}")
    i = pos + 1
    path: list[str | int] = []
    while i < len(text):
        match = _SELECTOR_STEP.match(text, i)
        if not match:
            break
        if match.group(1) is not None:
            path.append(match.group(1))
        elif match.group(2) is not None:
            path.append(int(match.group(2)))
        else:
            path.append(match.group(3))
        i = match.end()
    if not path:
        raise PatternError(f"expected a selector like $.field at position {pos}")
    return Selector(text[pos:i], tuple(path)), i


class Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, word: str) -> bool:
        self.skip()
        return self.text.startswith(word, self.pos)

    def peek_word(self, word: str) -> bool:
        self.skip()
        end = self.pos + len(word)
        return self.text[self.pos : end].upper() == word and (
            end >= len(self.text) or not (self.text[end].isalnum() or self.text[end] == "_")
        )

    def take(self, word: str) -> None:
        if not self.peek(word):
            raise self.error(f"expected {word!r}")
        self.pos += len(word)

    def error(self, message: str) -> PatternError:
        found = self.text[self.pos : self.pos + 10] or "end of pattern"
        return PatternError(f"{message} at position {self.pos} (found {found!r})")

    def op(self) -> str:
        self.skip()
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected a comparison operator (= != < <= > >=)")

    def value(self, stop: str) -> Value:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        if self.text[self.pos] == '"':
            end = string_end(self.text, self.pos)
            raw = self.text[self.pos : end + 1]
            self.pos = end + 1
            return value_of(unquote(raw), quoted=True)
        if self.text[self.pos] == "%":
            end = self.text.find("%", self.pos + 1)
            if end < 0:
                raise self.error("unterminated regular expression")
            raw = self.text[self.pos : end + 1]
            self.pos = end + 1
            return value_of(raw, quoted=False)
        start = self.pos
        while (
            self.pos < len(self.text)
            and not self.text[self.pos].isspace()
            and self.text[self.pos] not in stop
        ):
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a value")
        return value_of(self.text[start : self.pos], quoted=False)
