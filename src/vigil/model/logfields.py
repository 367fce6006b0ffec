"""The fields of a JSON log message, and the trace id it names. Pure.

The store discovers fields itself at insert (the ``fields`` JSON column); ``flatten`` shows
them the way CloudWatch Logs Insights names them: nested keys joined with ``.``
(``http.status``), array items by index (``tags.0``), at most ``MAX_FIELDS`` leaves. Values
are text: strings as they are, numbers and booleans as JSON (``5``, ``2.5``, ``true``),
empty objects/arrays as ``{}``/``[]``; ``null`` leaves are left out.

Trace correlation: a top-level ``trace_id``, ``traceId`` or ``@xrayTraceId`` holding 32 hex
digits or an X-Ray id (``1-5f84c7a3-<24 hex>``) gives the record's 16-byte trace id; X-Ray
ids map by dropping the ``1-`` and the ``-``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_FIELDS = 200
TRACE_KEYS = ("trace_id", "traceId", "@xrayTraceId")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_XRAY = re.compile(r"^1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})$")

Pairs = list[tuple[str, str]]


def parse_object(message: str) -> dict[str, Any] | None:
    """The message as a JSON object, or None when it is not one."""
    text = message.lstrip()
    if not text.startswith("{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def flatten(obj: dict[str, Any], limit: int = MAX_FIELDS) -> Pairs:
    out: Pairs = []
    for key, value in obj.items():
        if len(out) >= limit:
            break
        kind = type(value)
        # Flat values first, without recursion: most log lines are flat objects.
        if kind is str:
            out.append((key, value))
        elif kind is int:
            out.append((key, str(value)))
        elif kind is bool:
            out.append((key, "true" if value else "false"))
        elif value is None:
            continue
        else:
            _walk(value, key, out, limit)
    return out


def _walk(value: Any, prefix: str, out: Pairs, limit: int) -> None:
    if isinstance(value, dict):
        if not value:
            out.append((prefix, "{}"))
        for key, item in value.items():
            if len(out) >= limit:
                return
            _walk(item, f"{prefix}.{key}", out, limit)
    elif isinstance(value, list):
        if not value:
            out.append((prefix, "[]"))
        for i, item in enumerate(value):
            if len(out) >= limit:
                return
            _walk(item, f"{prefix}.{i}", out, limit)
    elif value is None:
        return
    elif isinstance(value, str):
        out.append((prefix, value))
    else:
        out.append((prefix, orjson.dumps(value).decode()))


def trace_id_of(obj: dict[str, Any]) -> bytes | None:
    """The 16-byte trace id a JSON message names, if any (see the module docstring)."""
    for key in TRACE_KEYS:
        if key not in obj:
            continue
        value = obj[key]
        if not isinstance(value, str):
            continue
        text = value.strip()
        if _HEX32.match(text):
            raw = bytes.fromhex(text)
            return raw if any(raw) else None
        match = _XRAY.match(text)
        if match:
            return bytes.fromhex(match.group(1) + match.group(2))
    return None


def named_trace_id(message: str) -> bytes | None:
    """The trace id a JSON message names; messages that cannot name one are not parsed."""
    if "race" not in message and "@xray" not in message:  # trace_id, traceId, @xrayTraceId
        return None
    obj = parse_object(message)
    return None if obj is None else trace_id_of(obj)
