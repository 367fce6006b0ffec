"""User regular expressions, matched in time linear in the text (RE2).

Contract: every regular expression a user hands vigil (``%…%`` in filter patterns and
metric filters, Insights ``like /…/``, ``=~`` and ``parse``, ``/api/v1/logs?regex=``)
is compiled here, never by Python's ``re``: Python's engine backtracks, so ``(a+)+$``
against ``'a'*40 + '!'`` runs for hours and, at ingest, stalls the event loop. RE2 (the
engine ClickHouse uses for ``match``, so what passes here also compiles in the store)
has no backtracking and refuses what it cannot run in linear time: lookarounds,
backreferences, repetitions over 1,000, programs over ``MAX_MEM``. ``compile`` raises
``RegexError`` for those with RE2's reason; callers add where the regex sits (field,
position) and answer it in their protocol's shape.
"""

from __future__ import annotations

from typing import Any

import re2

# RE2's memory budget for one compiled program; a pattern that needs more is refused
# ("pattern too large") rather than allowed to grow (RE2's default is the same 8 MiB).
MAX_MEM = 8 << 20

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the refusal goes to the client, not to stderr
_OPTIONS.max_mem = MAX_MEM
# ClickHouse's ``match`` lets ``.`` match a line break; the same here, so a regex means the
# same thing whether the store or Python runs it (a store pre-filter must never drop a row
# the Python match would keep). ``(?-s)`` turns it off in the pattern.
_OPTIONS.dot_nl = True


class RegexError(ValueError):
    """A pattern RE2 cannot compile; ``reason`` is RE2's, e.g. ``invalid perl operator: (?=``."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid regular expression {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class Regex:
    """A compiled user regex: ``search`` anywhere in a text, in linear time."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def search(self, text: str) -> bool:
        """True when the regex matches somewhere in ``text``."""
        try:
            return self._compiled.search(text) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8
            return self._compiled.search(text.encode("utf-8", "replace").decode()) is not None

    def fullmatch(self, text: str) -> bool:
        try:
            return self._compiled.fullmatch(text) is not None
        except UnicodeEncodeError:
            return self._compiled.fullmatch(text.encode("utf-8", "replace").decode()) is not None

    @property
    def groupindex(self) -> dict[str, int]:
        """Named groups and their 1-based positions."""
        return dict(self._compiled.groupindex)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


def compile(pattern: str) -> Regex:
    """``pattern`` compiled by RE2, or ``RegexError`` naming what RE2 refused."""
    try:
        return Regex(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise RegexError(pattern, text) from None
    except UnicodeEncodeError:
        raise RegexError(pattern, "the pattern is not valid Unicode text") from None


def check(pattern: str) -> None:
    """Raise ``RegexError`` unless RE2 compiles ``pattern`` (for regexes run in the store)."""
    compile(pattern)


def escape(text: str) -> str:
    """``text`` with every RE2 metacharacter escaped."""
    return str(re2.escape(text))
