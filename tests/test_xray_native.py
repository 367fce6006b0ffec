"""The native X-Ray decoder (ingest/_xray.pyx through ingest/xray_native) against the
reference decoder (ingest/xray): for generated documents, good and bad, the same rows (the
stored documents byte for byte), the same refusals with the same messages and indexes, and
the same service names remembered; documents as the SDKs write them are taken natively (not
declined to the reference); random and mutated bytes never crash it."""

from __future__ import annotations

import gc
import json
import math
import os
import tracemalloc
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.test_xray_decoder import CORRUPTIONS, HEX, NOW_NS, _corrupt, hex16, node, top
from vigil.ingest import xray, xray_native
from vigil.ingest.xray import ServiceNames
from vigil.model.xray import IN_PROGRESS_TABLE

pytestmark = pytest.mark.skipif(xray_native.NATIVE is None, reason="native decoder not built")
EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "150"))

# Values as a JSON writer may spell them: escapes, non-ASCII text, floats of every size.
text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['a"b', "a\\b", "tab\there", "\x00\x1f\x7f", "é€😀", "/path/x", ""]),
)
number = st.one_of(
    st.integers(-(10**17), 10**17),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(1e-6, 1e17),
)
leaf = st.one_of(st.none(), st.booleans(), number, text)
# Keys with escapes are declined (native would have to compare them decoded): rare here.
key = st.one_of(st.from_regex(r"[a-z_0-9é]{0,6}", fullmatch=True), st.text(max_size=5))
opaque = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=4)),
    max_leaves=12,
)


def extra_members(opaque: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "metadata": st.dictionaries(key, opaque, max_size=3),
        "aws": opaque,
        "name": st.one_of(st.sampled_from(["svc", "DynamoDB"]), st.text(min_size=1, max_size=8)),
        "user": text,
        "annotations": st.dictionaries(
            st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True),
            st.one_of(text, st.booleans(), number),
            max_size=4,
        ),
        "http": st.fixed_dictionaries(
            {},
            optional={
                "request": st.fixed_dictionaries(
                    {}, optional={"url": text, "method": text, "client_ip": text, "x": opaque}
                ),
                "response": st.fixed_dictionaries(
                    {}, optional={"status": st.one_of(st.integers(-5, 70000), number, text)}
                ),
            },
        ),
        "cause": st.fixed_dictionaries(
            {
                "exceptions": st.lists(
                    st.fixed_dictionaries(
                        {"message": text, "type": text},
                        optional={
                            "stack": st.lists(
                                st.one_of(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "label": text,
                                            "path": text,
                                            "line": st.integers(0, 10**6),
                                        },
                                    ),
                                    leaf,
                                ),
                                max_size=3,
                            )
                        },
                    ),
                    max_size=2,
                )
            }
        ),
    }


EXTRA = extra_members(opaque)


def _decorate(doc: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = [doc, *doc.get("subsegments", [])]
    for target, more in zip(nodes, extra, strict=False):
        target.update(more)
    return doc


def _spell(doc: dict[str, Any], style: int) -> bytes:
    """The document as orjson, Python's json (ASCII escapes, spaces) or indented."""
    if style == 0:
        return orjson.dumps(doc)
    if style == 1:
        return json.dumps(doc).encode()
    if style == 2:
        return json.dumps(doc, ensure_ascii=False, indent=1).encode()
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


documents = st.lists(
    st.builds(
        lambda body, head, extra, where, bad, style: _spell(
            _corrupt(_decorate({**body, **head}, extra), where, bad), style
        ),
        node(0),
        top,
        st.lists(st.fixed_dictionaries({}, optional=EXTRA), max_size=4),
        st.integers(0, 3),
        st.one_of(st.none(), st.none(), st.none(), st.sampled_from(CORRUPTIONS)),
        st.integers(0, 3),
    ),
    max_size=6,
)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    # The whole row last: generated documents may repeat a span id within one trace and
    # document, and the two decoders need not emit such rows in the same order.
    return (row["trace_id"], row["span_id"], row["document"], repr(sorted(row.items())))


def _same(docs: Sequence[bytes | str]) -> None:
    """Both paths give the same result (native rows first: compared as sorted rows)."""
    fast_names, plain_names = ServiceNames(), ServiceNames()
    fast = xray_native.decode_documents(docs, "t1", NOW_NS, fast_names)
    plain = xray.decode_documents(docs, "t1", NOW_NS, plain_names)
    assert [(f.index, f.id, f.message) for f in fast.failures] == [
        (f.index, f.id, f.message) for f in plain.failures
    ]
    assert fast.decoded.rejected == plain.decoded.rejected
    assert fast.decoded.spans is not None
    assert plain.decoded.spans is not None
    fast_table = fast.decoded.spans.to_arrow()
    plain_table = plain.decoded.spans.to_arrow()
    assert fast_table.schema == plain_table.schema
    assert sorted(fast_table.to_pylist(), key=_key) == sorted(plain_table.to_pylist(), key=_key)
    assert fast.decoded.extra.keys() == plain.decoded.extra.keys()
    if IN_PROGRESS_TABLE in fast.decoded.extra:
        assert fast.decoded.extra[IN_PROGRESS_TABLE].equals(plain.decoded.extra[IN_PROGRESS_TABLE])
    assert fast_names.names == plain_names.names


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_native_gives_the_references_rows(docs: list[bytes]) -> None:
    _same(list(docs))


plain_key = st.from_regex(r"[a-z_0-9é]{0,6}", fullmatch=True)
plain_opaque = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(plain_key, inner, max_size=4)
    ),
    max_leaves=12,
)
valid_documents = st.builds(
    lambda body, extra, style: _spell(
        _decorate({**body, "trace_id": "1-5759e988-bd862e3fe1be46a994272793"}, extra), style
    ),
    node(0),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                **extra_members(plain_opaque),
                "metadata": st.dictionaries(plain_key, plain_opaque, max_size=3),
            },
        ),
        max_size=4,
    ),
    st.integers(0, 3),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(valid_documents)
