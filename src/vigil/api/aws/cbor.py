"""Smithy RPC v2 CBOR (``smithy-rpc-v2-cbor``) ↔ boto3-shaped dicts, along botocore's model.

The protocol (smithy.io, "RPC v2 CBOR"): ``POST /service/<targetPrefix>/operation/<Op>``
with ``smithy-protocol: rpc-v2-cbor``; the body is one CBOR map (RFC 8949) of the input
members, empty when there is no input. Timestamps are tag 1 (epoch seconds, integer or
float), blobs byte strings, NaN/Infinity CBOR floats. Answers are a CBOR map of the output
members with the same encodings; errors a map ``{"__type", "message", …}`` (see
``errors``). ``cbor2`` (pinned) reads and writes the bytes; this module only walks shapes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import cbor2
from botocore.model import Shape

from vigil.api.aws.interface import AwsError
from vigil.api.aws.protocols import (
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    BadTimestamp,
    epoch_seconds,
    json_depth_problem,
    to_datetime,
)

MEDIA_TYPE = "application/cbor"
HEADER = "rpc-v2-cbor"


def decode(body: bytes) -> dict[str, Any]:
    """A request body as its map; a malformed one (or one that is not a map, or nests past
    the JSON protocols' depth bound) is ``SerializationException``."""
    if not body:
        return {}
    try:
        data = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises decode, value, type and recursion errors
        raise AwsError(
            "SerializationException", f"the request body is not valid CBOR: {exc}"[:300]
        ) from None
    if not isinstance(data, dict):
        raise AwsError("SerializationException", "the request body must be a CBOR map")
    problem = json_depth_problem(data)
    if problem:
        raise AwsError("SerializationException", problem)
    return data


def from_cbor(value: Any, shape: Shape) -> Any:
    """A decoded CBOR input value converted to boto3 types along ``shape``; values of the
    wrong type pass through for the validator to name."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {
            k: from_cbor(v, members[k])
            for k, v in value.items()
            if isinstance(k, str) and k in members and v is not None
        }
    if kind == "list" and isinstance(value, list):
        return [from_cbor(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "blob" and isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, cbor2.CBORTag | cbor2.CBORSimpleValue):
        return BadTimestamp(value) if kind == "timestamp" else str(value)
    return value


def _timestamp(value: Any) -> datetime | BadTimestamp:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        try:
            seconds = value.timestamp()
        except (OverflowError, ValueError):
            return BadTimestamp(value)
        return value if MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP else BadTimestamp(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return to_datetime(value)
    return BadTimestamp(value)


def to_cbor(value: Any, shape: Shape | None) -> Any:
    """An output value made ready for ``cbor2.dumps`` along ``shape`` (timestamps as tag
    1, blobs as byte strings)."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {
            k: to_cbor(v, members[k]) for k, v in value.items() if v is not None and k in members
        }
    if kind == "list":
        return [to_cbor(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, epoch_seconds(value))
    if kind == "blob":
        return value if isinstance(value, bytes) else str(value).encode()
    if kind in ("double", "float") and isinstance(value, int | float):
        return float(value)
    if kind in ("integer", "long") and isinstance(value, float) and math.isfinite(value):
        return int(value)
    return value


def encode(value: Any) -> bytes:
    return bytes(cbor2.dumps(value))
