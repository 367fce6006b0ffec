"""Evaluating a parsed pattern against one message, as CloudWatch Logs does: terms anywhere
in the text, JSON conditions on the parsed object, space-delimited fields bound by position
(``...`` absorbing any number), comparisons numeric when both sides are numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from vigil.model.logfields import parse_object
from vigil.syntax.filterpattern import lexer
from vigil.syntax.filterpattern.ast import (
    BoolOp,
    Condition,
    JsonCond,
    Selector,
    SpaceField,
    Term,
    Value,
)
from vigil.syntax.filterpattern.lexer import PatternError

if TYPE_CHECKING:
    from vigil.syntax.filterpattern.pattern import Pattern

_MISSING = object()


def extract(pattern: Pattern, message: str) -> dict[str, Any] | None:
    """None when the message does not match; else the values the pattern names
    (``$.a.b`` or ``$field`` keys, as metric filters refer to them)."""
    if pattern.kind == "all":
        return {}
    if pattern.kind == "terms":
        return {} if terms_match(pattern.terms, message) else None
    if pattern.kind == "json":
        obj = parse_object(message)
        if obj is None or pattern.json is None or not test(pattern.json, obj):
            return None
        return JsonValues(obj)
    fields = split_fields(message)
    named = _bind(pattern.space, fields)
    if named is None:
        return None
    for spec in pattern.space:
        if spec.condition is not None and not test(spec.condition, named):
            return None
    out: dict[str, Any] = {f"${k}": v for k, v in named.items()}
    for i, value in enumerate(fields, start=1):
        out.setdefault(f"${i}", value)
    return out


def value_of(ref: str, extracted: dict[str, Any]) -> Any:
    """A metric filter's ``$.x`` / ``$name`` reference, from ``extract``'s answer."""
    if isinstance(extracted, JsonValues):
        return extracted.lookup(ref)
    return extracted.get(ref)


# --- terms -------------------------------------------------------------------------------


def found(term: Term, message: str) -> bool:
    if term.regex is not None:
        return term.regex.search(message)
    return term.text in message


def terms_match(terms: list[Term], message: str) -> bool:
    anyof = [t for t in terms if t.mode == "?"]
    if anyof and not any(found(t, message) for t in anyof):
        return False
    for term in terms:
        if term.mode == "" and not found(term, message):
            return False
        if term.mode == "-" and found(term, message):
            return False
    return True


# --- conditions --------------------------------------------------------------------------


def test(cond: Condition, env: Any) -> bool:
    """A JSON condition on the parsed object, or a field condition on the bound fields."""
    if isinstance(cond, BoolOp):
        if cond.op == "&&":
            return all(test(item, env) for item in cond.items)
        return any(test(item, env) for item in cond.items)
    if isinstance(cond, JsonCond):
        return _test_json(cond, env)
    return compare(env.get(cond.name), cond.op, cond.value)


def _test_json(cond: JsonCond, obj: dict[str, Any]) -> bool:
    actual = select(cond.selector, obj)
    if cond.op == "NOT EXISTS":
        return actual is _MISSING
    if cond.op == "EXISTS":
        return actual is not _MISSING
    if cond.op == "IS NULL":
        return actual is None
    if cond.op in ("IS TRUE", "IS FALSE"):
        return actual is (cond.op == "IS TRUE")
    if actual is _MISSING or isinstance(actual, dict | list):
        return False
    assert cond.value is not None
    return compare(actual, cond.op, cond.value)


def select(selector: Selector, obj: Any) -> Any:
    """The value at the selector's path, ``_MISSING`` when a step is not there."""
    node = obj
    for step in selector.path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def compare(actual: Any, op: str, value: Value) -> bool:
    """One comparison as CloudWatch does it: numbers numerically, strings with wildcards."""
    if actual is None:
        return op == "!="
    if value.number is not None and op in ("<", "<=", ">", ">=", "=", "!="):
        num = _as_number(actual)
        if num is not None:
            return {
                "=": num == value.number,
                "!=": num != value.number,
                "<": num < value.number,
                "<=": num <= value.number,
                ">": num > value.number,
                ">=": num >= value.number,
            }[op]
        if op not in ("=", "!="):
            return False
    if op not in ("=", "!="):
        return False
    text = actual if isinstance(actual, str) else _text(actual)
    if value.regex is not None:
        hit = value.regex.search(text)
    elif value.glob is not None:
        hit = value.glob.fullmatch(text)
    else:
        hit = text == value.text
    return hit if op == "=" else not hit


def _as_number(actual: Any) -> float | None:
    if isinstance(actual, bool):
        return None
    if isinstance(actual, int | float):
        return float(actual)
    if isinstance(actual, str):
        try:
            num = float(actual)
        except ValueError:
            return None
        return num if math.isfinite(num) else None
    return None


def _text(actual: Any) -> str:
    if isinstance(actual, bool):
        return "true" if actual else "false"
    if isinstance(actual, float) and actual.is_integer():
        return str(int(actual))
    return str(actual)


class JsonValues(dict[str, Any]):
    """The extracted values of a JSON pattern: any ``$.x`` selector, resolved on demand."""

    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__()
        self.obj = obj

    def lookup(self, ref: str) -> Any:
        try:
            selector = lexer.selector(ref, 0)[0]
        except PatternError:
            return None
        value = select(selector, self.obj)
        return None if value is _MISSING else value


# --- space-delimited fields --------------------------------------------------------------


def _bind(specs: list[SpaceField], fields: list[str]) -> dict[str, str] | None:
    if "..." not in (s.name for s in specs):
        if len(fields) != len(specs):
            return None
        return {s.name: v for s, v in zip(specs, fields, strict=True)}
    # Ellipses absorb any number of fields: try the binding from the left greedily
    # with backtracking (patterns are short, so this stays cheap).
    return _bind_ellipsis(specs, fields, 0, 0, {})


def _bind_ellipsis(
    specs: list[SpaceField], fields: list[str], i: int, j: int, bound: dict[str, str]
) -> dict[str, str] | None:
    if i == len(specs):
        return bound if j == len(fields) else None
    spec = specs[i]
    if spec.name == "...":
        for k in range(len(fields), j - 1, -1):
            found = _bind_ellipsis(specs, fields, i + 1, k, bound)
            if found is not None:
                return found
        return None
    if j >= len(fields):
        return None
    trial = {**bound, spec.name: fields[j]}
    if spec.condition is not None and not test(spec.condition, trial):
        return None
    return _bind_ellipsis(specs, fields, i + 1, j + 1, trial)


def split_fields(message: str) -> list[str]:
    """Split on spaces; ``"…"`` and ``[…]`` runs are one field (without their delimiters)."""
    out: list[str] = []
    i, n = 0, len(message)
    while i < n:
        ch = message[i]
        if ch.isspace():
            i += 1
            continue
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            end = message.find(close, i + 1)
            if end < 0:
                out.append(message[i + 1 :])
                break
            out.append(message[i + 1 : end])
            i = end + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        out.append(message[i:j])
        i = j
    return out
