"""The X-Ray decoder against its first, plainer version (tests/xray_reference.py): same rows,
same in-progress rows, same refusals with the same messages, for generated documents good
and bad. Stored documents are compared as JSON values: the decoder keeps a document
without nested subsegments as it was sent."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import xray_reference
from vigil.ingest.xray import ServiceNames, decode_documents
from vigil.model.xray import IN_PROGRESS_TABLE

NOW_NS = 1_700_000_000 * 10**9
HEX = "0123456789abcdef"

hex16 = st.text(HEX, min_size=16, max_size=16).filter(lambda t: t != "0" * 16)
start = st.one_of(
    st.floats(1_699_990_000, 1_699_999_000, allow_nan=False),
    st.integers(1_699_990_000, 1_699_999_000),
)
scalar = st.one_of(
    st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.floats(allow_nan=False)
)
annotation_maps = st.dictionaries(st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True), scalar)
http = st.fixed_dictionaries(
    {},
    optional={
        "request": st.fixed_dictionaries(
            {},
            optional={
                "method": st.sampled_from(["GET", "POST"]),
                "url": st.just("http://x/y"),
                "user_agent": st.just("curl"),
                "client_ip": st.just("10.0.0.1"),
            },
        ),
        "response": st.fixed_dictionaries(
            {}, optional={"status": st.one_of(st.integers(-1, 70000), st.just(True))}
        ),
    },
)
exception = st.fixed_dictionaries(
    {"message": st.text(max_size=5), "type": st.just("E")},
    optional={"stack": st.just([{"label": "f", "path": "p.py", "line": 3}])},
)
cause = st.one_of(
    st.just("0123456789abcdef"), st.fixed_dictionaries({"exceptions": st.lists(exception)})
)
OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "in_progress": st.booleans(),
    "annotations": annotation_maps,
    "error": st.booleans(),
    "fault": st.booleans(),
    "throttle": st.booleans(),
    "http": http,
    "user": st.text(max_size=4),
    "namespace": st.sampled_from(["aws", "remote", "local", ""]),
    "origin": st.sampled_from(["AWS::EC2::Instance", ""]),
    "sql": st.just({"url": "db"}),
    "cause": cause,
    "service": st.just({"version": "1.2"}),
    "metadata": st.just({"default": {"k": [1, 2]}}),
}
# One bad value is enough to refuse a document: at most one is put in, anywhere.
CORRUPTIONS: list[tuple[str, Any]] = [
    ("name", ""),
    ("name", "n" * 201),
    ("id", "xyz"),
    ("id", "0" * 16),
    ("start_time", True),
    ("start_time", "1699999999"),
    ("start_time", 1_700_010_000.0),
    ("end_time", 1.0),
    ("end_time", None),
    ("annotations", 1),
    ("annotations", {"a.b": 1}),
    ("annotations", {"k": [1]}),
    ("annotations", {"k": "v" * 1001}),
    ("error", 1),
    ("http", "bad"),
    ("http", {"request": "bad"}),
    ("user", 5),
    ("namespace", 5),
    ("origin", 5),
    ("cause", 7),
    ("cause", {"exceptions": [1]}),
    ("subsegments", {}),
    ("subsegments", [1]),
]


def node(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    optional = dict(OPTIONAL)
    if depth < 2:
        optional["subsegments"] = st.lists(node(depth + 1), max_size=3)
    body = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["svc", "DynamoDB", "db"]),
            "id": hex16,
            "start_time": start,
            "duration": st.floats(0, 5),
        },
        optional=optional,
    )
    return body.map(_ends)


def _ends(body: dict[str, Any]) -> dict[str, Any]:
    duration = body.pop("duration")
    if not body.get("in_progress") or duration > 2.5:
        body["end_time"] = body["start_time"] + duration
    return body


def _corrupt(doc: dict[str, Any], where: int, bad: tuple[str, Any] | None) -> dict[str, Any]:
    if bad is None:
        return doc
    nodes = [doc, *doc.get("subsegments", [])]
    target = nodes[where % len(nodes)]
    key, value = bad
    if value is None:
        target.pop(key, None)
        target.pop("in_progress", None)
    else:
        target[key] = value
    return doc


top = st.fixed_dictionaries(
    {
        "trace_id": st.one_of(
            st.just("1-5759e988-bd862e3fe1be46a994272793"),
            st.text(HEX, min_size=32, max_size=32),
            st.just("1-xyz"),
        ),
    },
    optional={
        "parent_id": st.one_of(hex16, hex16, st.just("nope")),
        "type": st.sampled_from(["segment", "subsegment", "subsegment", "other"]),
    },
)
documents = st.lists(
    st.builds(
        lambda body, head, where, bad, pretty: orjson.dumps(
            _corrupt({**body, **head}, where, bad), option=orjson.OPT_INDENT_2 if pretty else 0
        ),
        node(0),
        top,
        st.integers(0, 3),
        st.one_of(st.none(), st.none(), st.sampled_from(CORRUPTIONS)),
        st.booleans(),
    ),
    max_size=6,
)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        row["document"] = orjson.loads(row["document"])
    return rows


@settings(max_examples=100, deadline=None)
@given(documents, st.lists(st.binary(max_size=20), max_size=1))
def test_decoder_matches_reference(docs: list[bytes], junk: list[bytes]) -> None:
    batch = docs + junk
    fast = decode_documents(batch, "t1", NOW_NS, ServiceNames())
    plain = xray_reference.decode_documents(batch, "t1", NOW_NS, xray_reference.ServiceNames())
    assert [(f.index, f.id, f.message) for f in fast.failures] == [
        (f.index, f.id, f.message) for f in plain.failures
    ]
    assert fast.decoded.spans is not None
    assert plain.decoded.spans is not None
    assert _rows(fast.decoded.spans.to_arrow()) == _rows(plain.decoded.spans.to_arrow())
    assert fast.decoded.extra.keys() == plain.decoded.extra.keys()
    if IN_PROGRESS_TABLE in fast.decoded.extra:
        assert _rows(fast.decoded.extra[IN_PROGRESS_TABLE]) == _rows(
            plain.decoded.extra[IN_PROGRESS_TABLE]
        )
    assert fast.decoded.rejected.count == plain.decoded.rejected.count


def test_refused_document_leaves_no_rows_behind() -> None:
    good: dict[str, Any] = {"name": "a", "id": "1" * 16, "start_time": 1_699_999_000.0}
    good |= {"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "end_time": 1_699_999_001.0}
    # The last subsegment is refused after the segment and a first child were decoded.
    bad = {**good, "id": "2" * 16, "subsegments": [{**good, "id": "3" * 16}, {"name": "x"}]}
    result = decode_documents([orjson.dumps(good), orjson.dumps(bad)], "t1", NOW_NS)
    assert [f.index for f in result.failures] == [1]
    assert result.decoded.spans is not None
    table = result.decoded.spans.to_arrow()
    assert table.num_rows == 1
    assert {len(c) for c in table.columns} == {1}
