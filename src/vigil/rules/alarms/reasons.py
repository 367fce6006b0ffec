"""CloudWatch's words: state reasons, StateReasonData and the number and time formats.

CloudWatch writes numbers as Java's ``Double.toString`` does (``12.0``, ``0.5``,
``1.0E7``, ``1.0E-4``), reason times as ``dd/MM/yy HH:mm:ss`` (UTC) and JSON times as
``2026-12-07T10:01:00.000+0000``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

PHRASES = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def java_double(value: float) -> str:
    """``Double.toString``: plain decimals in [1e-3, 1e7), else ``d.dddE±n``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(float(value))
        if "e" in text or "E" in text:  # repr switches to exponents below 1e-4
            text = f"{value:.{_digits(value)}f}"
        return text if "." in text else text + ".0"
    mantissa, _, exponent = f"{value:.{_sig(value) - 1}e}".partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent)}"


def _sig(value: float) -> int:
    """Significant digits of the shortest repr."""
    digits = repr(abs(value)).lower().split("e")[0].replace(".", "").lstrip("0")
    return max(1, len(digits.rstrip("0")) or 1)


def _digits(value: float) -> int:
    exponent = math.floor(math.log10(abs(value)))
    return max(1, _sig(value) - exponent - 1)


def reason_time(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%d/%m/%y %H:%M:%S")


def iso_time_ms(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def composite_time(ms: int) -> str:
    """``Monday 07 December, 2026 10:01:00 UTC`` (composite reasons)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%A %d %B, %Y %H:%M:%S UTC")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def was(count: int) -> str:
    return "was" if count == 1 else "were"


def points_list(points: Sequence[tuple[int, float]]) -> str:
    return ", ".join(f"{java_double(v)} ({reason_time(t)})" for t, v in points)


def numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(java_double(v) for v in values) + "]"