def test_valid_documents_are_taken_natively(doc: bytes) -> None:
    """Only in-progress nodes (kept aside by the reference) send a valid document there."""
    declined: list[int] = []
    _native([doc], declined)
    plain = xray.decode_documents([doc], "t1", NOW_NS)
    assume(not plain.failures)  # infinities become null (refused) in annotations
    if IN_PROGRESS_TABLE not in plain.decoded.extra:
        assert declined == []
    _same([doc])


@settings(max_examples=EXAMPLES, deadline=None)
@given(documents, st.data())
def test_mutated_documents(docs: list[bytes], data: st.DataObject) -> None:
    mutated = []
    for doc in docs:
        if doc:
            at = data.draw(st.integers(0, len(doc) - 1))
            byte = data.draw(st.integers(0, 255))
            doc = doc[:at] + bytes([byte]) + doc[at + 1 :]
        mutated.append(doc)
    _same(mutated)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=4))
def test_random_bytes(docs: list[bytes]) -> None:
    _same(list(docs))


@settings(max_examples=EXAMPLES * 4, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 2))
def test_floats_are_written_back_as_orjson_writes_them(value: float, spelling: int) -> None:
    """A nested node's document is rewritten: every float must come out as orjson's."""
    written = (repr(value), f"{value:.17g}", f"{value:.6e}")[spelling]
    if "inf" in written or "nan" in written or not _is_json_number(written):
        return
    sub = f'{{"name":"s","id":"{"1" * 16}","start_time":1,"end_time":2,"v":{written}}}'
    doc = (
        f'{{"name":"a","id":"{"2" * 16}","trace_id":"{"3" * 32}","start_time":1,'
        f'"end_time":2,"subsegments":[{sub}]}}'
    ).encode()
    declined: list[int] = []
    table = _native([doc], declined)
    if math.isfinite(float(written)):
        assert declined == []
        assert table is not None
        stored = table.column("document")[1].as_py()
        assert stored == orjson.dumps(orjson.loads(sub)).decode()


