"""The labels of GetMetricData results: defaults, SEARCH labels and dynamic labels
(``${PROP('…')}``, ``${AVG}``, ``${LAST_TIME}`` …), and the metadata they read."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from vigil.query.metricmath.series import Series
from vigil.query.metrics.spec import MetricQuery


def series_meta(
    namespace: str, name: str, dims: Mapping[str, str], stat: str, period: int
) -> dict[str, Any]:
    """What ``${PROP('…')}`` reads of a metric's series."""
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": dict(dims),
        "Stat": stat,
        "Period": period,
    }


def search_label(meta: Mapping[str, Any]) -> str:
    dims = meta.get("Dimensions") or {}
    return " ".join([*(str(v) for _, v in sorted(dims.items())), meta["MetricName"]])


_DYNAMIC = re.compile(r"\$\{([A-Z_]+)(?:\('([^']*)'\))?\}")


def result_label(query: MetricQuery, s: Series, single: bool, timezone: str | None) -> str:
    if query.label is None:
        if query.metric is not None:
            return query.metric.name
        return query.id if single or not s.label else s.label
    return _dynamic_label(query.label, s, timezone)


def _dynamic_label(template: str, s: Series, timezone: str | None) -> str:
    values = s.values[s.present]
    stamps = s.timestamps[s.present]

    def stat(fn: Callable[[Any], Any]) -> str:
        return _fmt(float(fn(values))) if len(values) else ""

    def when(index: int) -> str:
        if not len(stamps):
            return ""
        return _format_time(int(stamps[index]), timezone)

    def replace(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "PROP" and arg is not None:
            if arg.startswith("Dim."):
                return str(s.meta.get("Dimensions", {}).get(arg[4:], ""))
            value = s.meta.get(arg)
            return "" if value is None else str(value)
        simple: dict[str, Callable[[], str]] = {
            "LABEL": lambda: s.label,
            "AVG": lambda: stat(np.mean),
            "MIN": lambda: stat(np.min),
            "MAX": lambda: stat(np.max),
            "SUM": lambda: stat(np.sum),
            "FIRST": lambda: _fmt(float(values[0])) if len(values) else "",
            "LAST": lambda: _fmt(float(values[-1])) if len(values) else "",
            "DATAPOINT_COUNT": lambda: str(len(values)),
            "FIRST_TIME": lambda: when(0),
            "LAST_TIME": lambda: when(-1),
        }
        fn = simple.get(name)
        return fn() if fn is not None else match.group(0)

    return _DYNAMIC.sub(replace, template)


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.6g}"


def _format_time(stamp: int, timezone: str | None) -> str:
    tz = dt.UTC
    if timezone and re.match(r"^[+-]\d{4}$", timezone):
        sign = 1 if timezone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(timezone[1:3]), minutes=int(timezone[3:])))
    return dt.datetime.fromtimestamp(stamp, tz).strftime("%Y-%m-%dT%H:%M:%S%z")
