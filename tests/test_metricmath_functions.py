"""The function table is the extension point: a function registered on a copy of the
default table (as the alarms pillar will register ANOMALY_DETECTION_BAND) is evaluated
without any change to the evaluator."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from vigil.query.metricmath import MathError, parse
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS, Evaluator
from vigil.query.metricmath.functions import Context, FunctionSpec, series_arg
from vigil.query.metricmath.series import Series, Value


class _Ctx:
    start, end, period = 0, 300, 60

    def grid(self, period: int) -> Any:
        return np.arange(self.start, self.end, period, dtype=np.int64)

    def metrics(self, contains: str | None) -> list[Series]:
        return []

    async def search(self, query: str, stat: str, period: int) -> list[Series]:
        return []

    async def search_aggregate(
        self, query: str, stat: str, period: int, function: str
    ) -> Series | None:
        return None


def _band(ctx: Context, args: Sequence[Value]) -> Value:
    """A stand-in band: the series ± width (the real one reads a trained model)."""
    series = series_arg("ANOMALY_DETECTION_BAND", args[0])
    width = float(args[1]) if len(args) > 1 else 2.0  # type: ignore[arg-type]
    return [
        series.with_values(series.values - width, label=f"{series.label} lower"),
        series.with_values(series.values + width, label=f"{series.label} upper"),
    ]


def _evaluate(expression: str, functions: Any = DEFAULT_FUNCTIONS) -> Value:
    m1 = Series(np.arange(0, 300, 60, dtype=np.int64), np.array([1.0, 2, np.nan, 4, 5]), 60, "m1")
    evaluator = Evaluator(_Ctx(), lambda name: m1 if name == "m1" else None, functions)
    return asyncio.run(evaluator.evaluate(parse(expression)))


def test_registered_function_is_evaluated() -> None:
    table = DEFAULT_FUNCTIONS.copy()
    table.register(FunctionSpec("ANOMALY_DETECTION_BAND", _band, 1, 2))
    band = _evaluate("ANOMALY_DETECTION_BAND(m1, 1) * 10", table)
    assert isinstance(band, list)
    lower, upper = band
    assert lower.label == "m1 lower"
    assert np.array_equal(lower.values, [0, 10, np.nan, 30, 40], equal_nan=True)
    assert np.array_equal(upper.values, [20, 30, np.nan, 50, 60], equal_nan=True)
    with pytest.raises(MathError, match="unknown function ANOMALY_DETECTION_BAND"):
        _evaluate("ANOMALY_DETECTION_BAND(m1)")  # the default table is untouched
    with pytest.raises(MathError, match="takes 1 to 2 arguments, not 3"):
        _evaluate("ANOMALY_DETECTION_BAND(m1, 1, 2)", table)
