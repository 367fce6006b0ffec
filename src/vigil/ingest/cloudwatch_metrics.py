"""PutMetricData (boto3-shaped input) → ``MetricColumns``: pure, with CloudWatch's rules.

A request is all or nothing, as in CloudWatch: the first invalid datum refuses the whole
request with the AWS error code and a message naming the parameter
(``MetricData.member.N.…``, 1-based as on the query protocol).

Mapping: ``Value`` → one SAMPLE row; ``Values`` (+ ``Counts``, default 1 each) → one SAMPLE
row per value with its count as weight; ``StatisticValues`` → one STATS row (value = Sum,
count, min, max). ``metric_type`` is "cloudwatch"; ``resolution`` is ``StorageResolution``
(1 or 60, default 60); a datum without ``Timestamp`` takes the time of the request.
``EntityMetricData`` is stored like ``MetricData`` (the entity is not kept).

Rules: namespace and metric name of printable ASCII with a non-space character, the
namespace not starting with ``AWS/`` or ``:``; at most 1,000 data and 30 dimensions per
datum, dimension names unique, non-blank ASCII, not starting with ``:``; values finite and
within ±2^360; exactly one of Value, Values, StatisticValues (none is an error);
Counts only with Values and as many; at most 150 Values; counts ≥ 0; statistic sets with
SampleCount > 0 and Minimum ≤ Maximum; Timestamp within the last two weeks and at most two
hours ahead; Unit one of CloudWatch's units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from vigil.model.metrics import MetricColumns, PointKind

UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
MAX_DATA = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
MAX_MAGNITUDE = 2.0**360
MAX_PAST_NS = 14 * 86400 * 10**9
MAX_FUTURE_NS = 2 * 3600 * 10**9


class InvalidMetricData(ValueError):
    """The request is refused; ``code`` is the CloudWatch error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> InvalidMetricData:
    return InvalidMetricData("InvalidParameterValue", message)


def check_name(value: str, what: str) -> None:
    if not value.strip():
        raise _bad(f"The parameter {what} must contain at least one non-whitespace character.")
    if not value.isascii() or not value.isprintable():
        raise _bad(f"The parameter {what} must contain only printable ASCII characters.")


def check_namespace(namespace: str) -> None:
    check_name(namespace, "Namespace")
    if namespace.startswith("AWS/"):
        raise _bad("The value AWS/ for parameter Namespace is invalid: it is reserved.")
    if namespace.startswith(":"):
        raise _bad("The parameter Namespace must not start with ':'.")


def decode_put_metric_data(params: Mapping[str, Any], tenant: str, now_ns: int) -> MetricColumns:
    namespace = params["Namespace"]
    check_namespace(namespace)
    data: list[tuple[str, Mapping[str, Any]]] = [
        (f"MetricData.member.{i}", d) for i, d in enumerate(params.get("MetricData") or [], 1)
    ]
    for e, entity in enumerate(params.get("EntityMetricData") or [], 1):
        data += [
            (f"EntityMetricData.member.{e}.MetricData.member.{i}", d)
            for i, d in enumerate(entity.get("MetricData") or [], 1)
        ]
    if not data:
        raise InvalidMetricData(
            "MissingParameter", "The request must contain the parameter MetricData."
        )
    if len(data) > MAX_DATA:
        raise _bad(f"The collection MetricData must not hold more than {MAX_DATA} items.")
    out = MetricColumns()
    for where, datum in data:
        _datum(out, where, datum, namespace, tenant, now_ns)
    return out


