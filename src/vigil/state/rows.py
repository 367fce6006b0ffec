"""Rows of the state database as the dataclasses the stores hand out.

``from_row(cls, row, json=(...))`` fills every field of the dataclass ``cls`` from the
column of the same name; the fields named in ``json`` are stored as JSON text and decoded.
Columns the dataclass lacks are ignored, a field without a column is an error (a table and
its dataclass must not drift apart silently).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


def from_row(cls: type[T], row: Any, json: Iterable[str] = ()) -> T:
    mapping = row._mapping if hasattr(row, "_mapping") else row
    decoded = set(json)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = mapping[f.name]
        values[f.name] = orjson.loads(value) if f.name in decoded else value
    return cls(**values)
