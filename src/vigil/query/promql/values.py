"""The values a PromQL expression evaluates to, over an array of evaluation times.

Every evaluation covers ``T`` times at once (one for an instant query, the steps of a
range query, the inner steps of a subquery): a scalar is ``T`` floats; an instant vector is
``n`` series, each with labels and ``T`` values plus a presence mask (a series has a value
at some times and none at others; a NaN *value* is a real sample, absence is the mask);
a range vector keeps each series' raw samples (times in ms, values) and the window of each
evaluation time; a string is a string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vigil.query.promql.names import Labels

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Prometheus' staleness marker: this exact NaN ends a series at its timestamp.
STALE_NAN_BITS = 0x7FF0000000000002


@dataclass(slots=True)
class Scalar:
    values: Floats  # (T,)


@dataclass(slots=True)
class String:
    value: str


@dataclass(slots=True)
class Vector:
    labels: list[Labels]
    values: Floats  # (n, T)
    present: Bools  # (n, T)

    @staticmethod
    def empty(t: int) -> Vector:
        return Vector([], np.zeros((0, t)), np.zeros((0, t), dtype=bool))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(slots=True)
class Samples:
    """One series' raw samples, sorted by time, staleness markers kept."""

    labels: Labels
    times: Ints  # ms
    values: Floats


@dataclass(slots=True)
class Matrix:
    """A range vector: per series its samples; ``ends`` the window end (ms) of each
    evaluation time, ``range_ms`` the window length (windows are [end - range, end])."""

    series: list[Samples]
    ends: Ints  # (T,)
    range_ms: int


Value = Scalar | String | Vector | Matrix


def is_stale(values: Floats) -> Bools:
    return np.asarray(values.view(np.int64) == STALE_NAN_BITS)
