"""Escalation policies: their levels checked, and flattened into the chain of steps an
incident freezes when it opens (each level once plus its repeats). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_LEVELS = 20
MAX_REPEAT = 10


class EscalationError(ValueError):
    """A policy that cannot be used, or an incident that is not there."""


def check_levels(levels: Any) -> list[dict[str, Any]]:
    """A policy's levels, checked: ``[{"targets": [...], "delay": s, "repeat": n}]``."""
    if not isinstance(levels, list) or not levels or len(levels) > MAX_LEVELS:
        raise EscalationError(f"levels must be a list of 1-{MAX_LEVELS} levels")
    out = []
    for i, level in enumerate(levels):
        if not isinstance(level, dict):
            raise EscalationError(f"level {i} must be an object")
        targets = level.get("targets")
        if (
            not isinstance(targets, list)
            or not targets
            or not all(isinstance(t, str) and t for t in targets)
        ):
            raise EscalationError(f"level {i}: targets must be a non-empty list of strings")
        delay = level.get("delay", 0)
        repeat = level.get("repeat", 0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise EscalationError(f"level {i}: delay must be seconds >= 0")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
            raise EscalationError(f"level {i}: repeat must be 0-{MAX_REPEAT}")
        out.append({"targets": list(targets), "delay": float(delay), "repeat": repeat})
    return out


def chain_of(levels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Levels flattened into steps: each level once plus its repeats."""
    return [
        {"level": i, "round": r, "targets": level["targets"], "delay": level["delay"]}
        for i, level in enumerate(levels)
        for r in range(1 + level.get("repeat", 0))
    ]
