"""AWS wire protocols ↔ boto3-shaped dicts, driven by botocore's service models.

* JSON 1.0/1.1 and rest-json bodies: timestamps are epoch seconds (or ISO 8601 text),
  blobs base64.
* query: form fields such as ``MetricData.member.1.Dimensions.member.1.Name=x`` in, XML
  out (``<OpResponse><OpResult>…</OpResult><ResponseMetadata>…</ResponseMetadata>``).
Inputs come out as boto3 would build them (datetimes, bytes, ints, floats) so that one
validator (botocore's own ``ParamValidator``) checks them whatever the wire format.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from functools import cache
from typing import Any
from xml.etree import ElementTree as ET

import botocore.loaders
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from vigil.api.params import MAX_TIME_NS

_loader = botocore.loaders.create_loader()


class ProtocolError(ValueError):
    """The request body cannot be read in its protocol (malformed JSON, bad form)."""


def loader() -> botocore.loaders.Loader:
    return _loader


@cache
def load_model(name: str) -> ServiceModel:
    return ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)


def validate(params: dict[str, Any], shape: Shape | None) -> str | None:
    """botocore's client-side checks, run on the server: the first problem, or None."""
    if shape is None:
        return None
    report = ParamValidator().validate(params, shape)
    if not report.has_errors():
        return _over_max(params, shape)
    # botocore's report writes each value with repr(): a value nested 1,000 deep recursed
    # without end and a 70 KB string went into the message whole, so values are summarised
    # first (botocore is pinned; its report's parts are read as that version has them).
    lines = [_report_line(report, error) for error in report._errors]
    return "; ".join(line.strip() for line in lines if line.strip())


def _report_line(report: Any, error: tuple[str, str, dict[str, Any]]) -> str:
    kind, name, extra = error
    if kind == "invalid type":
        param = extra["param"]
        what = "timestamp" if isinstance(param, BadTimestamp) else type(param).__name__
        return (
            f"Invalid type for parameter {report._get_name(name)}, value: {_show(param)}, "
            f"type: {what}, valid types: {', '.join(extra['valid_types'])}"
        )
    if "param" in extra:
        extra = {**extra, "param": _Shown(_show(extra["param"]))}
    return str(report._format_error((kind, name, extra)))


def _over_max(params: dict[str, Any], shape: Shape) -> str | None:
    """The model's upper bounds, which botocore's client-side validator leaves to the
    service: string, list and map lengths (``max``) and numbers' ``max`` — a 70 KB
    ``logStreamNamePrefix`` reached SQLite's LIKE as a pattern too complex (500)."""
    stack: list[tuple[Any, Shape, str]] = [(params, shape, "")]
    while stack:
        value, sub, name = stack.pop()
        kind = sub.type_name
        limit = sub.metadata.get("max")
        if kind == "structure" and isinstance(value, dict):
            members = sub.members
            stack.extend(
                (v, members[k], f"{name}.{k}" if name else k)
                for k, v in value.items()
                if k in members
            )
            continue
        if kind == "list" and isinstance(value, list):
            stack.extend((v, sub.member, f"{name}[{i}]") for i, v in enumerate(value))
        elif kind == "map" and isinstance(value, dict):
            stack.extend((v, sub.value, f"{name}.{k}") for k, v in value.items())
        if limit is None:
            continue
        if isinstance(value, str | list | dict) and len(value) > limit:
            return (
                f"Invalid length for parameter {name or 'input'}, value: {len(value)}, "
                f"valid max length: {limit}"
            )
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and kind in ("integer", "long", "double", "float")
            and value > limit
        ):
            return f"Invalid value for parameter {name}, value: {value}, valid max value: {limit}"
    return None


class _Shown:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:200]) + f"… ({len(value)} characters)"
    return repr(value) if isinstance(value, str) else str(value)


# How deep a JSON input may nest: the AWS models nest a handful of levels; past this a value
# is not any shape's, and botocore's validator, which repr()s it, recursed without end.
MAX_JSON_DEPTH = 64


def json_depth_problem(value: Any) -> str | None:
    """None, or where ``value`` nests deeper than MAX_JSON_DEPTH (walked with a stack)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"the input nests deeper than {MAX_JSON_DEPTH} levels at {path[:200] or '/'}"
        if isinstance(node, dict):
            stack.extend((v, depth + 1, f"{path}.{k}"[:300]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(node))
    return None


# The timestamps an input may carry: the epoch to 2100 (as /api/v1 takes them). Past
# these, Python's datetime/time_t and the store's DateTime parsers fail deep inside an
# operation (issue 18 item 6); here they are the service's validation error.
MIN_TIMESTAMP = 0.0
MAX_TIMESTAMP = MAX_TIME_NS / 1e9


class BadTimestamp:
    """An input timestamp that is not one: the validator refuses it as the wrong type
    (``Invalid type for parameter StartTime, value: -60 (not a time between 1970 and
    2100)``) instead of handing the raw value to code that assumes a datetime."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value) if isinstance(self.value, int | float | str) else "a non-time"
        return f"{text[:100]} (not a time between 1970 and 2100)"

    __str__ = __repr__


