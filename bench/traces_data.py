"""Realistic traces as Arrow rows in the model's span schema, generated fast with numpy.

Each trace has 10 spans over three services, the shape of a request through a small
system: a front service's SERVER span (the root segment: HTTP method, URL and status,
``status`` and ``customer_id`` annotations), an internal span and two CLIENT calls, one to
a middle service and one to a back service; the middle service's SERVER span (the callee
of the first call) queries PostgreSQL; the back service's SERVER span calls DynamoDB and
Redis. Rows are OTLP-shaped: the X-Ray columns come from the store's DEFAULT expressions.
5 % of traces fail (status ``error``, HTTP 500, an exception event); durations are
log-normal with ~10 % of traces over one second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from vigil.model.common import ATTR_MAP, SPAN_ID, TRACE_ID
from vigil.model.spans import EVENT, LINK, SPAN_SCHEMA

SPANS_PER_TRACE = 10
FRONT = [f"web-{i}" for i in range(5)]
MIDDLE = [f"api-{i}" for i in range(8)]
BACK = [f"store-{i}" for i in range(7)]
SERVICES = FRONT + MIDDLE + BACK
ROUTES = ["/api/orders", "/api/cart", "/api/login", "/api/search", "/api/items", "/health"]

# Per position in the trace: (role, kind, parent position or -1, service tier).
# Tiers: 0 front, 1 middle, 2 back.
LAYOUT = [
    ("root", 2, -1, 0),
    ("internal", 1, 0, 0),
    ("call-middle", 3, 0, 0),
    ("call-back", 3, 0, 0),
    ("middle", 2, 2, 1),
    ("postgres", 3, 4, 1),
    ("middle-internal", 1, 4, 1),
    ("back", 2, 3, 2),
    ("dynamodb", 3, 7, 2),
    ("redis", 3, 7, 2),
]
NAMES = {
    "root": None,  # the route
    "internal": "render",
    "call-middle": None,  # "GET <middle service>"
    "call-back": None,
    "middle": "handle",
    "postgres": "SELECT orders",
    "middle-internal": "validate",
    "back": "lookup",
    "dynamodb": "DynamoDB.GetItem",
    "redis": "GET",
}


def _strings(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def _fixed(raw: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.FixedSizeBinaryArray.from_buffers(
        kind, len(raw), [None, pa.py_buffer(np.ascontiguousarray(raw).tobytes())]
    )


def _map(pairs: list[tuple[str, np.ndarray, pa.Array]], n: int) -> pa.Array:
    """A map column: each (key, rows that have it, values for every row) adds one pair."""
    present = np.stack([mask for _, mask, _ in pairs], axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    width = len(pairs)
    # Index of each kept pair into the concatenated value columns, row-major.
    index = (np.arange(width)[None, :] * n + np.arange(n)[:, None])[present]
    values = pa.concat_arrays([v for _, _, v in pairs]).take(pa.array(index))
    keys = pa.array([k for k, _, _ in pairs], pa.string()).take(pa.array(index // n))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values).cast(ATTR_MAP)


def _const(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def _lists(counts: np.ndarray, values: pa.Array) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def span_table(rng: np.random.Generator, traces: int, lo_ns: int, hi_ns: int) -> pa.Table:
    """``traces`` traces starting in [lo, hi), in start order (as a live system sends)."""
    per = SPANS_PER_TRACE
    n = traces * per
    pos = np.tile(np.arange(per), traces)
    tier = np.array([t for _, _, _, t in LAYOUT])[pos]
    kind = np.array([k for _, k, _, _ in LAYOUT], dtype=np.uint8)[pos]
    parent_pos = np.array([p for _, _, p, _ in LAYOUT])
    fails = rng.random(traces) < 0.05
    fail = np.repeat(fails, per)

    front = rng.integers(0, len(FRONT), traces)
    middle = rng.integers(0, len(MIDDLE), traces) + len(FRONT)
    back = rng.integers(0, len(BACK), traces) + len(FRONT) + len(MIDDLE)
    tiers = np.stack([front, middle, back], axis=1)
    service = tiers[np.repeat(np.arange(traces), per), tier]

    trace_raw = np.repeat(rng.integers(0, 256, size=(traces, 16), dtype=np.uint8), per, axis=0)
    span_raw = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    span_raw[:, 0] |= 1  # never the zero id
    base = np.arange(traces) * per
    parent_index = np.where(parent_pos[pos] < 0, -1, np.repeat(base, per) + parent_pos[pos])
    parent_raw = np.where(
        (parent_index >= 0)[:, None], span_raw[np.maximum(parent_index, 0)], np.uint8(0)
    )

    # Trace durations: log-normal, median ~150 ms, ~10 % over one second; failures slower.
    total = np.exp(rng.normal(np.log(0.15), 1.5, traces)) * np.where(fails, 2.0, 1.0)
    total_ns = np.clip(total * 1e9, 2e6, 60e9).astype(np.int64)
    starts = np.sort(rng.integers(lo_ns, hi_ns, traces))
    # Position within the trace as (offset, length) fractions of the trace's duration.
    frac = np.array(
        [
            (0.0, 1.0),
            (0.01, 0.05),
            (0.06, 0.5),
            (0.57, 0.4),
            (0.07, 0.47),
            (0.1, 0.3),
            (0.42, 0.1),
            (0.58, 0.38),
            (0.6, 0.2),
            (0.82, 0.1),
        ]
    )
    t_total = np.repeat(total_ns, per)
    start = np.repeat(starts, per) + (frac[pos, 0] * t_total).astype(np.int64)
    end = start + np.maximum((frac[pos, 1] * t_total).astype(np.int64), 1000)

    route = rng.integers(0, len(ROUTES), traces)
    trace_of = np.repeat(np.arange(traces), per)
    # Span names: a vocabulary of the routes, the call names and the fixed names.
    vocab = ROUTES + [f"GET {m}" for m in SERVICES] + [f"POST {b}" for b in SERVICES]
    vocab += sorted({v for v in NAMES.values() if v})
    name_index = np.empty(n, dtype=np.int64)
    for i, (role, _, _, _) in enumerate(LAYOUT):
        if role == "root":
            name_index[i::per] = route
        elif role == "call-middle":
            name_index[i::per] = len(ROUTES) + middle
        elif role == "call-back":
            name_index[i::per] = len(ROUTES) + len(SERVICES) + back
        else:
            name_index[i::per] = vocab.index(NAMES[role] or "")

    is_root = pos == 0
    status = np.where(fail & np.isin(pos, [0, 3, 7]), 2, 0).astype(np.uint8)
    http_span = np.isin(pos, [0, 2, 3, 4, 7])
    callee = np.where(pos == 2, middle[trace_of], back[trace_of])
    urls = [f"https://shop.example.com{r}" for r in ROUTES]
    customers = [f"c-{i}" for i in range(50_000)]
    attrs = _map(
        [
            ("http.request.method", http_span, _strings(["GET", "POST"], (pos == 3) * 1)),
            ("url.full", is_root, _strings(urls, route[trace_of])),
            ("http.response.status_code", http_span, _strings(["200", "500"], fail * 1)),
            ("status", is_root, _strings(["ok", "error"], fail * 1)),
            ("customer_id", is_root, _strings(customers, rng.integers(0, 50_000, n))),
            ("server.address", np.isin(pos, [2, 3]), _strings(SERVICES, callee)),
            ("db.system", np.isin(pos, [5, 9]), _strings(["postgresql", "redis"], (pos == 9) * 1)),
            ("db.name", pos == 5, _const("orders", n)),
            ("rpc.system", pos == 8, _const("aws-api", n)),
            ("rpc.service", pos == 8, _const("DynamoDB", n)),
        ],
        n,
    )
    typed_counts = http_span.astype(np.int32)
    typed = _lists(typed_counts, _const("http.response.status_code", int(typed_counts.sum())))
    everyone = np.ones(n, dtype=bool)
    hosts = [f"ip-10-0-1-{i}" for i in range(64)]
    resource = _map(
        [
            ("service.name", everyone, _strings(SERVICES, service)),
            ("service.version", everyone, _const("1.4.2", n)),
            ("cloud.platform", everyone, _const("aws_ecs", n)),
            ("host.name", everyone, _strings(hosts, rng.integers(0, 64, n))),
        ],
        n,
    )
    failed = np.flatnonzero(status == 2)
    k = len(failed)
    events = pa.StructArray.from_arrays(
        [
            pa.array(end[failed], pa.timestamp("ns")),
            _const("exception", k),
            _map(
                [
                    ("exception.type", np.ones(k, dtype=bool), _const("TimeoutError", k)),
                    ("exception.message", np.ones(k, dtype=bool), _const("timed out", k)),
                ],
                k,
            ),
            _lists(np.zeros(k, dtype=np.int32), pa.array([], pa.string())),
        ],
        fields=list(EVENT),
    )
    no_rows = np.zeros(n, dtype=np.int32)
    columns: dict[str, Any] = {
        "tenant": _const("default", n),
        "trace_id": _fixed(trace_raw, TRACE_ID),
        "span_id": _fixed(span_raw, SPAN_ID),
        "parent_span_id": _fixed(parent_raw, SPAN_ID),
        "trace_state": _const("", n),
        "name": _strings(vocab, name_index),
        "kind": pa.array(kind),
        "service": _strings(SERVICES, service),
        "start_time": pa.array(start, pa.timestamp("ns")),
        "end_time": pa.array(end, pa.timestamp("ns")),
        "status_code": pa.array(status),
        "status_message": _strings(["", "upstream timed out"], (status == 2) * 1),
        "attributes": attrs,
        "attributes_typed": typed,
        "resource": resource,
        "resource_typed": _lists(no_rows, pa.array([], pa.string())),
        "scope_name": _const("opentelemetry.instrumentation.flask", n),
        "scope_version": _const("0.48b0", n),
        "events": _lists((status == 2).astype(np.int32), events),
        "links": _lists(no_rows, pa.array([], LINK)),
    }
    return pa.Table.from_pydict(columns, schema=SPAN_SCHEMA)