def _is_json_number(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _native(docs: Sequence[bytes], declined: list[int]) -> pa.Table | None:
    assert xray_native.NATIVE is not None
    return xray_native.NATIVE(docs, "t1", NOW_NS, {}, 1000, declined.append)


SDK_SEGMENT = {
    # What aws_xray_sdk (Python) sends: json.dumps of the entity, nested subsegments.
    "id": "70de5b6f19ff9a0a",
    "name": "orders",
    "start_time": 1699999000.123456,
    "trace_id": "1-655fd4a8-1d0e7a9ac7ad4dd0b0a2d2d5",
    "end_time": 1699999000.5432108,
    "in_progress": False,
    "http": {
        "request": {"url": "http://orders/api/1", "method": "POST", "user_agent": "curl/8"},
        "response": {"status": 500, "content_length": 12},
    },
    "fault": True,
    "annotations": {"status": "error", "customer_id": 7, "vip": True, "score": 0.25},
    "metadata": {"default": {"order": {"items": [1, 2], "total": 12.5}}},
    "aws": {"xray": {"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}},
    "service": {"runtime": "CPython", "runtime_version": "3.11.9", "version": "1.2.0"},
    "cause": {
        "working_directory": "/app",
        "exceptions": [
            {
                "id": "3e2c3d6f9a1b2c4d",
                "message": 'KeyError: "sku"',
                "type": "KeyError",
                "stack": [{"path": "app.py", "line": 42, "label": "handle"}],
            }
        ],
    },
    "subsegments": [
        {
            "id": "1a2b3c4d5e6f7081",
            "name": "DynamoDB",
            "start_time": 1699999000.2,
            "end_time": 1699999000.3000002,
            "namespace": "aws",
            "in_progress": False,
            "aws": {"operation": "GetItem", "table_name": "orders", "retries": 0},
            "http": {"response": {"status": 200}},
        },
        {
            "id": "1a2b3c4d5e6f7082",
            "name": "db.example.com",
            "start_time": 1699999000.31,
            "end_time": 1699999000.4,
            "namespace": "remote",
            "sql": {"url": "postgresql://db/orders", "database_type": "PostgreSQL"},
            "subsegments": [
                {
                    "id": "1a2b3c4d5e6f7083",
                    "name": "pool",
                    "start_time": 1699999000.311,
                    "end_time": 1699999000.312,
                }
            ],
        },
    ],
}


def test_sdk_documents_are_taken_natively() -> None:
    streamed = {
        "type": "subsegment",
        "id": "1a2b3c4d5e6f7084",
        "name": "S3",
        "trace_id": SDK_SEGMENT["trace_id"],
        "parent_id": SDK_SEGMENT["id"],
        "start_time": 1699999000.41,
        "end_time": 1699999000.42,
        "namespace": "aws",
    }
    docs = [json.dumps(SDK_SEGMENT).encode(), orjson.dumps(SDK_SEGMENT), orjson.dumps(streamed)]
    declined: list[int] = []
    table = _native(docs, declined)
    assert declined == []
    assert table is not None
    assert table.num_rows == 9
    _same(docs)
    # The streamed subsegment found its parent's service.
    assert table.column("service").to_pylist()[-1] == "orders"


def test_in_progress_and_refused_documents_go_to_the_reference() -> None:
    started = {k: v for k, v in SDK_SEGMENT.items() if k not in ("end_time", "subsegments")}
    started["in_progress"] = True
    child = {
        "type": "subsegment",
        "id": "1a2b3c4d5e6f7085",
        "name": "late",
        "trace_id": SDK_SEGMENT["trace_id"],
        "parent_id": SDK_SEGMENT["id"],
        "start_time": 1699999000.5,
        "end_time": 1699999000.6,
    }
    bad = {**child, "id": "zz"}
    docs = [orjson.dumps(started), orjson.dumps(child), orjson.dumps(bad), b"{", b"[]"]
    declined: list[int] = []
    _native(docs, declined)
    assert declined == [0, 2, 3, 4]
    _same(list(docs))
    result = xray_native.decode_documents(docs, "t1", NOW_NS, ServiceNames())
    assert [f.index for f in result.failures] == [2, 3, 4]
    assert result.decoded.extra[IN_PROGRESS_TABLE].num_rows == 1
    spans = result.decoded.spans
    assert spans is not None
    # The independent subsegment decoded natively knows the service of the in-progress
    # segment the reference decoded just before it.
    assert spans.to_arrow().column("service").to_pylist() == ["orders"]


def test_text_documents_as_put_trace_segments_gives_them() -> None:
    docs: list[bytes | str] = [
        json.dumps(SDK_SEGMENT, ensure_ascii=False),
        json.dumps({**SDK_SEGMENT, "name": "naïve"}),
        '{"name": "\ud800"}',
    ]
    _same(docs)


def test_deep_and_large_documents() -> None:
    leaf: dict[str, Any] = {"name": "n", "id": "4" * 16, "start_time": 1, "end_time": 2}
    deep = dict(leaf)
    for _ in range(70):
        deep = {**leaf, "subsegments": [deep]}
    deep |= {"trace_id": "5" * 32}
    big = {**leaf, "trace_id": "5" * 32, "metadata": {"x": "y" * 70_000}}
    _same([orjson.dumps(deep), orjson.dumps(big), orjson.dumps({**leaf, "trace_id": HEX * 2})])


@given(hex16)
def test_ids_any_case(span: str) -> None:
    doc = {"name": "a", "id": span.upper(), "trace_id": "1-5759E988-BD862E3FE1BE46A994272793"}
    _same([orjson.dumps({**doc, "start_time": 1.5, "end_time": 2})])


def test_end_time_far_ahead_is_refused_alone() -> None:
    """An end beyond the store's nanosecond range once failed the whole batch's table."""
    good = {"name": "a", "id": "1" * 16, "trace_id": "2" * 32, "start_time": 1_699_999_000}
    docs = [
        orjson.dumps({**good, "end_time": 1_699_999_001}),
        orjson.dumps({**good, "end_time": 1e12}),
    ]
    _same(docs)
    result = xray_native.decode_documents(docs, "t1", NOW_NS)
    assert [(f.index, f.message) for f in result.failures] == [
        (1, "a: end_time is more than 2 hours in the future")
    ]
    assert result.decoded.spans is not None
    assert result.decoded.spans.to_arrow().num_rows == 1


def test_declining_does_not_leak() -> None:
    """Declining raises one shared exception; its traceback must not grow with each raise."""
    docs = [b'{"name": "a"'] * 2000

    def traced() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        _native(docs, [])
        before = traced()
        for _ in range(5):
            _native(docs, [])
        grown = traced() - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000  # it was ~2.5 MB per 1,000 declined documents
