"""CloudWatch statistics: parsing the ``Stat`` names and computing them.

Two families:

* **Aggregates** — ``SampleCount``, ``Sum``, ``Average``, ``Minimum``, ``Maximum``: computed
  from count, sum, min and max alone, so every rollup answers them exactly.
* **Distribution statistics** — ``pNN``/``pNN.NN``, trimmed mean ``tmNN`` / ``TM(a%:b%)`` /
  ``TM(a:b)``, ``IQM`` (= ``TM(25%:75%)``), winsorized mean ``wmNN`` / ``WM(…)``, trimmed
  count ``tcNN`` / ``TC(…)``, trimmed sum ``tsNN`` / ``TS(…)`` and percentile rank
  ``PR(a:b)``: computed over a weighted distribution (values and their counts). Over raw
  points the distribution is exact; over rollups it comes from the DDSketch-style buckets
  (see ``vigil.model.sketch``), whose values are within 1% of the true ones.

Definitions (weights count as repeated data points, ranks are 1-based):

* ``pX`` is the nearest-rank percentile: the smallest value whose cumulative weight
  reaches X% of the total weight. ``p0`` is the minimum, ``p100`` the maximum.
* Percent boundaries ``(a%:b%)`` keep the data points of rank r with
  ``floor(a%·N) < r ≤ floor(b%·N)`` (``tm90`` drops the highest 10%); absolute
  boundaries ``(a:b)`` keep the values v with ``a < v ≤ b`` (exclusive lower, inclusive
  upper, as CloudWatch documents). A missing bound is open.
* ``WM`` clamps the values outside the boundaries to the boundary values, then averages.
* ``PR(a:b)`` is the percentage of data points with ``a < v ≤ b``; it takes only absolute
  bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

AGGREGATES = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
Kind = Literal["aggregate", "percentile", "TM", "WM", "TC", "TS", "PR"]

_NUM = r"(?:\d+(?:\.\d+)?|\.\d+)"
_PERCENTILE = re.compile(rf"^[pP]({_NUM})$")
_SHORT = re.compile(rf"^(tm|wm|tc|ts)({_NUM})$", re.IGNORECASE)
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\(\s*({_NUM}%?)?\s*:\s*({_NUM}%?)?\s*\)$", re.IGNORECASE)


class StatisticError(ValueError):
    """The statistic name is not one CloudWatch knows."""


@dataclass(frozen=True, slots=True)
class Statistic:
    name: str  # as the caller wrote it (answers echo it)
    kind: Kind
    aggregate: str = ""  # for kind "aggregate"
    q: float = 0.0  # percentile level in [0, 1]
    lower: float | None = None  # boundaries: fractions when percent, else values
    upper: float | None = None
    percent: bool = False

    @property
    def distribution(self) -> bool:
        return self.kind != "aggregate"


def parse_statistic(text: str) -> Statistic:
    """Parse a CloudWatch ``Stat`` string; raises ``StatisticError`` naming the problem."""
    name = text.strip()
    if name in AGGREGATES:
        return Statistic(name, "aggregate", aggregate=name)
    if name.upper() == "IQM":
        return Statistic(name, "TM", lower=0.25, upper=0.75, percent=True)
    match = _PERCENTILE.match(name)
    if match:
        level = float(match.group(1))
        _check_level(name, match.group(1), level)
        return Statistic(name, "percentile", q=round(level / 100, 6))
    match = _SHORT.match(name)
    if match:
        level = float(match.group(2))
        _check_level(name, match.group(2), level)
        kind: Kind = match.group(1).upper()  # type: ignore[assignment]
        return Statistic(name, kind, lower=None, upper=round(level / 100, 6), percent=True)
    match = _RANGE.match(name)
    if match:
        return _range(name, match.group(1).upper(), match.group(2), match.group(3))
    raise StatisticError(
        f"The statistic {text!r} is not valid: use SampleCount, Average, Sum, Minimum,"
        " Maximum, pNN.NN, tmNN.NN, TM(a%:b%), wmNN.NN, WM(a%:b%), tcNN.NN, TC(a%:b%),"
        " tsNN.NN, TS(a%:b%), PR(a:b) or IQM"
    )


def _check_level(name: str, digits: str, level: float) -> None:
    if not 0 <= level <= 100 or ("." in digits and len(digits.split(".")[1]) > 2):
        raise StatisticError(
            f"The statistic {name!r} is not valid: the level must be between 0 and 100"
            " with at most two decimals"
        )


def _range(name: str, kind: str, low: str | None, high: str | None) -> Statistic:
    if low is None and high is None:
        raise StatisticError(f"The statistic {name!r} is not valid: give at least one boundary")
    marks = {b.endswith("%") for b in (low, high) if b is not None}
    if len(marks) > 1:
        raise StatisticError(
            f"The statistic {name!r} is not valid: both boundaries must be percentages"
            " or both absolute values"
        )
    percent = marks == {True}
    if percent and kind == "PR":
        raise StatisticError(f"The statistic {name!r} is not valid: PR takes absolute values")

    def bound(text: str | None) -> float | None:
        if text is None:
            return None
        value = float(text.rstrip("%"))
        if percent:
            _check_level(name, text.rstrip("%"), value)
            return round(value / 100, 6)
        return value

    lower, upper = bound(low), bound(high)
    if lower is not None and upper is not None and lower > upper:
        raise StatisticError(
            f"The statistic {name!r} is not valid: the lower boundary is above the upper one"
        )
    return Statistic(name, kind, lower=lower, upper=upper, percent=percent)  # type: ignore[arg-type]


# --- aggregates ----------------------------------------------------------------------


def aggregate(stat: Statistic, count: float, total: float, lo: float, hi: float) -> float | None:
    """An aggregate statistic from one period's count, sum, min and max (None: no value)."""
    if count <= 0:
        return None
    if stat.aggregate == "SampleCount":
        return count
    if stat.aggregate == "Sum":
        return total
    if stat.aggregate == "Average":
        return total / count
    value = lo if stat.aggregate == "Minimum" else hi
    return value if math.isfinite(value) else None


