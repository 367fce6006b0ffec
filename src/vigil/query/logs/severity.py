"""The severity a user means, as one SQL expression every log read filters on.

A record's severity is its OTLP severity number when it has one (1..24). Otherwise it is
named by text: the OTLP severity text, else the ``level`` field of its JSON message (or
attributes), else its ``severity`` field — what structured loggers and PutLogEvents
lines carry (``{"level": "ERROR", …}``). Text names are case-insensitive and map to the
first number of their OTLP range (ERROR → 17). A record with none of these has no
severity (0) and passes no severity filter.

``/api/v1/logs``, ``/api/v1/logs/tail`` and ``vigil logs tail`` filter with ``condition``
so that they agree; Logs Insights reads the same ``level`` field as a field.
"""

from __future__ import annotations

from typing import Any

RANGES: dict[str, tuple[int, int]] = {
    "TRACE": (1, 4),
    "DEBUG": (5, 8),
    "INFO": (9, 12),
    "WARN": (13, 16),
    "WARNING": (13, 16),
    "ERROR": (17, 20),
    "FATAL": (21, 24),
    "CRITICAL": (21, 24),
}

# Text first: the OTLP text, then the JSON fields (the ``level`` column is the exact text
# of ``fields.level``, stored at insert; ``severity`` is read from the JSON column).
_TEXT = (
    "upper(multiIf(severity_text != '', severity_text,"
    " coalesce(field_level, CAST(fields.`severity` AS Nullable(String)), '')))"
)
_NAMES = list(RANGES)
_NUMBERS = [lo for lo, _ in RANGES.values()]

EFFECTIVE_NUMBER = (
    "if(severity_number > 0, severity_number,"
    f" transform({_TEXT}, {{sev_names:Array(String)}}, {{sev_numbers:Array(UInt8)}},"
    " toUInt8(0)))"
)
# What the record calls its severity: the OTLP text, else the JSON level/severity field.
EFFECTIVE_TEXT = (
    "multiIf(severity_text != '', severity_text,"
    " coalesce(field_level, CAST(fields.`severity` AS Nullable(String)), ''))"
)


class SeverityError(ValueError):
    pass


def check(name: str) -> str:
    """The canonical name, or SeverityError naming the accepted ones."""
    upper = name.strip().upper()
    if upper not in RANGES:
        raise SeverityError(f"{name!r} is not one of {', '.join(RANGES)}")
    return upper


def condition(severity: str | None, min_severity: str | None) -> tuple[str, dict[str, Any]]:
    """A ClickHouse condition on ``logs`` rows: exactly ``severity`` (its number range)
    and/or ``min_severity`` or above. ``("1", {})`` when neither is given."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if severity:
        lo, hi = RANGES[check(severity)]
        parts.append(f"{EFFECTIVE_NUMBER} BETWEEN {{sev_lo:UInt8}} AND {{sev_hi:UInt8}}")
        params.update(sev_lo=lo, sev_hi=hi)
    if min_severity:
        lo, _ = RANGES[check(min_severity)]
        parts.append(f"{EFFECTIVE_NUMBER} >= {{sev_min:UInt8}}")
        params["sev_min"] = lo
    if not parts:
        return "1", {}
    params.update(sev_names=_NAMES, sev_numbers=_NUMBERS)
    return "(" + " AND ".join(parts) + ")", params


def name_of(number: int, text: str, effective_text: str) -> str:
    """The severity shown for a record (``EFFECTIVE_TEXT`` read as ``effective_text``): with
    a severity number, its OTLP text or else its range's name; without, the text."""
    if number <= 0:
        return effective_text
    if text:
        return text
    for name, (lo, hi) in RANGES.items():
        if lo <= number <= hi:
            return name
    return ""
