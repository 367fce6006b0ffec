"""The one reader of golden ``.test`` files (format and plug-in API: tests/golden/README.md).

A file is a list of blocks. A block is a header line at column 0 and the indented lines
under it (its body); lines whose first non-blank character is ``#`` and blank lines are
skipped everywhere. Three verbs make the frame, in the spirit of Prometheus' promqltest:

* ``load KIND …``: data in (log events, metric points, trace documents …);
* ``eval KIND … [at T]``: something evaluated (a query, an alarm over a timeline …);
* ``expect …``: what the ``eval`` above it must give (several may follow one ``eval``):
  ``expect error TEXT`` for a refusal, ``tolerance=X`` for numbers, ``at T`` lines in the
  body for timelines.

What a KIND means is not the reader's business: a ``Frame`` holds a registry of kinds
(``frame.register("metrics", MetricsKind(…))``) and hands each block to the one it names.
A kind implements ``load`` and/or ``eval`` and ``expect`` (see ``Kind``); a new kind (an
``alarm``, say) plugs in without touching this module.
"""

from __future__ import annotations

import math
import re
import shlex
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

VERBS = ("load", "eval", "expect")
DEFAULT_TOLERANCE = 1e-9

_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$")
_SECONDS = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class GoldenError(AssertionError):
    """A file the reader cannot read, or an expectation that failed; names ``file:line``."""


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``1.5m``, ``2h``, ``1d``, ``500ms`` (no unit: seconds)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration (like 90, 90s, 5m, 2h, 1d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def instant(text: str) -> float:
    """A time: RFC 3339 (``2026-11-24T10:00:00Z``, seconds since the epoch) or a duration
    (an offset from the file's base time, which the kind chooses)."""
    if "T" in text and "-" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return duration(text)


def close(got: float, want: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """``got`` within ``tolerance`` (relative) of ``want``, or 1e-9 absolute; NaN == NaN."""
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return math.isclose(got, want, rel_tol=tolerance, abs_tol=1e-9)


@dataclass(frozen=True)
class Block:
    """One header line and its body.

    ``verb`` is the header's first word; for ``load``/``eval`` ``kind`` is the second (for
    ``expect``, the kind of its ``eval``). ``text`` is the rest of the header as written
    (for kinds whose header is an expression); ``words`` and ``options`` are it split
    shell-like, ``key=value`` words in ``options``, the others in ``words``. A trailing
    ``at T`` is taken off into ``at``.
    """

    path: Path
    line: int
    verb: str
    kind: str
    text: str
    body: tuple[str, ...]
    at: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @cached_property
    def _split(self) -> tuple[tuple[str, ...], dict[str, str]]:
        words: list[str] = []
        options: dict[str, str] = {}
        for word in shlex.split(self.text):
            key, eq, value = word.partition("=")
            if eq and key.isidentifier():
                options[key] = value
            else:
                words.append(word)
        return tuple(words), options

    @property
    def words(self) -> tuple[str, ...]:
        return self._split[0]

    @property
    def options(self) -> dict[str, str]:
        return self._split[1]

    @property
    def error(self) -> str | None:
        """For ``expect error TEXT``: TEXT (the rest of the header, as written)."""
        if self.verb == "expect" and self.text.split(" ", 1)[0] == "error":
            return self.text.partition(" ")[2].strip()
        return None

    @property
    def tolerance(self) -> float:
        return float(self.options.get("tolerance", DEFAULT_TOLERANCE))

    @property
    def ordered(self) -> bool:
        """``expect ordered``: rows compare in order (else as a multiset)."""
        return "ordered" in self.words

    def timeline(self) -> Iterator[tuple[str, str]]:
        """The body's ``at T REST`` lines as (T, REST): states or values at times."""
        for number, line in enumerate(self.body, start=1):
            word, _, rest = line.partition(" ")
            head, _, tail = rest.partition(" ")
            if word != "at" or not head:
                raise GoldenError(f"{self.where}: body line {number} is not 'at T …': {line!r}")
            yield head, tail.strip()

    def fail(self, message: str) -> GoldenError:
        return GoldenError(f"{self.where}: {message}")


@dataclass
class Case:
    """An ``eval`` block and the ``expect`` blocks under it."""

    eval: Block
    expects: list[Block] = field(default_factory=list)


class Loader(Protocol):
    """A kind that takes data: ``load(block)`` (it may buffer the data and send it all at
    its first ``eval``)."""

    def load(self, block: Block) -> None: ...


class Evaluator(Protocol):
    """A kind that evaluates and checks.

    * ``eval(block)``: evaluate and return the outcome (any value); an exception it raises
      is the outcome when an ``expect error`` follows, and otherwise fails the case;
    * ``expect(block, outcome)``: compare; raise ``block.fail(…)`` or AssertionError on a
      difference. For ``expect error`` blocks ``outcome`` is the exception.
    """

    def eval(self, block: Block) -> Any: ...

    def expect(self, block: Block, outcome: Any) -> None: ...


# A kind is a loader, an evaluator, or both (one object registered under two names, say
# ``series`` and ``metrics``, sharing the file's state).
Kind = Loader | Evaluator


def read(path: Path) -> list[Block]:
    """The blocks of a file, in order. Indented lines belong to the header above them."""
    blocks: list[Block] = []
    header: tuple[int, str] | None = None
    body: list[str] = []
    last_kind = ""

    def close_block() -> None:
        nonlocal last_kind
        if header is None:
            return
        number, line = header
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if verb not in VERBS:
            raise GoldenError(f"{path.name}:{number}: {verb!r} is not one of {', '.join(VERBS)}")
        at = None
        words = rest.rsplit(" ", 2)
        if len(words) >= 2 and words[-2] == "at" and _is_time(words[-1]):
            at = words[-1]
            rest = " ".join(words[:-2]) if len(words) == 3 else ""
        if verb == "expect":
            if not last_kind:
                raise GoldenError(f"{path.name}:{number}: expect before any eval")
            kind, text = last_kind, rest
        else:
            kind, _, text = rest.partition(" ")
            if not kind:
                raise GoldenError(f"{path.name}:{number}: {verb} needs a kind ({verb} KIND …)")
            if verb == "eval":
                last_kind = kind
        # The body keeps its indentation relative to its least indented line.
        lines = textwrap.dedent("\n".join(body)).splitlines()
        blocks.append(Block(path, number, verb, kind, text.strip(), tuple(lines), at))

    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            if header is None:
                raise GoldenError(f"{path.name}:{number}: indented line before any header")
            body.append(line)
            continue
        close_block()
        header, body = (number, line), []
    close_block()
    return blocks


def _is_time(text: str) -> bool:
    try:
        instant(text)
    except ValueError:
        return False
    return True


class Frame:
    """A registry of kinds, and the loop that runs a file through them."""

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = {}

    def register(self, name: str, kind: Kind) -> Frame:
        self.kinds[name] = kind
        return self

    def _kind(self, block: Block, method: str) -> Callable[..., Any]:
        kind = self.kinds.get(block.kind)
        if kind is None:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise block.fail(f"no kind {block.kind!r} is registered (known: {known})")
        call = getattr(kind, method, None)
        if call is None:
            raise block.fail(f"kind {block.kind!r} has no {method}")
        return call  # type: ignore[no-any-return]

    def run(self, path: Path) -> int:
        """Run every block of the file in order; returns the number of ``eval``s run.

        Failures are gathered (a failed case does not stop the next) and raised together
        at the end as one GoldenError naming each ``file:line``."""
        blocks = read(path)
        failures: list[str] = []
        evals = 0
        pending: Case | None = None
        for block in [*blocks, None]:
            if block is not None and block.verb == "expect":
                assert pending is not None  # read() refuses an expect before any eval
                pending.expects.append(block)
                continue
            if pending is not None:
                failures.extend(self._check(pending))
                evals += 1
                pending = None
            if block is None:
                break
            if block.verb == "load":
                self._kind(block, "load")(block)
            else:
                pending = Case(block)
        if failures:
            raise GoldenError("\n".join(failures))
        return evals

    def _check(self, case: Case) -> list[str]:
        wants_error = any(e.error is not None for e in case.expects)
        evaluate = self._kind(case.eval, "eval")
        try:
            outcome = evaluate(case.eval)
        except Exception as exc:
            if not wants_error:
                return [f"{case.eval.where}: {case.eval.text}: {type(exc).__name__}: {exc}"]
            outcome = exc
        if not case.expects:
            return [f"{case.eval.where}: eval without expect"]
        failures = []
        for expect in case.expects:
            if (expect.error is not None) != isinstance(outcome, Exception):
                got = f"error {outcome}" if isinstance(outcome, Exception) else "no error"
                failures.append(f"{expect.where}: expected {expect.text or 'a result'}, got {got}")
                continue
            try:
                self._kind(expect, "expect")(expect, outcome)
            except AssertionError as exc:
                text = str(exc)
                where = expect.where
                failures.append(text if text.startswith(where) else f"{where}: {text}")
        return failures
