"""PutMetricData input → ``MetricColumns``: pure, with CloudWatch's rules.

The input is either the raw JSON body (the JSON protocol's hot path: nothing has checked
it, timestamps are epoch seconds or ISO 8601 text) or boto3-shaped parameters from the
query protocol (datetimes); the decoder checks every rule of the model itself — types,
required members, lengths — so that no generic validator runs per datum.

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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from vigil.model.metrics import CLOUDWATCH_UNITS, MetricColumns

UNITS = CLOUDWATCH_UNITS  # the native decoder imports the name from here
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
    namespace = params.get("Namespace")
    if namespace is None:
        raise InvalidMetricData(
            "MissingParameter", "The request must contain the parameter Namespace."
        )
    _check_string(namespace, "Namespace", 255)
    check_namespace(namespace)
    data: list[tuple[str, Any]] = [
        (f"MetricData.member.{i}", d)
        for i, d in enumerate(_list(params.get("MetricData"), "MetricData"), 1)
    ]
    for e, entity in enumerate(_list(params.get("EntityMetricData"), "EntityMetricData"), 1):
        where = f"EntityMetricData.member.{e}"
        if not isinstance(entity, dict):
            raise _bad(f"The parameter {where} must be a structure.")
        # The entity is not kept, but a malformed one is refused as CloudWatch refuses it.
        described = entity.get("Entity")
        if described is not None and not isinstance(described, dict):
            raise _bad(f"The parameter {where}.Entity must be a structure.")
        for key in ("KeyAttributes", "Attributes"):
            value = (described or {}).get(key)
            if value is not None and not (
                isinstance(value, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            ):
                raise _bad(f"The parameter {where}.Entity.{key} must be a map of strings.")
        data += [
            (f"{where}.MetricData.member.{i}", d)
            for i, d in enumerate(_list(entity.get("MetricData"), f"{where}.MetricData"), 1)
        ]
    if not data:
        raise InvalidMetricData(
            "MissingParameter", "The request must contain the parameter MetricData."
        )
    if len(data) > MAX_DATA:
        raise _bad(f"The collection MetricData must not hold more than {MAX_DATA} items.")
    out = MetricColumns()
    decoder = _Decoder(out, namespace, tenant, now_ns)
    for where, datum in data:
        decoder.datum(where, datum)
    return out


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"The parameter {where} must be a list.")
    return value


def _check_string(value: Any, where: str, limit: int) -> None:
    if not isinstance(value, str):
        raise _bad(f"The parameter {where} must be a string.")
    if not 1 <= len(value) <= limit:
        raise _bad(f"The parameter {where} must be 1 to {limit} characters long.")


# Metric names and dimension sets that passed the checks. The same series come back with
# every request (a fleet reports each minute), so checking each once saves most of the
# decoding time. Bounded: cleared when full. The checks are pure, so this is a memo.
_CACHE_LIMIT = 100_000
_CHECKED_NAMES: set[str] = set()
_CHECKED_DIMENSIONS: dict[tuple[tuple[Any, Any], ...], list[tuple[str, str]]] = {}


class _Decoder:
    """Appends straight to the column lists (the hot path of metric ingest)."""

    def __init__(self, out: MetricColumns, namespace: str, tenant: str, now_ns: int) -> None:
        self.out, self.namespace, self.tenant, self.now_ns = out, namespace, tenant, now_ns
        self._names = _CHECKED_NAMES
        self._dims = _CHECKED_DIMENSIONS

    def _dimensions(self, where: str, dims: Any) -> list[tuple[str, str]]:
        if not dims:
            return _dimensions(where, dims)
        try:
            key = tuple((d["Name"], d["Value"]) for d in dims)
            cached = self._dims.get(key)
        except (TypeError, KeyError):  # malformed: the full check names the problem
            return _dimensions(where, dims)
        if cached is None:
            cached = _dimensions(where, dims)
            if len(self._dims) >= _CACHE_LIMIT:
                self._dims.clear()
            self._dims[key] = cached
        return cached

    def datum(self, where: str, datum: Any) -> None:
        if not isinstance(datum, dict):
            raise _bad(f"The parameter {where} must be a structure.")
        name = datum.get("MetricName")
        # (A map or list as the name — CBOR and JSON can send one — is unhashable.)
        if type(name) is not str or name not in self._names:
            self._check_metric_name(where, name)
        name = cast(str, name)
        dims = self._dimensions(where, datum.get("Dimensions"))
        unit = datum.get("Unit", "None")
        if type(unit) is not str:  # (not shown: a value nested 1,000 deep fails repr())
            raise _bad(f"The parameter {where}.Unit must be a string.")
        if unit not in UNITS:
            raise _bad(f"The value {unit!r} for parameter {where}.Unit is not a CloudWatch unit.")
        resolution = datum.get("StorageResolution", 60)
        if resolution != 60 and (resolution != 1 or isinstance(resolution, bool)):
            shown = resolution if isinstance(resolution, int | float) else "a non-number"
            raise _bad(f"The parameter {where}.StorageResolution must be 1 or 60, not {shown}.")
        ts = _timestamp(where, datum.get("Timestamp"), self.now_ns)
        value, values, stats = datum.get("Value"), datum.get("Values"), datum.get("StatisticValues")
        if value is not None and values is None and stats is None and "Counts" not in datum:
            number = (
                value
                if type(value) is float and value == value
                else _number(f"{where}.Value", value)
            )
            if number in _INFINITE or abs(number) > MAX_MAGNITUDE:
                number = _number(f"{where}.Value", number)
            self._row(name, dims, unit, ts, resolution, 0, number, 1.0, 0.0, 0.0)
            return
        self._other(where, datum, name, dims, unit, ts, resolution)

    def _check_metric_name(self, where: str, name: Any) -> None:
        if name is None:
            raise InvalidMetricData(
                "MissingParameter", f"The parameter {where}.MetricName is required."
            )
        _check_string(name, f"{where}.MetricName", 255)
        check_name(name, f"{where}.MetricName")
        if len(self._names) >= _CACHE_LIMIT:
            self._names.clear()
        self._names.add(name)

    def _other(
        self,
        where: str,
        datum: dict[str, Any],
        name: str,
        dims: list[tuple[str, str]],
        unit: str,
        ts: int,
        resolution: int,
    ) -> None:
        value, values, stats = datum.get("Value"), datum.get("Values"), datum.get("StatisticValues")
        given = [
            k
            for k, v in (("Value", value), ("Values", values), ("StatisticValues", stats))
            if v is not None
        ]
        if len(given) > 1:
            # CloudWatch's own answers: Value with Values is an invalid value, Value with
            # StatisticValues an invalid combination (issue 17, an AWS-behaviour suite).
            raise InvalidMetricData(
                "InvalidParameterValue"
                if given[:2] == ["Value", "Values"]
                else ("InvalidParameterCombination"),
                f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually"
                " exclusive and you have specified both.",
            )
        if not given:
            raise InvalidMetricData(
                "MissingParameter",
                f"The parameter {where} must contain one of Value, Values or StatisticValues.",
            )
        counts = datum.get("Counts")
        if counts is not None and values is None:
            raise InvalidMetricData(
                "InvalidParameterCombination", f"The parameter {where}.Counts needs {where}.Values."
            )
        if value is not None:
            number = _number(f"{where}.Value", value)
            self._row(name, dims, unit, ts, resolution, 0, number, 1.0, 0.0, 0.0)
        elif values is not None:
            self._values(where, name, dims, unit, ts, resolution, values, counts)
        else:
            self._statistics(where, name, dims, unit, ts, resolution, stats)

    def _row(
        self,
        name: str,
        dims: list[tuple[str, str]],
        unit: str,
        ts: int,
        resolution: int,
        kind: int,
        value: float,
        count: float,
        low: float,
        high: float,
    ) -> None:
        o = self.out
        o.tenant.append(self.tenant)
        o.namespace.append(self.namespace)
        o.name.append(name)
        o.dimensions.append(dims)
        o.unit.append(unit)
        o.timestamp.append(ts)
        o.start_time.append(0)
        o.resolution.append(resolution)
        o.kind.append(kind)
        o.value.append(value)
        o.count.append(count)
        o.min.append(low)
        o.max.append(high)
        o.bounds.append(_EMPTY_F)
        o.buckets.append(_EMPTY_I)
        o.metric_type.append("cloudwatch")
        o.stream_id.append(0)
        o.cumulative.append(0.0)

    def _values(
        self,
        where: str,
        name: str,
        dims: list[tuple[str, str]],
        unit: str,
        ts: int,
        resolution: int,
        values: Any,
        counts: Any,
    ) -> None:
        if not isinstance(values, list):
            raise _bad(f"The parameter {where}.Values must be a list.")
        if len(values) > MAX_VALUES:
            raise _bad(
                f"The collection {where}.Values must not hold more than {MAX_VALUES} values."
            )
        if counts is not None and (not isinstance(counts, list) or len(counts) != len(values)):
            raise InvalidMetricData(
                "InvalidParameterValue",
                f"The parameters {where}.Values and {where}.Counts must be of the same size.",
            )
        for k, raw in enumerate(values, 1):
            value = _number(f"{where}.Values.member.{k}", raw)
            count = 1.0 if counts is None else _number(f"{where}.Counts.member.{k}", counts[k - 1])
            if count < 0:
                raise _bad(f"The parameter {where}.Counts.member.{k} must not be negative.")
            if count > 0:
                self._row(name, dims, unit, ts, resolution, 0, value, count, 0.0, 0.0)

    def _statistics(
        self,
        where: str,
        name: str,
        dims: list[tuple[str, str]],
        unit: str,
        ts: int,
        resolution: int,
        stats: Any,
    ) -> None:
        path = f"{where}.StatisticValues"
        if not isinstance(stats, dict):
            raise _bad(f"The parameter {path} must be a structure.")
        numbers = []
        for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
            if stats.get(key) is None:
                raise InvalidMetricData(
                    "MissingParameter", f"The parameter {path}.{key} is required."
                )
            numbers.append(_number(f"{path}.{key}", stats[key]))
        count, total, low, high = numbers
        if count <= 0:
            raise _bad(f"The parameter {path}.SampleCount must be greater than 0.")
        if low > high:
            raise _bad(f"The parameter {path}.Minimum must not be greater than {path}.Maximum.")
        self._row(name, dims, unit, ts, resolution, 1, total, count, low, high)


_INFINITE = (math.inf, -math.inf)
_EMPTY_F: list[float] = []
_EMPTY_I: list[int] = []


def _dimensions(where: str, dims: Any) -> list[tuple[str, str]]:
    if dims is None:
        return []
    if not isinstance(dims, list):
        raise _bad(f"The parameter {where}.Dimensions must be a list.")
    if len(dims) > MAX_DIMENSIONS:
        raise _bad(
            f"The collection {where}.Dimensions must not have more than {MAX_DIMENSIONS}"
            f" members (it has {len(dims)})."
        )
    seen: dict[str, str] = {}
    for j, dim in enumerate(dims, 1):
        at = f"{where}.Dimensions.member.{j}"
        if not isinstance(dim, dict) or dim.get("Name") is None or dim.get("Value") is None:
            raise InvalidMetricData(
                "MissingParameter", f"The parameter {at} needs a Name and a Value."
            )
        key, value = dim["Name"], dim["Value"]
        _check_string(key, f"{at}.Name", 255)
        _check_string(value, f"{at}.Value", 1024)
        check_name(key, f"{at}.Name")
        check_name(value, f"{at}.Value")
        if key.startswith(":"):
            raise _bad(f"The parameter {at}.Name must not start with ':'.")
        if key in seen:
            raise _bad(f"The dimension name {key!r} appears twice in {where}.Dimensions.")
        seen[key] = value
    return sorted(seen.items())


def _timestamp(where: str, value: Any, now_ns: int) -> int:
    if value is None:
        return now_ns
    if isinstance(value, datetime):
        seconds = value.timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _text_time(where, value)
    else:
        raise _bad(f"The parameter {where}.Timestamp is not a time.")
    if not math.isfinite(seconds):
        raise _bad(f"The parameter {where}.Timestamp is not a time.")
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


def _text_time(where: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"The parameter {where}.Timestamp is not a time: {text!r}.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _number(where: str, value: Any) -> float:
    if isinstance(value, str) and value in _SPECIAL:
        value = _SPECIAL[value]  # how JSON spells them; refused just below
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(f"The parameter {where} must be a number.")
    number = float(value)
    if not math.isfinite(number):
        # CloudWatch's wording: "The value NaN for parameter MetricData.member.1.Value is
        # invalid."
        shown = "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
        raise _bad(f"The value {shown} for parameter {where} is invalid.")
    if abs(number) > MAX_MAGNITUDE:
        raise _bad(f"The value {number} for parameter {where} is out of range (±2^360).")
    return number
