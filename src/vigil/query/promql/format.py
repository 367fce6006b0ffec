"""Results in Prometheus' JSON shapes (``resultType`` vector, matrix, scalar, string).

Sample values are strings as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` writes them
(shortest digits, never an exponent; ``NaN``, ``+Inf``, ``-Inf``); times are seconds as
JSON numbers. A range result lists each series once with its points, series without any
point left out, sorted by labels as Prometheus sorts a matrix.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np

from vigil.query.promql.values import Ints, Matrix, Scalar, String, Value, Vector, is_stale


def format_float(v: float) -> str:
    v = float(v)  # numpy scalars repr as np.float64(…)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(v)
    if "e" in text:  # Go's 'f' format never uses an exponent
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def _ts(ms: int) -> float | int:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def instant_result(value: Value, t_ms: int) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [_ts(t_ms), format_float(value.values[0])]}
    if isinstance(value, String):
        return {"resultType": "string", "result": [_ts(t_ms), value.value]}
    if isinstance(value, Matrix):
        out = []
        for s in value.series:
            lo, hi = s.times >= value.ends[0] - value.range_ms, s.times <= value.ends[0]
            keep = lo & hi & ~is_stale(s.values)
            if keep.any():
                out.append(
                    {
                        "metric": dict(s.labels),
                        "values": [
                            [_ts(int(t)), format_float(float(v))]
                            for t, v in zip(s.times[keep], s.values[keep], strict=True)
                        ],
                    }
                )
        return {"resultType": "matrix", "result": out}
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(lbl), "value": [_ts(t_ms), format_float(float(value.values[i, 0]))]}
            for i, lbl in enumerate(value.labels)
            if value.present[i, 0]
        ],
    }


def range_result(value: Value, times: Ints) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {},
                    "values": [
                        [_ts(int(t)), format_float(float(v))]
                        for t, v in zip(times, value.values, strict=True)
                    ],
                }
            ],
        }
    assert isinstance(value, Vector)
    out = []
    stamps = [_ts(t) for t in times.tolist()]
    for i in sorted(range(len(value.labels)), key=lambda i: value.labels[i]):
        idx = np.flatnonzero(value.present[i])
        if len(idx):
            row = value.values[i].tolist()
            out.append(
                {
                    "metric": dict(value.labels[i]),
                    "values": [[stamps[j], format_float(row[j])] for j in idx.tolist()],
                }
            )
    return {"resultType": "matrix", "result": out}
