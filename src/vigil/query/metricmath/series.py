"""Values that metric math works on: scalars, strings, keywords, series, arrays of series.

A ``Series`` is a period grid (``timestamps`` in epoch seconds) with ``values`` (NaN where
the period has no data point). Series of one request share their grid whenever they share
their period; operations between series of different grids match equal timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Keyword:
    """A bare word that is not a query id: REPEAT, LINEAR, ASC, DESC, SUM …"""

    word: str


@dataclass(slots=True)
class Series:
    timestamps: Ints
    values: Floats
    period: int
    label: str = ""
    # Where the series came from (namespace, metric name, dimensions, stat, id) for labels.
    meta: dict[str, Any] = field(default_factory=dict)

    def with_values(self, values: Floats, label: str | None = None) -> Series:
        return replace(self, values=values, label=self.label if label is None else label)

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.values)

    def same_grid(self, other: Series) -> bool:
        return self.period == other.period and np.array_equal(self.timestamps, other.timestamps)


Value = float | str | Keyword | Series | list[Series]


def grid(start: int, end: int, period: int) -> Ints:
    """Period start times from ``start`` (inclusive) to ``end`` (exclusive)."""
    if end <= start:
        return np.zeros(0, dtype=np.int64)
    return np.arange(start, end, period, dtype=np.int64)


def describe(value: Value) -> str:
    if isinstance(value, float):
        return "a scalar"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Keyword):
        return f"the keyword {value.word}"
    if isinstance(value, Series):
        return "a time series"
    return "an array of time series"
