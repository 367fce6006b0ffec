"""Errors of the PromQL engine, in Prometheus' own vocabulary.

``errorType`` is what Prometheus' HTTP API puts in its error body (``bad_data`` for a query
it cannot parse or a parameter it cannot read, ``execution`` for a query that fails while
running, ``timeout``); the API maps each to Prometheus' status code (400, 422, 503).
"""

from __future__ import annotations


class PromQLError(Exception):
    """A query vigil refuses; ``error_type`` is Prometheus' ``errorType``."""

    error_type = "execution"


class BadData(PromQLError):
    """A query or parameter that cannot be read (HTTP 400)."""

    error_type = "bad_data"


class ParseError(BadData):
    """A PromQL syntax error; the message starts with ``LINE:COL: parse error:`` as
    Prometheus' does."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: parse error: {message}")
        self.line = line
        self.column = column


class TooManySamples(PromQLError):
    """The query would load more samples than one query may (Prometheus' own message)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            "query processing would load too many samples into memory in query execution"
            f" (limit: {limit} samples; narrow the selector, the time range or the step)"
        )


class QueryTimeout(PromQLError):
    error_type = "timeout"