def to_datetime(value: Any) -> datetime | BadTimestamp:
    """Epoch seconds (number or text) or ISO 8601 text as an aware datetime in range; any
    other value, or a time outside 1970–2100, as a ``BadTimestamp``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value), value)
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return _from_epoch(seconds, value)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
        except (ValueError, OverflowError):
            return BadTimestamp(value)
        return parsed if MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP else BadTimestamp(value)
    return BadTimestamp(value)


def _from_epoch(seconds: float, raw: Any) -> datetime | BadTimestamp:
    if not MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP:  # NaN fails too
        return BadTimestamp(raw)
    return datetime.fromtimestamp(seconds, tz=UTC)


def epoch_seconds(value: Any) -> float | int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        seconds = value.timestamp()
    else:
        seconds = float(value)
    return int(seconds) if seconds.is_integer() else round(seconds, 3)


def iso8601(value: Any) -> str:
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), tz=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond // 1000:03d}Z"


# --- JSON (1.0, 1.1, rest-json bodies) -----------------------------------------------


def from_json(value: Any, shape: Shape) -> Any:
    """A parsed JSON input value converted to boto3 types along ``shape``."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {
            k: from_json(v, members[k]) for k, v in value.items() if k in members and v is not None
        }
    if kind == "list" and isinstance(value, list):
        return [from_json(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_json(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return to_datetime(value)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return value
    return value


def to_json(value: Any, shape: Shape | None) -> Any:
    """An output value made JSON-ready along ``shape`` (epoch timestamps, base64 blobs)."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {
            k: to_json(v, members.get(k))
            for k, v in value.items()
            if v is not None and k in members
        }
    if kind == "list":
        return [to_json(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_json(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return epoch_seconds(value)
    if kind == "blob":
        return base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode()
    if kind in ("double", "float") and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# --- query (form in, XML out) --------------------------------------------------------

_LEAF = "\x00leaf"


def _trie(items: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in items:
        node = root
        *path, last = key.split(".")
        for part in path:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else {_LEAF: child}
                node[part] = child
            node = child
        if isinstance(node.get(last), dict):
            node[last][_LEAF] = value
        else:
            node[last] = value
    return root


def from_query(items: list[tuple[str, str]], shape: Shape | None) -> dict[str, Any]:
    if shape is None:
        return {}
    out = _from_query_node(_trie(items), shape)
    return out if isinstance(out, dict) else {}


def _indexed(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return []
    return [node[i] for i in sorted((k for k in node if k.isdigit()), key=int)]


def _from_query_node(node: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(node, dict):
            return node
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if key in node:
                out[name] = _from_query_node(node[key], member)
        return out
    if kind == "list":
        if not isinstance(node, dict):
            return [] if node == "" else node
        if shape.serialization.get("flattened"):
            return [_from_query_node(v, shape.member) for v in _indexed(node)]
        items = node.get(shape.member.serialization.get("name", "member"), {})
        return [_from_query_node(v, shape.member) for v in _indexed(items)]
    if kind == "map":
        if not isinstance(node, dict):
            return node  # "Tags=true": the validator names the member and its type
        entries = node if shape.serialization.get("flattened") else node.get("entry", {})
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out_map = {}
        for entry in _indexed(entries):
            if isinstance(entry, dict) and key_name in entry:
                out_map[scalar(entry[key_name], shape.key)] = _from_query_node(
                    entry.get(value_name, ""), shape.value
                )
        return out_map
    if isinstance(node, dict):
        node = node.get(_LEAF, "")
    return scalar(node, shape)


def scalar(text: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if not isinstance(text, str):
        return text
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
    except ValueError:
        return text  # the validator names the field and the expected type
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "timestamp":
        return to_datetime(text)
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            return text
    return text


def query_response(
    operation: OperationModel, output: dict[str, Any] | None, request_id: str
) -> bytes:
    namespace = operation.metadata.get("xmlNamespace")
    root = ET.Element(f"{operation.name}Response")
    if namespace:
        root.set("xmlns", namespace)
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
        result = ET.SubElement(root, wrapper)
        _xml_members(result, output or {}, shape)
    meta = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(meta, "RequestId").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def query_error(
    code: str,
    message: str,
    sender_fault: bool,
    request_id: str,
    namespace: str | None,
    details: dict[str, Any] | None = None,
    shape: Shape | None = None,
) -> bytes:
    """The query protocol's error document; ``details`` are the error ``shape``'s other
    members (serialized as that shape says)."""
    root = ET.Element("ErrorResponse")
    if namespace:
        root.set("xmlns", namespace)
    err = ET.SubElement(root, "Error")
    ET.SubElement(err, "Type").text = "Sender" if sender_fault else "Receiver"
    ET.SubElement(err, "Code").text = code
    ET.SubElement(err, "Message").text = message
    if details and shape is not None:
        _xml_members(
            err, {k: v for k, v in details.items() if k not in ("message", "Message")}, shape
        )
    ET.SubElement(root, "RequestId").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _xml_members(parent: ET.Element, value: dict[str, Any], shape: Shape) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None:
            _xml_value(parent, member.serialization.get("name", name), item, member)


def _xml_value(parent: ET.Element, name: str, value: Any, shape: Shape) -> None:
    kind = shape.type_name
    if kind == "list":
        member_name = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for item in value:
                _xml_value(parent, shape.member.serialization.get("name", name), item, shape.member)
            return
        element = ET.SubElement(parent, name)
        for item in value:
            _xml_value(element, member_name, item, shape.member)
        return
    element = ET.SubElement(parent, name)
    if kind == "structure":
        _xml_members(element, value, shape)
    elif kind == "map":
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            _xml_value(entry, shape.key.serialization.get("name", "key"), key, shape.key)
            _xml_value(entry, shape.value.serialization.get("name", "value"), item, shape.value)
    elif kind == "timestamp":
        element.text = iso8601(value)
    elif kind == "boolean":
        element.text = "true" if value else "false"
    elif kind in ("double", "float"):
        element.text = _float_text(float(value))
    elif kind == "blob":
        element.text = base64.b64encode(value).decode()
    else:
        element.text = str(value)


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)
