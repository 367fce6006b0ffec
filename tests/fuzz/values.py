"""Hostile values: scalars that broke decoders before, inputs drawn from botocore shapes
with some members broken, and mutators for JSON documents, bytes and text."""

from __future__ import annotations

import base64
import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from botocore.model import Shape

# Numbers and strings that reached Python's datetime/time_t, ClickHouse's parsers, int
# conversions or SQL text in earlier runs (issue 18 items 6, 8, 9).
HOSTILE_NUMBERS: list[Any] = [
    -60,
    0,
    -1,
    1,
    10**12,
    10**15,
    2**31,
    2**53 + 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    5e-324,
    0.5,
    -0.0,
    86400,
    253402300800,
]
HOSTILE_STRINGS: list[str] = [
    "",
    " ",
    "0",
    "-60",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "inf",
    "null",
    "true",
    "now",
    "now-15m",
    "now-99999999d",
    "9" * 40,
    "x" * 70_000,
    "\x00",
    "\ud800",
    "é",
    "💥",
    "' OR '1'='1",
    "'; DROP TABLE logs; --",
    "\\",
    '"',
    "%(a+)+$%",
    "(a+)+$",
    "a{99999}",
    "(?=a)",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "../../etc/passwd",
    "\r\n\r\n",
    "2021-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "-1-01-01",
    "any(dimensions)",
    "m1 + m1",
    "[",
    "{",
    "(((",
    "\u202e",
    "A" * 1025,
]


