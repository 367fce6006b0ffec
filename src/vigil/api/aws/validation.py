"""Requests checked against botocore's input shapes as the AWS services check them.

Contract: ``check(params, shape)`` takes an operation's input as the front door parsed it
(boto3 types) and returns None or a ``Problem``: the constraints of the service model —
required members, numeric ``min``/``max``, string, list and map length, ``pattern``,
``enum`` — in AWS's own wording, all problems of a request in one message::

    1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint:
    Member must have value less than or equal to 10000
    2 validation errors detected: …; …

Members are named as the services' (Coral) validator names them: the member name with
its first letter lower-cased, list elements as ``logEvents.1.member.message``. A value of
the wrong type (a string where a number belongs) is a ``Problem`` of kind ``type`` with
botocore's wording (``protocols.validate``), as before. The service picks the code
(``AwsService.validation_error``/``constraint_error``/``missing_parameter_error``).

Cost: one plan per shape (constraints, compiled pattern) is built on first use and kept;
a check walks only the members present. Patterns are the models' Java regexes, compiled
with RE2 (linear time; Java's ``\\w`` is ASCII as RE2's is), with the few Java-only
spellings translated; what RE2 refuses falls back to Python's ``re``, and a pattern
neither compiles is not checked (logged once) rather than refusing every request.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Literal

import re2
from botocore.model import Shape

from vigil.api.aws import protocols

log = logging.getLogger(__name__)

Kind = Literal["type", "missing", "constraint"]

# A value shown in a message is cut here (AWS shows it whole; a 1 MB value is not echoed).
MAX_SHOWN = 256


@dataclass(frozen=True, slots=True)
class Problem:
    """``kind``: "type" (botocore's wording), "missing" (only required members are
    missing: ``missing`` holds their query-style paths, e.g. ``MetricData.member.1.Value``)
    or "constraint"; ``message``: the whole answer in AWS's wording."""

    kind: Kind
    message: str
    missing: tuple[str, ...] = ()


