"""A Contributor Insights rule definition (the ``CloudWatchLogRule`` JSON of PutInsightRule),
checked and parsed.

The syntax is CloudWatch's ("Contributor Insights rule syntax"): ``Schema`` must be
``{"Name": "CloudWatchLogRule", "Version": 1}``; ``LogGroupNames`` (a ``*`` at the end
matches a prefix) or ``LogGroupARNs``, not both; ``LogFormat`` ``JSON`` or ``CLF``
(``Fields`` names CLF positions, counted from 1); ``Contribution`` with 1–4 ``Keys``, an
optional ``ValueOf`` and 0–4 ``Filters``, each a ``Match`` and one operator (``In``,
``NotIn``, ``StartsWith``: up to 10 strings, any matches; ``GreaterThan``, ``LessThan``,
``EqualTo``, ``NotEqualTo``: a number; ``IsPresent``: a boolean); ``AggregateOn``
``Count`` or ``Sum`` (``Sum`` needs ``ValueOf``). Fields of JSON logs are JSON property
paths (``$.a.b``, ``$.list[0]``, ``$.users[1].name``); of CLF logs a ``Fields`` alias or
a position. Matching is case sensitive.

``parse(text) -> RuleDefinition`` raises ``RuleError`` with the reason; nothing else here
touches the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SCHEMA = {"Name": "CloudWatchLogRule", "Version": 1}
MAX_KEYS = 4
MAX_FILTERS = 4
MAX_FILTER_VALUES = 10
STRING_OPERATORS = ("In", "NotIn", "StartsWith")
NUMBER_OPERATORS = ("GreaterThan", "LessThan", "EqualTo", "NotEqualTo")
OPERATORS = (*STRING_OPERATORS, *NUMBER_OPERATORS, "IsPresent")

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
# A log group ARN (``log-group:NAME``, or ``log-group/NAME`` as the rule syntax page
# writes it; the account may be ``*``: every account is this one in vigil).
_LOG_GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:logs:[^:]*:[^:]*:log-group[:/](?P<name>[^:]+)(?::\*)?$"
)


class RuleError(ValueError):
    """The definition is not a valid rule; the message says why."""


# A field: a JSON path (str keys, int 0-based indexes) or a CLF position (1-based).
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Field:
    text: str  # as the rule wrote it (the report's KeyLabels)
    path: Path = ()  # JSON logs
    position: int = 0  # CLF logs


@dataclass(frozen=True, slots=True)
class Filter:
    field: Field
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()  # In, NotIn, StartsWith
    number: float = 0.0  # GreaterThan, LessThan, EqualTo, NotEqualTo
    present: bool = True  # IsPresent


@dataclass(frozen=True, slots=True)
class RuleDefinition:
    log_groups: tuple[str, ...]  # exact names
    prefixes: tuple[str, ...]  # names ending in * (without it)
    log_format: str  # JSON | CLF
    keys: tuple[Field, ...]
    value_of: Field | None
    filters: tuple[Filter, ...]
    aggregate_on: str  # Count | Sum


def parse(text: str) -> RuleDefinition:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RuleError(f"the rule definition is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RuleError("the rule definition must be a JSON object")
    if doc.get("Schema") != SCHEMA:
        raise RuleError('Schema must be {"Name": "CloudWatchLogRule", "Version": 1}')
    names, prefixes = _log_groups(doc)
    log_format = doc.get("LogFormat")
    if log_format not in ("JSON", "CLF"):
        raise RuleError("LogFormat must be JSON or CLF")
    aliases = _aliases(doc.get("Fields"), log_format)
    contribution = doc.get("Contribution")
    if not isinstance(contribution, dict):
        raise RuleError("Contribution must be an object with Keys")
    raw_keys = contribution.get("Keys")
    if not isinstance(raw_keys, list) or not 1 <= len(raw_keys) <= MAX_KEYS:
        raise RuleError(f"Contribution.Keys must hold 1 to {MAX_KEYS} fields")
    keys = tuple(_field(k, log_format, aliases, "Contribution.Keys") for k in raw_keys)
    aggregate_on = doc.get("AggregateOn")
    if aggregate_on not in ("Count", "Sum"):
        raise RuleError("AggregateOn must be Count or Sum")
    value_of = None
    if contribution.get("ValueOf") is not None:
        value_of = _field(contribution["ValueOf"], log_format, aliases, "Contribution.ValueOf")
    if aggregate_on == "Sum" and value_of is None:
        raise RuleError("AggregateOn Sum needs Contribution.ValueOf")
    raw_filters = contribution.get("Filters", [])
    if not isinstance(raw_filters, list) or len(raw_filters) > MAX_FILTERS:
        raise RuleError(f"Contribution.Filters must be a list of at most {MAX_FILTERS} filters")
    filters = tuple(_filter(f, log_format, aliases) for f in raw_filters)
    extra = set(contribution) - {"Keys", "ValueOf", "Filters"}
    if extra:
        raise RuleError(f"Contribution has unknown fields: {', '.join(sorted(extra))}")
    return RuleDefinition(names, prefixes, log_format, keys, value_of, filters, aggregate_on)


def _log_groups(doc: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names, arns = doc.get("LogGroupNames"), doc.get("LogGroupARNs")
    if (names is None) == (arns is None):
        raise RuleError("the rule must have either LogGroupNames or LogGroupARNs, not both")
    listed = names if names is not None else arns
    if not isinstance(listed, list) or not listed or not all(isinstance(n, str) for n in listed):
        raise RuleError("LogGroupNames / LogGroupARNs must be a non-empty list of strings")
    if arns is not None:
        found = []
        for arn in listed:
            match = _LOG_GROUP_ARN.match(arn)
            if match is None:
                raise RuleError(f"{arn!r} is not a log group ARN")
            found.append(match["name"])
        listed = found
    exact = tuple(n for n in listed if not n.endswith("*"))
    prefixes = tuple(n[:-1] for n in listed if n.endswith("*"))
    if any(not n or "*" in n for n in exact) or any("*" in p for p in prefixes):
        raise RuleError("a log group name may hold * only at its end")
    return exact, prefixes


def _aliases(fields: Any, log_format: str) -> dict[str, int]:
    if fields is None:
        return {}
    if log_format != "CLF":
        raise RuleError("Fields applies to CLF rules only")
    if not isinstance(fields, dict):
        raise RuleError('Fields must map CLF positions to names, e.g. {"4": "IpAddress"}')
    out: dict[str, int] = {}
    for position, name in fields.items():
        if not (isinstance(position, str) and position.isdigit() and int(position) >= 1):
            raise RuleError(f"Fields: {position!r} is not a CLF position (1, 2, …)")
        if not isinstance(name, str) or not name:
            raise RuleError(f"Fields: the name of position {position} must be a string")
        out[name] = int(position)
    return out


def _field(text: Any, log_format: str, aliases: dict[str, int], where: str) -> Field:
    if not isinstance(text, str) or not text:
        raise RuleError(f"{where}: a field must be a non-empty string")
    if log_format == "CLF":
        if text in aliases:
            return Field(text, position=aliases[text])
        if text.isdigit() and int(text) >= 1:
            return Field(text, position=int(text))
        raise RuleError(f"{where}: {text!r} is neither a position nor a name given in Fields")
    return Field(text, path=json_path(text, where))


def json_path(text: str, where: str = "field") -> Path:
    """``$.a.b[0]`` → ("a", "b", 0)."""
    if not text.startswith("$"):
        raise RuleError(f"{where}: {text!r} must be a JSON property path such as $.ip")
    rest, parts, at = text[1:], [], 0
    while at < len(rest):
        match = _SEGMENT.match(rest, at)
        if match is None:
            raise RuleError(f"{where}: {text!r} is not a JSON property path (at {at + 1})")
        parts.append(match[1] if match[1] is not None else int(match[2]))
        at = match.end()
    if not parts:
        raise RuleError(f"{where}: {text!r} names no property")
    return tuple(parts)


def _filter(raw: Any, log_format: str, aliases: dict[str, int]) -> Filter:
    if not isinstance(raw, dict) or "Match" not in raw:
        raise RuleError("each filter must be an object with Match and one operator")
    field = _field(raw["Match"], log_format, aliases, "Filters.Match")
    operators = [k for k in raw if k != "Match"]
    if len(operators) != 1 or operators[0] not in OPERATORS:
        raise RuleError(
            f"filter on {field.text}: give exactly one operator of {', '.join(OPERATORS)}"
        )
    op, value = operators[0], raw[operators[0]]
    if op in STRING_OPERATORS:
        if (
            not isinstance(value, list)
            or not 1 <= len(value) <= MAX_FILTER_VALUES
            or not all(isinstance(v, str | int | float) for v in value)
        ):
            raise RuleError(
                f"filter on {field.text}: {op} takes a list of 1 to {MAX_FILTER_VALUES} strings"
            )
        return Filter(field, op, values=tuple(_text(v) for v in value))
    if op in NUMBER_OPERATORS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(f"filter on {field.text}: {op} takes a number")
        return Filter(field, op, number=float(value))
    if not isinstance(value, bool):
        raise RuleError(f"filter on {field.text}: IsPresent takes true or false")
    return Filter(field, op, present=value)


def _text(value: str | int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
