"""A time bound for running one user expression in Python (metric math, filter patterns).

Contract: ``Deadline(seconds, clock)`` is passed into an evaluator, which calls
``check()`` between steps; past the bound ``check`` raises ``ExpressionTimeout`` (the API
answers it as a limit error in its protocol's shape) and ``expired()`` lets a scan stop
early and answer a partial page instead. Expressions run in the store are bounded there
(``max_execution_time``); this bounds the Python side.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The bound the APIs give one expression's Python work.
EXPRESSION_SECONDS = 10.0


class ExpressionTimeout(Exception):
    """A user expression ran past its time bound."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the expression ran longer than its bound of {seconds:g} s")
        self.seconds = seconds


class Deadline:
    __slots__ = ("_clock", "_end", "seconds")

    def __init__(
        self, seconds: float = EXPRESSION_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def expired(self) -> bool:
        return self._clock() > self._end

    def check(self) -> None:
        if self.expired():
            raise ExpressionTimeout(self.seconds)
