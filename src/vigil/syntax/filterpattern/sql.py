"""A pattern as a ClickHouse condition on ``body`` that every matching row passes: exact for
term patterns; JSON and space-delimited patterns only narrow (JSON bodies) or pass all, and
their rows are checked again with ``match`` (``Pattern.exact_in_sql`` says which)."""

from __future__ import annotations

from typing import Any

from vigil.syntax.filterpattern.ast import Term


def condition(kind: str, terms: list[Term]) -> tuple[str, dict[str, Any]]:
    """The SQL condition and its parameters (``fp0``, ``fp1`` … one per term)."""
    if kind == "all":
        return "1", {}
    if kind == "json":
        return "startsWith(trimLeft(body), '{')", {}
    if kind == "space":
        return "1", {}
    params: dict[str, Any] = {}
    parts: list[str] = []
    anyof: list[str] = []
    for i, term in enumerate(terms):
        key = f"fp{i}"
        params[key] = term.regex.pattern if term.regex is not None else term.text
        check = (
            f"match(body, {{{key}:String}})"
            if term.regex is not None
            else f"position(body, {{{key}:String}}) > 0"
        )
        if term.mode == "?":
            anyof.append(check)
        elif term.mode == "-":
            parts.append(f"NOT {check}")
        else:
            parts.append(check)
    if anyof:
        parts.append("(" + " OR ".join(anyof) + ")")
    return (" AND ".join(parts) or "1"), params


def exact(kind: str) -> bool:
    """Whether ``condition`` alone decides the match (no second check in Python)."""
    return kind in ("all", "terms")
