"""How a field name of a Logs Insights query reads a log event.

System fields first (``@timestamp``, ``@message``, ``@logStream``, ``@log``,
``@ingestionTime``, ``@ptr``, ``@logGroup``, and vigil's ``@traceId``: the record's trace
id as 32 lowercase hex digits — OTLP's, or the one a JSON message names in ``trace_id``,
``traceId`` or ``@xrayTraceId``, read at ingest (model/logfields.py) — absent when the
record has none); any other name is a path of the event's
discovered fields (``fields`` column: its flattened JSON message), else its attribute,
else its resource attribute of that (dotted) name. ``Base.map_keys`` and
``Base.path_types`` (the field catalog of the rows in range) leave out the readings that
cannot match. User strings are bound through ``Binder.string``, never spliced into SQL.
"""

from __future__ import annotations

import re
from typing import Protocol

from vigil.query.insights.coerce import Col
from vigil.query.insights.layers import Base
from vigil.query.logs.events import EVENT_KEY

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_@$\-:/ ]+$")


class Binder(Protocol):
    """What reading a field needs of the compiler."""

    base: Base
    field_keys: set[str]  # event fields read (attribute keys looked up)

    def string(self, value: str) -> str: ...


# A JSON path's number: the first of these readings that is not NULL (a numeric string
# counts), each tied to the type whose subcolumn it reads.
_NUMERIC_READINGS = (
    ("Float64", "{c}.:Float64"),
    ("Int64", "toFloat64({c}.:Int64)"),
    ("UInt64", "toFloat64({c}.:UInt64)"),
    ("String", "toFloat64OrNull({c}.:String)"),
)
# Paths the store also keeps as LowCardinality columns, each the path's exact text reading
# (migration 0105): filters and groups on them work per distinct value.
_TEXT_COLUMNS = {"level": "field_level", "message": "field_message"}
_PLAIN_TYPES = frozenset({"String", "Float64", "Int64", "UInt64", "Bool"})
_NONE: frozenset[str] = frozenset()


def event_field(c: Binder, parts: list[str]) -> Col:
    """A field of the event: a path of the ``fields`` JSON column (the JSON message),
    else the record attribute, else the resource attribute of that (dotted) name;
    ``a.0`` (an array item) reads the message."""
    if not all(_SAFE_SEGMENT.match(p) for p in parts) or any(p.isdigit() for p in parts):
        path = json_path(c, parts)
        raw = f"if(JSONHas(body, {path}), JSONExtractRaw(body, {path}), NULL)"
        return Col(
            f"if(JSONType(body, {path}) = 'String', JSONExtractString(body, {path}), {raw})",
            "any",
        )
    column = "fields." + ".".join(f"`{p}`" for p in parts)
    name = ".".join(parts)
    c.field_keys.add(name)
    text, numbers = path_readings(c.base, column, name)
    text = _TEXT_COLUMNS.get(name, text)
    message_num = f"coalesce({', '.join(numbers)}"
    if c.base.map_keys is not None and name not in c.base.map_keys:
        return Col(
            text,
            "any",
            num=message_num + ")",
            json=f"if({column} IS NULL, NULL, toJSONString({column}))",
        )
    key = c.string(name)
    attr = (
        f"if(mapContains(attributes, {key}), attributes[{key}],"
        f" if(mapContains(resource, {key}), resource[{key}], NULL))"
    )
    return Col(
        f"coalesce({text}, {attr})",
        "any",
        num=f"{message_num}, toFloat64OrNull({attr}))",
        json=f"if({column} IS NULL, if({attr} IS NULL, NULL, toJSONString({attr})),"
        f" toJSONString({column}))",
    )


def path_readings(base: Base, column: str, name: str) -> tuple[str, list[str]]:
    """A JSON path's value as text, and the terms whose ``coalesce`` is its number.

    Each term reads one type's subcolumn (NULL where the value has another type); a
    type no row in range holds is left out. Text of a path of one plain type reads that
    type's subcolumn: the same text as the cast, which converts every type the path
    could hold (``toString`` renders numbers and booleans as the cast does)."""
    types = None if base.path_types is None else base.path_types.get(name, _NONE)
    numbers = [
        term.format(c=column) for kind, term in _NUMERIC_READINGS if types is None or kind in types
    ] or ["CAST(NULL AS Nullable(Float64))"]
    if types is not None and not types:
        return "CAST(NULL AS Nullable(String))", numbers
    if types is not None and len(types) == 1 and next(iter(types)) in _PLAIN_TYPES:
        (kind,) = types
        read = f"{column}.:{kind}"
        return (read if kind == "String" else f"toString({read})"), numbers
    return f"CAST({column} AS Nullable(String))", numbers


def json_path(c: Binder, parts: list[str]) -> str:
    return ", ".join(str(int(p) + 1) if p.isdigit() else c.string(p) for p in parts)


def system_field(c: Binder, name: str) -> Col | None:
    if name == "@timestamp":
        return Col("timestamp", "time")
    if name == "@message":
        return Col("body", "str")
    if name == "@logStream":
        return Col("toString(log_stream)", "str")
    if name == "@log":
        return Col(f"concat({c.string(c.base.account_id + ':')}, log_group)", "str")
    if name == "@ingestionTime":
        return Col("ingestion_time", "time")
    if name == "@ptr":
        return Col(
            "base64Encode(concat(toString(log_group), '\\n', toString(log_stream), '\\n',"
            f" toString(toUnixTimestamp64Nano(timestamp)), '\\n', toString({EVENT_KEY})))",
            "str",
        )
    if name == "@logGroup":
        return Col("toString(log_group)", "str")
    if name == "@traceId":
        # The store's column, not the message text: what links a line to its trace.
        return Col(f"nullIf(lower(hex(trace_id)), '{'0' * 32}')", "str")
    return None