@dataclass(slots=True)
class _Plan:
    kind: str
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    matcher: Callable[[str], bool] | None = None
    enum: tuple[str, ...] = ()
    enum_set: frozenset[str] = frozenset()
    # structure: member name → (AWS label, query wire name, plan); required names.
    members: dict[str, tuple[str, str, _Plan]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    member: _Plan | None = None  # list element
    value: _Plan | None = None  # map value
    key: _Plan | None = None  # map key
    flattened: bool = False
    checks: bool = False  # this value itself has a constraint


_plans: dict[Shape, _Plan] = {}


def check(params: dict[str, Any], shape: Shape | None) -> Problem | None:
    """None, or what is wrong with ``params`` for ``shape`` (see the module docstring)."""
    if shape is None:
        return None
    walk = _Walk()
    walk.structure(params, _plan(shape), "", "")
    if walk.wrong_type:
        message = protocols.validate(params, shape)
        if message:
            return Problem("type", message)
    return _problem(walk)


def check_members(params: dict[str, Any], shape: Shape, names: tuple[str, ...]) -> Problem | None:
    """``check`` of some top-level members only, on an input as sent (a raw operation's
    JSON object): e.g. PutLogEvents' names, without walking its 10,000 events. A value of
    the wrong type is named in botocore's words for that member alone."""
    plan = _plan(shape)
    walk = _Walk()
    for name in names:
        label, wire, sub = plan.members[name]
        value = params.get(name)
        if value is None:
            if name in plan.required:
                walk.errors.append(
                    f"Value null at '{label}' failed to satisfy constraint: Member must not be null"
                )
                walk.missing.append(wire)
            continue
        walk.value(value, sub, label, wire)
        if walk.wrong_type:
            return Problem(
                "type",
                f"Invalid type for parameter {name}, value: {_show(value)}, type:"
                f" {type(value)}, valid types: {_PYTHON_TYPES.get(sub.kind, sub.kind)}",
            )
    return _problem(walk)


_PYTHON_TYPES = {"string": "<class 'str'>", "integer": "<class 'int'>", "long": "<class 'int'>"}


def _problem(walk: _Walk) -> Problem | None:
    if not walk.errors:
        return None
    count = len(walk.errors)
    noun = "validation error" if count == 1 else "validation errors"
    message = f"{count} {noun} detected: " + "; ".join(walk.errors)
    if len(walk.missing) == count:
        return Problem("missing", message, tuple(walk.missing))
    return Problem("constraint", message)


class _Walk:
    __slots__ = ("errors", "missing", "wrong_type")

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.missing: list[str] = []
        self.wrong_type = False

    def structure(self, value: Any, plan: _Plan, label: str, wire: str) -> None:
        if not isinstance(value, dict):
            self.wrong_type = True
            return
        members = plan.members
        for name in plan.required:
            if value.get(name) is None:
                sub_label, sub_wire, _ = members[name]
                self.errors.append(
                    f"Value null at '{_join(label, sub_label)}' failed to satisfy constraint:"
                    " Member must not be null"
                )
                self.missing.append(_join(wire, sub_wire))
        for name, item in value.items():
            entry = members.get(name)
            if entry is None or item is None:
                continue
            sub_label, sub_wire, sub = entry
            self.value(item, sub, _join(label, sub_label), _join(wire, sub_wire))

    def value(self, value: Any, plan: _Plan, label: str, wire: str) -> None:
        kind = plan.kind
        if kind == "structure":
            self.structure(value, plan, label, wire)
            return
        if kind == "list":
            if not isinstance(value, list | tuple):
                self.wrong_type = True
                return
            if plan.checks:
                self.length(value, plan, label)
            member = plan.member
            if member is None:
                return
            if member.kind in ("structure", "list", "map"):
                for i, item in enumerate(value, 1):
                    if item is None:  # a null element: botocore names it (fuzz: 500 before)
                        self.wrong_type = True
                    else:
                        self.value(item, member, f"{label}.{i}.member", _item(wire, plan, i))
            elif member.checks or member.kind != "string":
                inner = [m for item in value if (m := self.scalar(item, member)) is not None]
                if inner:
                    self.errors.append(
                        f"Value '{_show(value)}' at '{label}' failed to satisfy constraint:"
                        f" Member must satisfy constraint: [{', '.join(dict.fromkeys(inner))}]"
                    )
            else:
                for item in value:
                    if not isinstance(item, str):
                        self.wrong_type = True
            return
        if kind == "map":
            if not isinstance(value, dict):
                self.wrong_type = True
                return
            if plan.checks:
                self.length(value, plan, label)
            for key, item in value.items():
                if plan.key is not None and plan.key.checks:
                    problem = self.scalar(key, plan.key)
                    if problem:
                        self.errors.append(
                            f"Value '{_show(value)}' at '{label}' failed to satisfy constraint:"
                            f" Map keys must satisfy constraint: [{problem}]"
                        )
                if item is None:
                    self.wrong_type = True
                elif plan.value is not None:
                    if plan.value.kind in ("structure", "list", "map"):
                        self.value(item, plan.value, f"{label}.{key}", f"{wire}.{key}")
                    else:
                        problem = self.scalar(item, plan.value)
                        if problem:
                            self.errors.append(
                                f"Value '{_show(value)}' at '{label}' failed to satisfy"
                                f" constraint: Map value must satisfy constraint: [{problem}]"
                            )
            return
        problem = self.scalar(value, plan, label)
        if problem:
            self.errors.append(problem)

    def scalar(self, value: Any, plan: _Plan, label: str | None = None) -> str | None:
        """The first failed constraint of a scalar: in full when ``label`` is given (each
        failed constraint is its own error then), else the bare "Member must …" text."""
        kind = plan.kind
        failed: list[str] = []
        if kind == "string":
            if not isinstance(value, str):
                self.wrong_type = True
                return None
            if not plan.checks:
                return None
            failed = _string_failures(value, plan)
        elif kind in ("integer", "long", "double", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.wrong_type = True
                return None
            if kind in ("integer", "long") and not isinstance(value, int):
                self.wrong_type = True
                return None
            if plan.checks:
                failed = _number_failures(value, plan)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.wrong_type = True
        elif kind == "timestamp":
            if not isinstance(value, datetime):
                self.wrong_type = True
        elif kind == "blob":
            if not isinstance(value, bytes | bytearray | str):
                self.wrong_type = True
            elif plan.checks:
                failed = _length_failures(len(value), plan)
        if not failed:
            return None
        if label is None:
            return failed[0]
        shown = _show(value)
        for text in failed[:-1]:
            self.errors.append(f"Value '{shown}' at '{label}' failed to satisfy constraint: {text}")
        return f"Value '{shown}' at '{label}' failed to satisfy constraint: {failed[-1]}"

    def length(self, value: Any, plan: _Plan, label: str) -> None:
        for text in _length_failures(len(value), plan):
            self.errors.append(
                f"Value '{_show(value)}' at '{label}' failed to satisfy constraint: {text}"
            )


def _string_failures(value: str, plan: _Plan) -> list[str]:
    failed = _length_failures(len(value), plan)
    if plan.matcher is not None and not plan.matcher(value):
        failed.append(f"Member must satisfy regular expression pattern: {plan.pattern}")
    if plan.enum_set and value not in plan.enum_set:
        failed.append(f"Member must satisfy enum value set: [{', '.join(plan.enum)}]")
    return failed


def _length_failures(length: int, plan: _Plan) -> list[str]:
    if plan.min is not None and length < plan.min:
        return [f"Member must have length greater than or equal to {_number(plan.min)}"]
    if plan.max is not None and length > plan.max:
        return [f"Member must have length less than or equal to {_number(plan.max)}"]
    return []


def _number_failures(value: float, plan: _Plan) -> list[str]:
    if plan.min is not None and value < plan.min:
        return [f"Member must have value greater than or equal to {_number(plan.min)}"]
    if plan.max is not None and value > plan.max:
        return [f"Member must have value less than or equal to {_number(plan.max)}"]
    return []


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _item(wire: str, plan: _Plan, index: int) -> str:
    return f"{wire}.{index}" if plan.flattened else f"{wire}.member.{index}"


def _show(value: Any) -> str:
    """A value as the services' (Java) validator prints it: lists as ``[a, b]``, null as
    null, booleans lower-case; cut at MAX_SHOWN characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(v) for v in value[:50]) + (", …]" if len(value) > 50 else "]")
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}={_show(v)}" for k, v in list(value.items())[:50]) + "}"
    elif isinstance(value, float) and value.is_integer() and math.isfinite(value):
        text = repr(value)
    elif isinstance(value, bytes | bytearray):
        text = f"<{len(value)} bytes>"
    else:
        text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


# --- plans ------------------------------------------------------------------------------


def _plan(shape: Shape) -> _Plan:
    plan = _plans.get(shape)
    if plan is None:
        plan = _plans[shape] = _build(shape)
    return plan


def _build(shape: Shape) -> _Plan:
    meta = shape.metadata
    plan = _Plan(kind=shape.type_name)
    plan.min, plan.max = meta.get("min"), meta.get("max")
    pattern = meta.get("pattern")
    if pattern and plan.kind == "string":
        plan.pattern = pattern
        plan.matcher = compile_pattern(pattern)
    enum = meta.get("enum") or ()
    if enum and plan.kind == "string":
        plan.enum = tuple(enum)
        plan.enum_set = frozenset(enum)
    plan.checks = (
        plan.min is not None
        or plan.max is not None
        or plan.matcher is not None
        or bool(plan.enum_set)
    )
    if plan.kind == "structure":
        # Filled after registering: recursive shapes (a structure listing itself) end here.
        _plans[shape] = plan
        plan.required = tuple(meta.get("required", ()))
        plan.members = {
            name: (_label(name), member.serialization.get("name", name), _plan(member))
            for name, member in shape.members.items()
        }
    elif plan.kind == "list":
        plan.flattened = bool(shape.serialization.get("flattened"))
        plan.member = _plan(shape.member)
    elif plan.kind == "map":
        plan.key, plan.value = _plan(shape.key), _plan(shape.value)
    return plan


def _label(name: str) -> str:
    return name[:1].lower() + name[1:]


# Java character-class spellings RE2 and Python read otherwise: ``[\w-_]`` (a literal dash
# after a class escape) and ``\uXXXX``.
_CLASS_DASH = re.compile(r"(\\[wdsWDS])-(?!\])")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@cache
def compile_pattern(pattern: str) -> Callable[[str], bool] | None:
    """A full-match test for one of the models' (Java) patterns, or None when neither RE2
    nor ``re`` can read it (the member's pattern then goes unchecked; logged once)."""
    text = _CLASS_DASH.sub(r"\1\\-", pattern)
    try:
        compiled: Any = re2.compile(_UNICODE_ESCAPE.sub(r"\\x{\1}", text), _RE2_OPTIONS)
    except re2.error:
        try:
            compiled = re.compile(text)
        except re.error as exc:
            log.warning("model pattern %r is not checked: %s", pattern, exc)
            return None

    def matches(value: str) -> bool:
        try:
            return compiled.fullmatch(value) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8
            return compiled.fullmatch(value.encode("utf-8", "replace").decode()) is not None

    return matches
