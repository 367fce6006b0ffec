"""Shapes shared by all signals: tenants, attribute maps, ids, time bounds.

Attributes are stored as ``Map(String, String)``: string values as they are, every other
value (int, double, bool, array, map, bytes) as its JSON text, with its key listed in the
companion ``*_typed`` column so that readers can give the typed value back. Comparisons on
numbers work on the text too, because JSON renders ints, doubles and bools the way
ClickHouse parses them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

DEFAULT_TENANT = "default"
TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

ATTR_MAP = pa.map_(pa.string(), pa.string())
TYPED_KEYS = pa.list_(pa.string())
TRACE_ID = pa.binary(16)
SPAN_ID = pa.binary(8)
TIMESTAMP = pa.timestamp("ns")

ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)

# Limits applied by every decoder; an item over a limit is rejected, never truncated, so that
# nothing is stored differently from what was sent.
MAX_ATTRIBUTES = 1024
MAX_ATTRIBUTE_VALUE_BYTES = 256 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_FUTURE_NS = 2 * 3600 * 10**9  # CloudWatch refuses events more than 2 h ahead.
# Resource attributes are stored on every record of their resource: a small body can name a
# large resource and many tiny records. A request whose stored rows would repeat more than
# this many bytes of resource attributes is refused as a whole (400), never half-stored.
MAX_EXPANDED_RESOURCE_BYTES = 256 * 1024 * 1024


def valid_tenant(tenant: str) -> bool:
    return bool(TENANT_RE.match(tenant))


def typed_attributes(pairs: Mapping[str, str], typed: Iterable[str]) -> dict[str, Any]:
    """Give back the attribute values with their original types (the read side of the encoding)."""
    out: dict[str, Any] = dict(pairs)
    for key in typed:
        if key in out:
            with contextlib.suppress(orjson.JSONDecodeError):
                out[key] = orjson.loads(out[key])
    return out


def pairs_to_dict(pairs: Sequence[tuple[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    if pairs is None:
        return {}
    if isinstance(pairs, Mapping):
        return dict(pairs)
    return dict(pairs)


def raw_id(value: bytes | str) -> bytes:
    """A FixedString id as bytes: the store's row client hands it back as text decoded
    latin-1 (one character per byte), its Arrow reads as bytes."""
    return value if isinstance(value, bytes) else value.encode("latin-1")


def hex_id(raw: bytes | None) -> str:
    """Hex form of a trace or span id; all-zero (unset) ids give an empty string."""
    if not raw or not any(raw):
        return ""
    return raw.hex()


def constant_column(value: str | bytes | int, arrow_type: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of ``value`` as an Arrow array, built from buffers: strings (``value`` a
    str), fixed-size binaries (bytes of the type's width) and fixed-width numbers (an int
    in the type's physical form). ``pa.repeat`` costs ~1 ms per 4,000 strings here."""
    if isinstance(value, str):
        raw = value.encode()
        offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(raw))
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)]
    elif isinstance(value, bytes):
        buffers = [None, pa.py_buffer(value * n)]
    else:
        kind = "i" if value < 0 else "u"
        buffers = [None, pa.py_buffer(np.full(n, value, f"<{kind}{arrow_type.bit_width // 8}"))]
    return pa.Array.from_buffers(arrow_type, n, buffers)


def empty_lists(arrow_type: pa.DataType, n: int) -> pa.Array:
    """``n`` empty lists or maps of ``arrow_type`` (all offsets zero)."""
    offsets = pa.py_buffer(np.zeros(n + 1, dtype=np.int32))
    child = pa.array([], arrow_type.value_type) if not pa.types.is_map(arrow_type) else None
    if child is not None:
        return pa.Array.from_buffers(arrow_type, n, [None, offsets], children=[child])
    entries = pa.array([], pa.struct([arrow_type.key_field, arrow_type.item_field]))
    return pa.Array.from_buffers(arrow_type, n, [None, offsets], children=[entries])
