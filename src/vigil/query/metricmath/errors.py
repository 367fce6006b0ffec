"""Errors of metric math: syntax errors name the position (0-based character offset)."""

from __future__ import annotations


class MathError(ValueError):
    """An expression cannot be evaluated (wrong argument types, unknown id …)."""


class MathSyntaxError(MathError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"Syntax error at position {position}: {message}")
        self.position = position
        self.reason = message