# --- distributions -------------------------------------------------------------------

Floats = npt.NDArray[np.float64]


def distribution_value(stat: Statistic, values: Floats, weights: Floats) -> float | None:
    """A distribution statistic over values with weights (any order); None: no value."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if not len(values):
        return None
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    total = float(w.sum())
    if stat.kind == "percentile":
        return _percentile(v, w, total, stat.q)
    if stat.kind == "PR":
        inside = _absolute_mask(v, stat.lower, stat.upper)
        return 100.0 * float(w[inside].sum()) / total
    included = _included_weights(stat, v, w, total)
    kept = float(included.sum())
    if stat.kind == "TC":
        return kept
    if stat.kind == "TS":
        return float((v * included).sum())
    if stat.kind == "TM":
        return float((v * included).sum()) / kept if kept > 0 else None
    # WM: values outside the kept range take the nearest kept value.
    if kept <= 0:
        return None
    nz = np.nonzero(included)[0]
    low_value, high_value = v[nz[0]], v[nz[-1]]
    clamped = np.clip(v, low_value, high_value)
    return float((clamped * w).sum()) / total


def _percentile(v: Floats, w: Floats, total: float, q: float) -> float:
    if q <= 0:
        return float(v[0])
    cumulative = np.cumsum(w)
    target = q * total
    index = int(np.searchsorted(cumulative, target * (1 - 1e-12), side="left"))
    return float(v[min(index, len(v) - 1)])


def _absolute_mask(v: Floats, lower: float | None, upper: float | None) -> npt.NDArray[np.bool_]:
    mask = np.ones(len(v), dtype=bool)
    if lower is not None:
        mask &= v > lower
    if upper is not None:
        mask &= v <= upper
    return mask


def _included_weights(stat: Statistic, v: Floats, w: Floats, total: float) -> Floats:
    if not stat.percent:
        return np.where(_absolute_mask(v, stat.lower, stat.upper), w, 0.0)
    low = math.floor((stat.lower or 0.0) * total + 1e-9)
    high = math.floor((1.0 if stat.upper is None else stat.upper) * total + 1e-9)
    after = np.cumsum(w)
    before = after - w
    kept: Floats = np.clip(np.minimum(after, high) - np.maximum(before, low), 0.0, None)
    return kept
