"""The values of Logs Insights expressions and the coercions between their kinds.

A value (``Col``) is an SQL expression with a kind: ``any`` (text of a discovered field:
compared as a number against numbers and as text against text), ``str``, ``num``,
``time``, ``bool``, ``json``. ``text``, ``number``, ``boolean`` and ``time`` give the SQL
of a value read as that kind, the way CloudWatch converts it: a field's number is NULL
when its text is not one, a timestamp reads as milliseconds since the epoch, text as a
boolean is false when empty, ``false`` or ``0``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Col:
    sql: str
    kind: str  # any str num time bool json
    func: str | None = None  # for stats columns: the aggregate function's name
    has_agg: bool = False
    num: str | None = None  # a faster numeric reading than toFloat64OrNull(sql), if any
    json: str | None = None  # the value as JSON text, where ``sql`` would not be JSON


NULL = Col("NULL", "any")


def text(col: Col) -> str:
    if col.kind in ("any", "str"):
        return col.sql
    if col.kind == "json":
        return f"if(JSONType({col.sql}) = 'String', JSONExtractString({col.sql}), {col.sql})"
    if col.kind == "time":
        return f"formatDateTimeInJodaSyntax({col.sql}, 'yyyy-MM-dd HH:mm:ss.SSS')"
    if col.kind == "bool":
        return f"if({col.sql}, 'true', 'false')"
    return f"toString({col.sql})"


def number(col: Col) -> str:
    if col.num is not None:
        return col.num
    if col.kind == "num":
        return col.sql
    if col.kind == "time":
        return f"toFloat64(toUnixTimestamp64Milli({col.sql}))"
    if col.kind == "bool":
        return f"toFloat64({col.sql})"
    if col.kind == "json":
        return f"toFloat64OrNull(JSONExtractRaw({col.sql}))"
    return f"toFloat64OrNull({col.sql})"


def boolean(col: Col) -> str:
    if col.kind == "bool":
        return col.sql
    if col.kind == "num":
        return f"({col.sql}) != 0"
    if col.kind == "time":
        return f"({col.sql}) IS NOT NULL"
    return f"(({text(col)}) NOT IN ('', 'false', '0') AND ({col.sql}) IS NOT NULL)"


def time(col: Col) -> str:
    if col.kind == "time":
        return col.sql
    if col.kind == "num":
        return f"fromUnixTimestamp64Milli(toInt64({col.sql}))"
    return f"parseDateTime64BestEffortOrNull({text(col)}, 3)"
