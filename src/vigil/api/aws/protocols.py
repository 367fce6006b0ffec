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
        return None
    lines = [line.strip() for line in report.generate_report().splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("Parameter validation"))


def to_datetime(value: Any) -> datetime | Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return value
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


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
    code: str, message: str, sender_fault: bool, request_id: str, namespace: str | None
) -> bytes:
    root = ET.Element("ErrorResponse")
    if namespace:
        root.set("xmlns", namespace)
    err = ET.SubElement(root, "Error")
    ET.SubElement(err, "Type").text = "Sender" if sender_fault else "Receiver"
    ET.SubElement(err, "Code").text = code
    ET.SubElement(err, "Message").text = message
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