def hostile_scalar(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(HOSTILE_NUMBERS)
    if pick < 0.75:
        return rng.choice(HOSTILE_STRINGS)
    if pick < 0.85:
        return rng.choice([None, True, False, [], {}, [None], {"": None}])
    return nested(rng, rng.choice([10, 100, 1000, 3000]))


@dataclass(frozen=True, slots=True)
class Deep:
    """A list or object nested ``depth`` deep (RecursionError in recursive decoders);
    written out by ``dump_json`` without recursing."""

    depth: int
    as_list: bool
    leaf: Any = 1

    def __str__(self) -> str:
        return dump_text(self)


def nested(rng: random.Random, depth: int) -> Deep:
    return Deep(depth, rng.random() < 0.5, rng.choice([1, "x", None]))


class ShapeWalker:
    """A value for a botocore shape: plausible most of the time, hostile at ``rate``."""

    def __init__(self, rng: random.Random, rate: float, names: dict[str, str]) -> None:
        self.rng = rng
        self.rate = rate
        self.names = names  # member name -> a value that exists (log group, namespace …)

    def value(self, shape: Shape, name: str = "", depth: int = 0) -> Any:
        rng = self.rng
        if rng.random() < self.rate:
            return hostile_scalar(rng)
        kind = shape.type_name
        if kind == "structure":
            if depth > 6:
                return {}
            required = set(shape.metadata.get("required", []))
            out: dict[str, Any] = {}
            for member, sub in shape.members.items():
                if (member in required and rng.random() < 0.9) or rng.random() < 0.4:
                    out[member] = self.value(sub, member, depth + 1)
            if out and rng.random() < self.rate:
                out.pop(rng.choice(list(out)))  # a missing required member (item 12)
            if rng.random() < self.rate / 2:
                out[rng.choice(["Bogus", "__proto__", "a" * 300])] = hostile_scalar(rng)
            return out
        if kind == "list":
            if depth > 6:
                return []
            return [self.value(shape.member, name, depth + 1) for _ in range(rng.randint(0, 3))]
        if kind == "map":
            if depth > 6:
                return {}
            return {
                self.string(shape.key, "key"): self.value(shape.value, name, depth + 1)
                for _ in range(rng.randint(0, 2))
            }
        if kind == "string":
            return self.string(shape, name)
        if kind in ("integer", "long"):
            low = shape.metadata.get("min", 0)
            return rng.choice([int(low), int(low) + 1, 5, 60, 300, 3600, 100])
        if kind in ("double", "float"):
            return rng.choice([0.0, 1.5, 42.0, -3.25, 1e6])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "timestamp":
            now = datetime.now(UTC).timestamp()
            return rng.choice([now, now - 3600, now - 86400 * 3, now + 60, 0])
        if kind == "blob":
            return base64.b64encode(rng.randbytes(rng.randint(0, 40))).decode()
        return None

    def string(self, shape: Shape, name: str) -> str:
        rng = self.rng
        enum = shape.enum if hasattr(shape, "enum") else []
        if enum and rng.random() < 0.85:
            return str(rng.choice(enum))
        if name in self.names and rng.random() < 0.8:
            return self.names[name]
        for key, value in self.names.items():
            if key.lower() in name.lower() and rng.random() < 0.6:
                return value
        return rng.choice(["a", "x1", "Name", "svc", "m1", "abc-123", "ERROR", "/g"])


# --- JSON documents ----------------------------------------------------------------------


def mutate_json(rng: random.Random, doc: Any, rounds: int = 3) -> Any:
    """``doc`` with a few places replaced by hostile values, dropped or duplicated."""
    for _ in range(rounds):
        doc = _mutate_at(rng, doc, rng.randint(0, 6))
    return doc


def _mutate_at(rng: random.Random, node: Any, depth: int) -> Any:
    if depth == 0 or not isinstance(node, (dict, list)) or not node:
        return hostile_scalar(rng) if rng.random() < 0.8 else node
    if isinstance(node, dict):
        node = dict(node)
        key = rng.choice(list(node))
        roll = rng.random()
        if roll < 0.15:
            del node[key]
        elif roll < 0.25:
            node[key + "x"] = node[key]
        else:
            node[key] = _mutate_at(rng, node[key], depth - 1)
        return node
    items = list(node)
    i = rng.randrange(len(items))
    roll = rng.random()
    if roll < 0.1:
        del items[i]
    elif roll < 0.2:
        items.append(items[i])
    else:
        items[i] = _mutate_at(rng, items[i], depth - 1)
    return items


def dump_json(rng: random.Random, doc: Any) -> bytes:
    """JSON text of ``doc``; non-finite numbers written as the bare words JSON forbids."""
    return dump_text(doc, ascii_only=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def dump_text(doc: Any, ascii_only: bool = True) -> str:
    if isinstance(doc, Deep):
        inner = dump_text(doc.leaf, ascii_only)
        if doc.as_list:
            return "[" * doc.depth + inner + "]" * doc.depth
        return '{"a":' * doc.depth + inner + "}" * doc.depth
    if isinstance(doc, dict):
        items = (
            f"{json.dumps(str(k), ensure_ascii=ascii_only)}:{dump_text(v, ascii_only)}"
            for k, v in doc.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(doc, (list, tuple)):
        return "[" + ",".join(dump_text(v, ascii_only) for v in doc) + "]"
    return json.dumps(doc, allow_nan=True, ensure_ascii=ascii_only)


# --- bytes and text ----------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, rounds: int = 4) -> bytes:
    buf = bytearray(data)
    for _ in range(rounds):
        roll = rng.random()
        at = rng.randint(0, len(buf))
        if roll < 0.25 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif roll < 0.4:
            buf[at:at] = rng.choice([b"\xff", b"\x80", b"\xff\xff\xff\xff\x0f", b"\x00"])
        elif roll < 0.5:
            del buf[at:]
        elif roll < 0.65 and buf:
            end = min(len(buf), at + rng.randint(1, 32))
            buf[at:at] = buf[at:end] * rng.randint(2, 50)
        elif roll < 0.8:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif buf:
            # A length-delimited field claiming more than there is, or a varint that
            # never ends: the protobuf decoder's boundary checks.
            buf[at:at] = bytes([0x0A]) + rng.choice([b"\xff\xff\xff\xff\x07", b"\x80" * 11])
    return bytes(buf)


def mutate_text(rng: random.Random, text: str, vocabulary: list[str], rounds: int = 3) -> str:
    for _ in range(rounds):
        at = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.3:
            text = text[:at] + rng.choice(vocabulary) + text[at:]
        elif roll < 0.45:
            text = text[:at] + text[at + rng.randint(1, 6) :]
        elif roll < 0.55:
            piece = text[at : at + rng.randint(1, 12)]
            text = text[:at] + piece * rng.randint(2, 30) + text[at:]
        elif roll < 0.65:
            n = rng.choice([50, 500, 5000])
            text = text[:at] + "(" * n + text[at:] + ")" * n
        elif roll < 0.8:
            text = text[:at] + str(rng.choice(HOSTILE_STRINGS))[:200] + text[at:]
        else:
            text = text[:at] + chr(rng.randint(0, 0x2FFF)) + text[at:]
    return text


# --- the query protocol's form -----------------------------------------------------------


def query_pairs(shape: Shape, value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``value`` flattened as the query protocol writes ``shape`` (``A.member.1.B``)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for member, sub in value.items():
            sub_shape = shape.members.get(member)
            key = f"{prefix}.{member}" if prefix else member
            if sub_shape is None:
                out.append((key, _scalar_text(sub)))
            else:
                out += query_pairs(sub_shape, sub, key)
        return out
    if kind == "list" and isinstance(value, list):
        out = []
        for i, item in enumerate(value, 1):
            out += query_pairs(shape.member, item, f"{prefix}.member.{i}")
        return out
    if kind == "map" and isinstance(value, dict):
        out = []
        for i, (k, v) in enumerate(value.items(), 1):
            out.append((f"{prefix}.entry.{i}.key", _scalar_text(k)))
            out += query_pairs(shape.value, v, f"{prefix}.entry.{i}.value")
        return out
    if kind == "timestamp" and isinstance(value, float) and math.isfinite(value):
        try:
            return [(prefix, datetime.fromtimestamp(value, UTC).isoformat())]
        except (OverflowError, OSError, ValueError):
            pass
    return [(prefix, _scalar_text(value))]


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return dump_text(value)[:2000]
    if isinstance(value, Deep):
        return dump_text(value)
    return "" if value is None else str(value)


def form_body(rng: random.Random, pairs: list[tuple[str, str]]) -> bytes:
    """``pairs`` url-encoded; now and then a raw byte that is not UTF-8 (item 10)."""
    text = "&".join(
        f"{quote(k, safe='.')}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in pairs
    )
    body = text.encode()
    if rng.random() < 0.15:
        at = rng.randint(0, len(body))
        body = body[:at] + rng.choice([b"\xff", b"%FF", b"\xc3(", b"%C3%28"]) + body[at:]
    return body
