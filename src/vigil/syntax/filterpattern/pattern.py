"""``Pattern``: a parsed filter pattern, the one object callers hold (see the package
docstring for the syntax): ``match``/``extract``/``value_of`` in Python (match.py) and a
``sql`` pre-filter for the store (sql.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.syntax.filterpattern import match as _match
from vigil.syntax.filterpattern import sql as _sql
from vigil.syntax.filterpattern.ast import Condition, SpaceField, Term


@dataclass(slots=True)
class Pattern:
    text: str
    kind: str  # "all", "terms", "json", "space"
    terms: list[Term] = field(default_factory=list)
    json: Condition | None = None
    space: list[SpaceField] = field(default_factory=list)

    def match(self, message: str) -> bool:
        return _match.extract(self, message) is not None

    def extract(self, message: str) -> dict[str, Any] | None:
        """None when the message does not match; else the values the pattern names
        (``$.a.b`` or ``$field`` keys, as metric filters refer to them)."""
        return _match.extract(self, message)

    def value_of(self, ref: str, extracted: dict[str, Any]) -> Any:
        """A metric filter's ``$.x`` / ``$name`` reference, from ``extract``'s answer."""
        return _match.value_of(ref, extracted)

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A ClickHouse condition on ``body`` that every matching row passes. Exact for term
        patterns; JSON and space-delimited patterns are checked again with ``match``."""
        return _sql.condition(self.kind, self.terms)

    def exact_in_sql(self) -> bool:
        return _sql.exact(self.kind)