def _datum(
    out: MetricColumns,
    where: str,
    datum: Mapping[str, Any],
    namespace: str,
    tenant: str,
    now_ns: int,
) -> None:
    name = datum["MetricName"]
    check_name(name, f"{where}.MetricName")
    dims = _dimensions(where, datum.get("Dimensions") or [])
    unit = datum.get("Unit", "None")
    if unit not in UNITS:
        raise _bad(f"The value {unit!r} for parameter {where}.Unit is not a CloudWatch unit.")
    resolution = datum.get("StorageResolution", 60)
    if resolution not in (1, 60):
        raise _bad(f"The parameter {where}.StorageResolution must be 1 or 60, not {resolution}.")
    ts = _timestamp(where, datum.get("Timestamp"), now_ns)
    row = {
        "tenant": tenant,
        "namespace": namespace,
        "name": name,
        "dimensions": dims,
        "unit": unit,
        "timestamp": ts,
        "resolution": resolution,
        "metric_type": "cloudwatch",
    }
    given = [k for k in ("Value", "Values", "StatisticValues") if datum.get(k) is not None]
    if len(given) > 1:
        raise InvalidMetricData(
            "InvalidParameterCombination",
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive.",
        )
    if not given:
        raise InvalidMetricData(
            "MissingParameter",
            f"The parameter {where} must contain one of Value, Values or StatisticValues.",
        )
    if datum.get("Counts") is not None and given != ["Values"]:
        raise InvalidMetricData(
            "InvalidParameterCombination", f"The parameter {where}.Counts needs {where}.Values."
        )
    if given == ["Value"]:
        out.add(**row, kind=PointKind.SAMPLE, value=_number(f"{where}.Value", datum["Value"]))
    elif given == ["Values"]:
        _values(out, row, where, datum["Values"], datum.get("Counts"))
    else:
        _statistics(out, row, where, datum["StatisticValues"])


def _dimensions(where: str, dims: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    if len(dims) > MAX_DIMENSIONS:
        raise _bad(
            f"The collection {where}.Dimensions must not have more than {MAX_DIMENSIONS}"
            f" members (it has {len(dims)})."
        )
    seen: dict[str, str] = {}
    for j, dim in enumerate(dims, 1):
        key, value = dim["Name"], dim["Value"]
        check_name(key, f"{where}.Dimensions.member.{j}.Name")
        check_name(value, f"{where}.Dimensions.member.{j}.Value")
        if key.startswith(":"):
            raise _bad(f"The parameter {where}.Dimensions.member.{j}.Name must not start with ':'.")
        if key in seen:
            raise _bad(f"The dimension name {key!r} appears twice in {where}.Dimensions.")
        seen[key] = value
    return sorted(seen.items())


def _timestamp(where: str, value: datetime | None, now_ns: int) -> int:
    if value is None:
        return now_ns
    seconds = value.timestamp()
    ts = round(seconds * 1e6) * 1000
    if ts > now_ns + MAX_FUTURE_NS:
        raise _bad(
            f"The parameter {where}.Timestamp must specify a time no more than two hours in"
            " the future."
        )
    if ts < now_ns - MAX_PAST_NS:
        raise _bad(
            f"The parameter {where}.Timestamp must specify a time within the past two weeks."
        )
    return ts


def _number(where: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(f"The parameter {where} must be a number.")
    value = float(value)
    if not math.isfinite(value):
        raise _bad(
            f"The value {value} for parameter {where} is invalid: NaN and Infinity are not allowed."
        )
    if abs(value) > MAX_MAGNITUDE:
        raise _bad(f"The value {value} for parameter {where} is out of range (±2^360).")
    return value


def _values(
    out: MetricColumns,
    row: dict[str, Any],
    where: str,
    values: Sequence[float],
    counts: Sequence[float] | None,
) -> None:
    if len(values) > MAX_VALUES:
        raise _bad(f"The collection {where}.Values must not hold more than {MAX_VALUES} values.")
    if counts is not None and len(counts) != len(values):
        raise InvalidMetricData(
            "InvalidParameterCombination",
            f"The parameters {where}.Values and {where}.Counts must have the same length.",
        )
    for k, raw in enumerate(values, 1):
        value = _number(f"{where}.Values.member.{k}", raw)
        count = 1.0 if counts is None else _number(f"{where}.Counts.member.{k}", counts[k - 1])
        if count < 0:
            raise _bad(f"The parameter {where}.Counts.member.{k} must not be negative.")
        if count > 0:
            out.add(**row, kind=PointKind.SAMPLE, value=value, count=count)


def _statistics(
    out: MetricColumns, row: dict[str, Any], where: str, stats: Mapping[str, float]
) -> None:
    path = f"{where}.StatisticValues"
    count = _number(f"{path}.SampleCount", stats["SampleCount"])
    total = _number(f"{path}.Sum", stats["Sum"])
    low = _number(f"{path}.Minimum", stats["Minimum"])
    high = _number(f"{path}.Maximum", stats["Maximum"])
    if count <= 0:
        raise _bad(f"The parameter {path}.SampleCount must be greater than 0.")
    if low > high:
        raise _bad(f"The parameter {path}.Minimum must not be greater than {path}.Maximum.")
    out.add(**row, kind=PointKind.STATS, value=total, count=count, min=low, max=high)
