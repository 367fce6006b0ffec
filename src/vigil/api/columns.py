"""A columnar answer: a JSON document whose numeric arrays travel as raw float64 blocks.

``application/vnd.vigil.columns``, for answers of many numbers (a dashboard's metric data:
a million points is ~8 MB of JSON to write and parse, here one copy of the values and
typed-array views in the page, no parsing per number). Layout, little-endian:

* 4 bytes ``VGC1``;
* a uint32: the byte length of the header;
* the header: UTF-8 JSON, the document with every numpy array replaced by
  ``{"$f64": [offset, length]}`` (offset and length in float64 elements from the data
  block's start), padded with spaces so that the data block starts at a multiple of 8;
* the data block: the arrays' values as float64 (NaN: no value; integers up to 2**53
  exactly, e.g. epoch seconds).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

MEDIA_TYPE = "application/vnd.vigil.columns"
MAGIC = b"VGC1"


def encode(document: Any) -> bytes:
    """``document`` (dicts, lists, scalars, numpy arrays of numbers) in the layout above."""
    blocks: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    offset = 0

    def walk(node: Any) -> Any:
        nonlocal offset
        if isinstance(node, np.ndarray):
            values = np.ascontiguousarray(node, dtype="<f8").reshape(-1)
            blocks.append(values)
            ref = {"$f64": [offset, len(values)]}
            offset += len(values)
            return ref
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    header = orjson.dumps(walk(document), option=orjson.OPT_NON_STR_KEYS)
    header += b" " * (-(8 + len(header)) % 8)
    data = np.concatenate(blocks) if blocks else np.zeros(0, "<f8")
    return MAGIC + struct.pack("<I", len(header)) + header + data.tobytes()


def decode(body: bytes) -> Any:
    """The document ``encode`` wrote, arrays as float64 numpy arrays (for tests)."""
    if body[:4] != MAGIC:
        raise ValueError("not a columnar answer")
    (size,) = struct.unpack("<I", body[4:8])
    data = np.frombuffer(body, "<f8", offset=8 + size)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$f64"}:
                start, length = node["$f64"]
                return data[start : start + length]
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(orjson.loads(body[8 : 8 + size]))
