"""Pieces every OTLP decoder shares: attribute and value conversion, JSON encoding, checks."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from vigil.ingest.interface import ItemRejected, RequestError
from vigil.model.common import (
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_EXPANDED_RESOURCE_BYTES,
)

Pairs = list[tuple[str, str]]
M = TypeVar("M", bound=Message)


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes as base64 text)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def complex_value_text(raw: bytes) -> str:
    """Text of a serialized AnyValue holding an array or a kvlist (for the native decoders)."""
    return json_text(any_value(AnyValue.FromString(raw)))


def json_text(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return orjson.dumps(value).decode()


def any_value_text(value: AnyValue) -> tuple[str, bool]:
    """Text of a value and whether it was typed (not a plain string)."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value, False
    return json_text(any_value(value)), True


def attributes(kvs: Sequence[KeyValue], what: str = "attribute") -> tuple[Pairs, list[str]]:
    """Attributes as (key, text) pairs plus the keys whose value is typed JSON.

    Raises ItemRejected over the count or size limits (see model.common). Repeated keys keep
    their first position and the last value, as the OTLP spec asks of receivers; the typed
    keys are those whose kept value is typed, in the same order.
    """
    if len(kvs) > MAX_ATTRIBUTES:
        raise ItemRejected(f"{len(kvs)} {what}s, over the limit of {MAX_ATTRIBUTES}")
    out: dict[str, str] = {}
    typed: dict[str, bool] = {}
    for kv in kvs:
        text, is_typed = any_value_text(kv.value)
        if len(text) > MAX_ATTRIBUTE_VALUE_BYTES:
            raise ItemRejected(
                f"{what} {kv.key[:100]!r} has a value of {len(text)} characters,"
                f" over the limit of {MAX_ATTRIBUTE_VALUE_BYTES}"
            )
        out[kv.key] = text
        typed[kv.key] = is_typed
    return list(out.items()), [key for key, is_typed in typed.items() if is_typed]


def first_string(pairs: dict[str, str], typed: Iterable[str], key: str) -> str:
    """A resource attribute as one string; for arrays (``aws.log.group.names``) the first."""
    text = pairs.get(key, "")
    if not text or key not in typed:
        return text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return text


def resource_bytes(pairs: Pairs) -> int:
    """UTF-8 size of a resource's attributes, as repeated on each of its rows."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in pairs)


class ExpansionBudget:
    """Counts resource bytes repeated on stored rows (see MAX_EXPANDED_RESOURCE_BYTES)."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > MAX_EXPANDED_RESOURCE_BYTES:
            raise RequestError(expansion_message())


def expansion_message() -> str:
    return (
        f"the request repeats more than {MAX_EXPANDED_RESOURCE_BYTES} bytes of resource"
        " attributes on its records (a large resource with many records); send smaller batches"
    )


def check_id(raw: bytes, size: int, field: str, required: bool) -> bytes:
    """A trace/span id of the right length; empty optional ids become all-zero."""
    if len(raw) == size:
        if required and not any(raw):
            raise ItemRejected(f"{field} is all zeros")
        return raw
    if not raw and not required:
        return bytes(size)
    raise ItemRejected(f"{field} must be {size} bytes, got {len(raw)}")


# OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64.
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
_BAD_ID = base64.b64encode(b"\x00").decode()  # one byte: fails every length check, by design


# How deep an OTLP/JSON document may nest (protobuf's own JSON parser stops at 100 message
# levels; a JSON level more or less per message level, plus the AnyValue wrappers).
MAX_JSON_DEPTH = 256


def _hex_ids_to_base64(root: Any) -> None:
    """Rewrites hex ids in place, walking with a stack (a recursive walk ran out of Python's
    stack on arrays nested 1,000 deep); a document nested deeper than MAX_JSON_DEPTH is
    refused, naming where."""
    stack: list[tuple[Any, int, str]] = [(root, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise RequestError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels at {path[:200]}")
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str):
                    try:
                        node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        node[key] = _BAD_ID
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend(
                (item, depth + 1, f"{path}[{i}]")
                for i, item in enumerate(node)
                if isinstance(item, dict | list)
            )


def parse_protobuf(body: bytes, message: type[M]) -> M:
    try:
        return message.FromString(body)
    except DecodeError as exc:
        raise RequestError(f"cannot decode {message.DESCRIPTOR.name} protobuf: {exc}") from exc


def parse_json(body: bytes, message: type[M]) -> M:
    """OTLP/JSON: lowerCamelCase fields, hex ids, int64 as strings, unknown fields ignored."""
    if not body.strip():
        return message()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RequestError("invalid OTLP/JSON: the body must be a JSON object")
    _hex_ids_to_base64(data)
    try:
        return json_format.ParseDict(data, message(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        # ParseError is the documented failure; the others are protobuf's on values of a
        # shape it did not expect — a bad request either way, never a 500.
        raise RequestError(f"invalid OTLP/JSON {message.DESCRIPTOR.name}: {exc}") from exc


def to_json(message: Message) -> bytes:
    """A response message in OTLP/JSON."""
    return json_format.MessageToJson(message, indent=None).encode()
