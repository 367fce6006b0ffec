"""Errors of the Logs Insights language, with the position they concern."""

from __future__ import annotations


class QueryError(ValueError):
    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


class QuerySyntaxError(QueryError):
    """The text does not parse: ``message`` names the position and what was expected."""


class QueryCompileError(QueryError):
    """The query parses but cannot run (unknown function, wrong arguments …)."""
