"""SNS subscription filter policies: checked when set, matched on publish. Pure.

A policy is a JSON object. Scope ``MessageAttributes`` (the default): each key names a
message attribute and maps to an array of conditions, any of which may match. Scope
``MessageBody``: the message is a JSON object and keys may nest (objects inside objects),
leaves are arrays of conditions. Every key must match (AND); ``"$or": [policy, …]``
matches when one of its policies does. Conditions: a string or number (exact; numbers
compare numerically), ``null`` (body scope), ``{"prefix": s}``, ``{"suffix": s}``,
``{"equals-ignore-case": s}``, ``{"anything-but": value | [values] | {"prefix": s}}``,
``{"numeric": [op, n(, op, n)]}`` with ``= < <= > >=``, ``{"exists": bool}`` and
``{"cidr": "10.0.0.0/24"}``. A String.Array attribute matches when one element does.
As SNS, a policy may have at most 5 keys and 150 combinations of values.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any

import orjson

MAX_KEYS = 5
MAX_COMBINATIONS = 150
_OPS = {"=", "<", "<=", ">", ">="}
_MISSING = object()


class FilterPolicyError(ValueError):
    """The reason a policy is refused (SNS: ``Invalid parameter: FilterPolicy: …``)."""


def parse(text: str, scope: str = "MessageAttributes") -> dict[str, Any]:
    try:
        policy = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FilterPolicyError(f"failed to parse JSON: {exc}") from None
    if not isinstance(policy, dict):
        raise FilterPolicyError("Filter policy must be a JSON object")
    if scope not in ("MessageAttributes", "MessageBody"):
        raise FilterPolicyError(f"unknown FilterPolicyScope {scope}")
    keys = _check(policy, scope, top=True)
    if keys > MAX_KEYS:
        raise FilterPolicyError(f"Filter policy can not have more than {MAX_KEYS} keys")
    if _combinations(policy) > MAX_COMBINATIONS:
        raise FilterPolicyError(
            f"Filter policy is too complex (over {MAX_COMBINATIONS} combinations)"
        )
    return policy


def _check(policy: Mapping[str, Any], scope: str, top: bool) -> int:
    """Checks the policy; returns how many leaf keys it has."""
    if not policy:
        raise FilterPolicyError("Filter policy can not be empty")
    keys = 0
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPolicyError("$or must be an array of at least two policies")
            for sub in value:
                if not isinstance(sub, dict):
                    raise FilterPolicyError("each $or entry must be an object")
                keys = max(keys, _check(sub, scope, top))
            continue
        if isinstance(value, dict):
            if scope != "MessageBody":
                raise FilterPolicyError(
                    f'"{key}" must be an array: nested keys need FilterPolicyScope MessageBody'
                )
            keys += _check(value, scope, top=False)
            continue
        if not isinstance(value, list) or not value:
            raise FilterPolicyError(f'"{key}" must be a non-empty array of conditions')
        for condition in value:
            _check_condition(key, condition, scope)
        keys += 1
    return keys


def _check_condition(key: str, condition: Any, scope: str) -> None:
    if isinstance(condition, bool):
        raise FilterPolicyError(f'"{key}": true/false are not conditions')
    if condition is None:
        if scope != "MessageBody":
            raise FilterPolicyError(f'"{key}": null matches only in the MessageBody scope')
        return
    if isinstance(condition, str | int | float):
        return
    if not isinstance(condition, dict) or len(condition) != 1:
        raise FilterPolicyError(f'"{key}": a condition is a value or an object with one operator')
    [(op, arg)] = condition.items()
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise FilterPolicyError(f'"{key}": {op} needs a string')
    elif op == "exists":
        if not isinstance(arg, bool):
            raise FilterPolicyError(f'"{key}": exists needs true or false')
    elif op == "numeric":
        _numeric_terms(key, arg)
    elif op == "anything-but":
        if isinstance(arg, dict):
            if list(arg) != ["prefix"] or not isinstance(arg["prefix"], str):
                raise FilterPolicyError(f'"{key}": anything-but takes a value, array or prefix')
        elif isinstance(arg, list):
            if not arg or not all(isinstance(v, str | int | float) for v in arg):
                raise FilterPolicyError(f'"{key}": anything-but array must hold values')
        elif not isinstance(arg, str | int | float):
            raise FilterPolicyError(f'"{key}": anything-but takes a value, array or prefix')
    elif op == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except (TypeError, ValueError):
            raise FilterPolicyError(f'"{key}": invalid cidr {arg!r}') from None
    else:
        raise FilterPolicyError(f"Unrecognized match type {op}")


def _numeric_terms(key: str, arg: Any) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise FilterPolicyError(f'"{key}": numeric needs [op, number] or [op, n, op, n]')
    terms = []
    for i in range(0, len(arg), 2):
        op, num = arg[i], arg[i + 1]
        if op not in _OPS or isinstance(num, bool) or not isinstance(num, int | float):
            raise FilterPolicyError(f'"{key}": bad numeric term {op!r} {num!r}')
        terms.append((op, float(num)))
    if len(terms) == 2 and not (terms[0][0] in (">", ">=") and terms[1][0] in ("<", "<=")):
        raise FilterPolicyError(f'"{key}": a numeric range is [">"|">=", low, "<"|"<=", high]')
    return terms


def _combinations(policy: Mapping[str, Any]) -> int:
    total = 1
    for key, value in policy.items():
        if key == "$or":
            total *= sum(_combinations(sub) for sub in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
        else:
            total *= len(value)
    return total


# --- matching ------------------------------------------------------------------------


def attribute_values(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """SNS MessageAttributes ({name: {DataType, StringValue}}) as values to match:
    numbers as floats, String.Array as lists, binary attributes left out (SNS ignores
    them in filtering)."""
    out: dict[str, Any] = {}
    for name, attr in attributes.items():
        kind = str(attr.get("DataType", "String"))
        value = attr.get("StringValue")
        if value is None:
            continue
        if kind.startswith("Number"):
            try:
                out[name] = float(value)
            except ValueError:
                continue
        elif kind.startswith("String.Array"):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            out[name] = parsed if isinstance(parsed, list) else [parsed]
        elif kind.startswith("String"):
            out[name] = value
    return out


def matches(policy: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    for key, want in policy.items():
        if key == "$or":
            if not any(matches(sub, document) for sub in want):
                return False
            continue
        have = document.get(key, _MISSING)
        if isinstance(want, dict):
            if not isinstance(have, dict) or not matches(want, have):
                return False
            continue
        values = have if isinstance(have, list) else [have]
        if not any(_condition(c, v) for c in want for v in values or [_MISSING]):
            return False
    return True


def _condition(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        [(op, arg)] = condition.items()
        if op == "exists":
            return (value is not _MISSING) is arg
        if value is _MISSING:
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(arg)
        if op == "equals-ignore-case":
            return isinstance(value, str) and value.lower() == arg.lower()
        if op == "numeric":
            number = _number(value)
            return number is not None and all(
                _compare(number, o, n) for o, n in _numeric_terms("", arg)
            )
        if op == "anything-but":
            if isinstance(arg, dict):
                return isinstance(value, str) and not value.startswith(arg["prefix"])
            banned = arg if isinstance(arg, list) else [arg]
            return not any(_equal(b, value) for b in banned)
        if op == "cidr":
            try:
                return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
            except (TypeError, ValueError):
                return False
        return False
    if value is _MISSING:
        return False
    return _equal(condition, value)


def _equal(want: Any, have: Any) -> bool:
    if want is None or have is None:
        return want is None and have is None
    if isinstance(want, int | float) and not isinstance(want, bool):
        number = _number(have)
        return number is not None and math.isclose(number, float(want), abs_tol=1e-9)
    return isinstance(have, str) and have == want


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _compare(value: float, op: str, bound: float) -> bool:
    return {
        "=": value == bound,
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[op]
