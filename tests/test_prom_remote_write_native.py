"""The native remote-write 2.0 decoder (``prom/_remotewrite_v2.pxi``) against the
reference (``remote_write.decode_v2_reference``, upb protobuf): the same random and
edge-case requests through both, the results compared whole — Arrow tables, the metadata
table's entries in order, counts, refusals and their wording. The native decoder may
decline (the reference then decides), never answer differently; and Prometheus' usual
requests must not be declined. Also 1.0's keys that protobuf refuses."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.ingest.interface import RequestError
from vigil.ingest.prom import proto
from vigil.ingest.prom.remote_write import (
    NATIVE,
    NATIVE_V2,
    decode_v1_reference,
    decode_v2,
    decode_v2_reference,
)
from vigil.ingest.prom.series import Metadata

NOW = time.time_ns()
T = NOW // 1_000_000
DAY_MS = 86_400_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
SETTINGS = settings(
    max_examples=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.skipif(NATIVE_V2 is None, reason="native decoders switched off")


def _outcome(decode: Any, body: bytes) -> tuple[Any, ...]:
    """Everything the handler takes from a decoded request, comparable with ==."""
    try:
        batch = decode(body)
    except RequestError as exc:
        return ("refused", str(exc))
    decoded = batch.decoded(NOW)
    table = None if decoded.metrics is None else decoded.metrics.to_arrow()
    extra = {k: v.to_pylist() for k, v in decoded.extra.items()}
    return (
        "stored",
        None if table is None else table.to_pylist(),
        list(batch.metadata.items()),
        batch.samples,
        batch.skipped,
        batch.histograms,
        batch.exemplars_stored,
        batch.rejected.count,
        batch.rejected.text(),
        extra,
        table,
    )


def check_v2(body: bytes, *, native: bool | None = None) -> None:
    """``decode_v2`` (native first) and the reference agree; ``native``: whether the
    native decoder must take (True) or decline (False) the body."""
    assert NATIVE_V2 is not None
    taken = NATIVE_V2(body, "t1", NOW) is not None
    if native is not None:
        assert taken == native, f"native {'declined' if native else 'took'} {body.hex()}"
    ours = _outcome(lambda b: decode_v2(b, "t1", NOW), body)
    reference = _outcome(lambda b: decode_v2_reference(b, "t1"), body)
    if ours[0] == "stored" and reference[0] == "stored":
        if reference[-1] is not None:
            assert ours[-1] is not None
            assert ours[-1].equals(reference[-1])
        assert ours[:-1] == reference[:-1]
    else:
        assert ours == reference
    if taken:
        assert reference[0] == "stored"


# ---------------------------------------------------------------- hand-built requests


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([byte])
        out += bytes([byte | 0x80])


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _symbols(*texts: bytes) -> bytes:
    return b"".join(_ld(4, s) for s in texts)


def _sample(value: float = 1.5, ts: int = T) -> bytes:
    return _ld(2, b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(ts))


def _refs(*refs: int) -> bytes:
    return _ld(1, b"".join(_varint(r) for r in refs))


SYMS = _symbols(b"", b"__name__", b"m", b"job", b"x", b"Help.", b"seconds")
GOOD = SYMS + _ld(5, _refs(1, 2, 3, 4) + _sample() + _ld(5, b"\x08\x01\x18\x05\x20\x06"))


def prometheus_request(
    series: int = 2000, *, metadata: bool = True, t: int = T, exemplar_every: int = 0
) -> bytes:
    """What Prometheus ≥ 2.54 sends with ``protobuf_message:
    io.prometheus.write.v2.Request``: one series per sample, labels sorted, interned
    symbols, a metadata message on every series (empty when it knows none)."""
    symbols = [""]
    index: dict[str, int] = {}

    def sym(text: str) -> int:
        if text not in index:
            index[text] = len(symbols)
            symbols.append(text)
        return index[text]

    req = proto.RequestV2()
    families = [
        ("node_cpu_seconds_total", 1, "Seconds the CPUs spent in each mode."),
        ("node_memory_MemFree_bytes", 2, "Memory information field MemFree_bytes."),
        ("node_disk_io_time_seconds_total", 1, "Total seconds spent doing I/Os."),
        ("go_gc_duration_seconds_count", 5, "A summary of the GC invocation durations."),
    ]
    for i in range(series):
        name, mtype, help_text = families[(i // 50) % len(families)]
        labels = sorted(
            [
                ("__name__", name),
                ("cpu", str(i % 64)),
                ("instance", f"host-{i // 512:04d}:9100"),
                ("job", "node"),
                ("mode", ("idle", "user", "system", "iowait")[i % 4]),
            ]
        )
        ts = req.timeseries.add(labels_refs=[sym(x) for kv in labels for x in kv])
        ts.samples.add(value=1000.0 + i * 0.5, timestamp=t)
        if exemplar_every and i % exemplar_every == 0:
            trace = [sym("trace_id"), sym(f"{i:032x}")]
            ts.exemplars.add(labels_refs=trace, value=1000.0 + i * 0.5, timestamp=t - 10)
        if metadata:
            ts.metadata.type = mtype
            ts.metadata.help_ref = sym(help_text)
            ts.metadata.unit_ref = sym("seconds" if "seconds" in name else "")
        else:
            ts.metadata.SetInParent()
    req.symbols.extend(symbols)
    return bytes(req.SerializeToString())


def test_prometheus_requests_take_the_native_decoder() -> None:
    for body in (
        prometheus_request(),
        prometheus_request(300, metadata=False),
        prometheus_request(300, exemplar_every=7),
    ):
        check_v2(body, native=True)
    exemplars = decode_v2(prometheus_request(20, exemplar_every=7), "t1", NOW)
    assert [(e[0], e[2]) for e in exemplars.exemplars] == [
        ("node_cpu_seconds_total", [("trace_id", f"{i:032x}")]) for i in (0, 7, 14)
    ]
    batch = decode_v2(prometheus_request(200), "t1", NOW)
    assert batch.native is not None
    assert batch.native.num_rows == 200
    assert [m.family for m in batch.metadata.values()] == [
        "node_cpu_seconds_total",
        "node_memory_MemFree_bytes",
        "node_disk_io_time_seconds_total",
        "go_gc_duration_seconds",  # a summary's _count belongs to its family
    ]
    assert batch.metadata["go_gc_duration_seconds"].type == "summary"
    empty = decode_v2(prometheus_request(3, metadata=False), "t1", NOW).metadata
    assert list(empty.values()) == [Metadata("node_cpu_seconds_total", "unknown", "", "")]


@pytest.mark.parametrize(
    ("body", "native"),
    [
        pytest.param(GOOD, True, id="good"),
        pytest.param(b"", True, id="empty"),
        pytest.param(SYMS, True, id="symbols-only"),
        pytest.param(
            SYMS + _ld(5, b"".join(_varint(8) + _varint(r) for r in (1, 2, 3, 4)) + _sample()),
            True,
            id="unpacked-refs",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _sample() + _refs(3, 4)), True, id="split-packed-refs"
        ),
        pytest.param(SYMS + _ld(5, _refs(3, 4, 1, 2) + _sample()), True, id="unsorted-labels"),
        pytest.param(_ld(5, _refs(1, 2, 3, 4) + _sample()) + SYMS, True, id="symbols-after"),
        pytest.param(
            SYMS
            + _ld(5, _refs(1, 2) + _sample() + _ld(5, b"\x08\x01\x18\x05") + _ld(5, b"\x20\x06")),
            True,
            id="metadata-merged",
        ),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + _ld(5, b"")), True, id="metadata-no-samples"),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + _sample() + b"\x30\x05"), True, id="created-ts"),
        pytest.param(
            SYMS
            + _ld(
                5,
                _refs(1, 2)
                + _ld(2, b"\x09" + struct.pack("<d", 2.0) + b"\x10" + _varint(T) + b"\x18\x07"),
            ),
            True,
            id="sample-start-timestamp",
        ),
        pytest.param(
            SYMS
            + _ld(5, _refs(1, 2) + _sample(float("nan")) + _sample(STALE) + _sample(float("inf"))),
            True,
            id="not-finite",
        ),
        pytest.param(SYMS + _ld(5, _refs(1, 2, 3, 0) + _sample()), True, id="empty-value"),
        pytest.param(
            SYMS + _ld(9, b"xyz") + b"\x50\x01" + GOOD[len(SYMS) :], True, id="unknown-fields"
        ),
        pytest.param(
            _symbols(b"", b"__name__", "m\u00e9tr\u2603".encode(), b"k", "\u00e9".encode(), b"ka")
            + _ld(5, _refs(1, 2, 5, 4, 3, 4) + _sample()),
            True,
            id="utf8-sorted-by-code-point",
        ),
        # Declined: the reference refuses or words a rejection.
        pytest.param(_symbols(b"x") + GOOD, False, id="symbols0-not-empty"),
        pytest.param(SYMS + _ld(5, _refs(1, 2, 3) + _sample()), False, id="odd-refs"),
        pytest.param(SYMS + _ld(5, _refs(1, 2, 3, 99) + _sample()), False, id="ref-out-of-range"),
        pytest.param(SYMS + _ld(5, _refs(1, 2, 1, 4) + _sample()), False, id="name-twice"),
        pytest.param(SYMS + _ld(5, _refs(0, 2, 1, 2) + _sample()), False, id="empty-label-name"),
        pytest.param(SYMS + _ld(5, _refs(1, 0) + _sample()), False, id="empty-name"),
        pytest.param(SYMS + _ld(5, _refs(3, 4) + _sample()), False, id="no-name"),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _sample() + _ld(5, b"\x18\x63")),
            False,
            id="help-ref-out-of-range",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _sample() + _ld(5, b"\x08\x63")), False, id="type-99"
        ),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + _sample(ts=T - 20 * DAY_MS)), False, id="too-old"),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + _sample(ts=T + DAY_MS)), False, id="too-new"),
        pytest.param(
            SYMS + _ld(5, _refs(1, (1 << 32) + 2) + _sample()), False, id="ref-over-32-bits"
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _sample() + b"\x0d\x01\x00\x00\x00"),
            False,
            id="refs-as-fixed32",
        ),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + b"\x10\x01"), False, id="samples-as-varint"),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _sample() + _ld(6, b"")), False, id="created-ts-as-bytes"
        ),
        pytest.param(
            SYMS
            + _ld(
                5,
                _refs(1, 2, 3, 4)
                + _ld(
                    4, _refs(5, 6, 3, 4) + b"\x11" + struct.pack("<d", 0.5) + b"\x18" + _varint(T)
                ),
            ),
            True,
            id="exemplar",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, b"") + _ld(4, _refs(3, 0))),
            True,
            id="exemplar-defaults",
        ),
        pytest.param(
            SYMS
            + _ld(
                5,
                _refs(1, 2)
                + _ld(
                    4,
                    _refs(3, 4, 3, 0)
                    + b"\x11"
                    + struct.pack("<d", float("nan"))
                    + b"\x18"
                    + _varint(T),
                ),
            ),
            True,
            id="exemplar-nan-repeated-label",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, _refs(3, 4) + b"\x18" + _varint(T - 20 * DAY_MS))),
            True,
            id="exemplar-too-old",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, b"\x08\x03\x08\x04" + b"\x20\x01")),
            True,
            id="exemplar-unpacked-unknown-field",
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, _refs(3)) + _sample()), False, id="exemplar-odd"
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, _refs(3, 77))), False, id="exemplar-out-of-range"
        ),
        pytest.param(
            SYMS + _ld(5, _refs(1, 2) + _ld(4, b"\x10\x01")), False, id="exemplar-value-as-varint"
        ),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + b"\x20\x01"), False, id="exemplar-as-varint"),
        pytest.param(SYMS + _ld(5, _refs(1, 2) + _ld(3, b"\x08\x01")), False, id="histogram"),
        pytest.param(SYMS + b"\x33\x34", False, id="unknown-group"),
        pytest.param(_symbols(b"", b"\xff") + GOOD, False, id="bad-utf8"),
        pytest.param(_symbols(b"", b"\xed\xa0\x80"), False, id="surrogate"),
        pytest.param(_symbols(b"", b"\xc0\x80"), False, id="overlong"),
        pytest.param(GOOD + b"\x00\x01", False, id="field-0"),
        pytest.param(GOOD + b"\xf8\xff\xff\xff\x7f\x01", False, id="field-over-32-bits"),
        pytest.param(GOOD + b"\x50" + b"\xff" * 10 + b"\x01", False, id="varint-over-64-bits"),
        pytest.param(GOOD[:-1], False, id="truncated"),
        pytest.param(GOOD + b"\x2a\x05\x0a", False, id="length-past-the-end"),
        pytest.param(b"\x2a", False, id="key-only"),
        pytest.param(
            SYMS + _ld(5, _refs(*([1, 2] + [3, 4] * 200)) + _sample()), False, id="over-128-labels"
        ),
    ],
)
def test_edge_cases_agree_with_the_reference(body: bytes, native: bool) -> None:
    check_v2(body, native=native)


def test_metadata_repeated_and_changed_replays_as_the_reference() -> None:
    # Family f described, redescribed, then described as first again: the reference
    # keeps the first key position and the last value; native runs must too.
    syms = _symbols(b"", b"__name__", b"f", b"g", b"one", b"two")
    body = syms + b"".join(
        _ld(5, _refs(1, name) + _sample() + _ld(5, b"\x08\x02\x18" + _varint(help_ref)))
        for name, help_ref in ((2, 4), (2, 4), (3, 5), (2, 5), (2, 4))
    )
    check_v2(body, native=True)
    metadata = decode_v2(body, "t1", NOW).metadata
    assert [(m.family, m.help) for m in metadata.values()] == [("f", "one"), ("g", "two")]


def test_v1_keys_protobuf_refuses_are_declined() -> None:
    # Field number 0 and keys over 32 bits are parse errors (upb); the 1.0 native decoder
    # used to skip them and store the rest.
    assert NATIVE is not None
    req = proto.WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="m")
    ts.samples.add(value=1.0, timestamp=T)
    good = bytes(req.SerializeToString())
    assert NATIVE(good, "t1", NOW) is not None
    for extra in (b"\x00\x01", b"\xf8\xff\xff\xff\x7f\x01", b"\x28" + b"\xff" * 10 + b"\x01"):
        with pytest.raises(RequestError):
            decode_v1_reference(good + extra, "t1")
        assert NATIVE(good + extra, "t1", NOW) is None


def test_native_decoders_switch_off() -> None:
    code = (
        "from vigil.ingest.prom.remote_write import NATIVE, NATIVE_V2; "
        "assert NATIVE is None and NATIVE_V2 is None"
    )
    env = {**os.environ, "VIGIL_NATIVE_DECODERS": "0"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


# ---------------------------------------------------------------- random requests

_TEXT = st.sampled_from(
    ["", "__name__", "a", "b", "job", "m", "m_total", "é", "☃", "le", "x_count", "x_sum"]
)


def _rarely(draw: st.DrawFn, one_in: int = 30) -> bool:
    # Not 0 nor the top: hypothesis draws the bounds of a range more often than 1 in n.
    return draw(st.integers(0, one_in - 1)) == one_in // 2


@st.composite
def requests_v2(draw: st.DrawFn) -> bytes:
    """Mostly what a sender sends (named series, distinct label names, samples in the
    window), each kind of fault now and then."""
    symbols = ["", "__name__", *draw(st.lists(_TEXT, max_size=10, unique=not _rarely(draw)))]
    if _rarely(draw, 50):
        symbols = symbols[1:]  # symbols[0] is not ""
    n = len(symbols)
    names = [i for i, s in enumerate(symbols) if s and s != "__name__"] or [1]
    req = proto.RequestV2(symbols=symbols)
    for _ in range(draw(st.integers(0, 5))):
        ts = req.timeseries.add()
        keys = draw(st.lists(st.sampled_from(names), max_size=4, unique=not _rarely(draw)))
        pairs = [(k, draw(st.integers(0, n - 1))) for k in keys]
        if not _rarely(draw):
            pairs.insert(draw(st.integers(0, len(pairs))), (1, draw(st.sampled_from(names))))
        if _rarely(draw):
            pairs.append((draw(st.integers(0, n + 1)), draw(st.integers(0, n + 1))))
        refs = [r for p in pairs for r in p]
        if _rarely(draw, 50):
            refs.append(draw(st.integers(0, n - 1)))  # odd length
        ts.labels_refs.extend(refs)
        for _ in range(draw(st.integers(0, 3))):
            value = draw(st.one_of(st.floats(), st.sampled_from([STALE, 0.0, -0.0, 1e300])))
            age = draw(st.sampled_from([0, 1000, 3_600_000, 13 * DAY_MS]))
            if _rarely(draw, 50):
                age = draw(st.sampled_from([15 * DAY_MS, -3 * 3_600_000]))
            ts.samples.add(value=value, timestamp=T - age)
        if draw(st.booleans()):
            ts.metadata.SetInParent()
            ts.metadata.type = draw(st.integers(0, 7))
            ts.metadata.help_ref = draw(st.integers(0, n if _rarely(draw) else n - 1))
            ts.metadata.unit_ref = draw(st.integers(0, n - 1))
        for _ in range(draw(st.integers(0, 2))):
            refs = [draw(st.integers(0, n - 1)) for _ in range(2 * draw(st.integers(0, 2)))]
            if _rarely(draw, 50):
                refs.append(n)  # odd and out of range
            value = draw(st.one_of(st.floats(), st.just(0.25)))
            age = draw(st.sampled_from([0, 1000, 15 * DAY_MS]))
            ts.exemplars.add(labels_refs=refs, value=value, timestamp=T - age)
        if _rarely(draw, 50):
            ts.histograms.add(count_int=0, schema=0, timestamp=T)
        if _rarely(draw):
            ts.created_timestamp = T - 1000
    return bytes(req.SerializeToString())


@SETTINGS
@given(requests_v2())
def test_random_requests_agree_with_the_reference(body: bytes) -> None:
    check_v2(body)


_SAMPLES = [
    GOOD,
    prometheus_request(3),
    prometheus_request(2, metadata=False),
    prometheus_request(3, exemplar_every=2),
]


@SETTINGS
@given(
    st.sampled_from(_SAMPLES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.integers(0, 10_000),
)
def test_mutated_requests_agree_with_the_reference(
    body: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(body)
    for at, value in flips:
        data[at % len(data)] = value
    check_v2(bytes(data[: len(data) - cut % 12]))


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_agree_with_the_reference(body: bytes) -> None:
    check_v2(body)
