"""The write-ahead log's file format and the writer's queue bounds (no store)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import cast

import pyarrow as pa
import pytest

from vigil.store.interface import Overloaded, Store
from vigil.store.wal import HEADER, FlushState, WriteAheadLog, decode, encode
from vigil.store.writer import WalWriter
from vigil.telemetry import SelfMetrics


def _tables(n: int) -> dict[str, pa.Table]:
    return {
        "logs": pa.table({"body": [f"line {i}" for i in range(n)]}),
        "metrics": pa.table({"value": pa.array([float(i) for i in range(n)])}),
    }


_CHDB_READS_DECODED = """
import sys
import chdb
import pyarrow as pa
from vigil.store.wal import decode, encode

table = pa.table({"n": pa.array(range(100), pa.int64()), "s": [str(i) for i in range(100)]})
rows = decode(encode({sys.argv[1]: table}))[sys.argv[1]]
print(str(chdb.query("SELECT sum(n) FROM Python(rows)", "CSV")).strip())
"""


@pytest.mark.parametrize("name", ["m", "logs", "spans", "metrics", "abcdefgh"])
def test_replayed_tables_are_aligned_for_chdb(name: str) -> None:
    """Each table's stream sits after its name in a record, at any offset; decoded, its
    columns are still 8-byte aligned, so chDB's Python() table function (Acero) reads
    them without warning "poorly aligned … could lead to crashes" (issue 16)."""
    table = pa.table({"n": pa.array(range(100), pa.int64()), "s": [str(i) for i in range(100)]})
    rows = decode(encode({name: table}))[name]
    for column in rows.columns:
        for buffer in column.chunks[0].buffers():
            assert buffer is None or buffer.address % 8 == 0
    # chDB in a process of its own: one engine per process, and other tests open theirs.
    done = subprocess.run(
        [sys.executable, "-c", _CHDB_READS_DECODED, name],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "4950"
    assert "poorly aligned" not in done.stderr


def test_payload_round_trip() -> None:
    tables = _tables(3)
    assert {k: v.to_pylist() for k, v in decode(encode(tables)).items()} == {
        k: v.to_pylist() for k, v in tables.items()
    }


def test_records_survive_reopen_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    positions = wal.append([encode(_tables(1)), encode(_tables(2))])
    positions += wal.append([encode(_tables(3))])
    wal.close()
    # A crash in the middle of a write leaves half a record at the end of the segment.
    segment = tmp_path / "000000000001.wal"
    segment.write_bytes(segment.read_bytes() + HEADER.pack(b"\xa7\x1e", 1000, 0) + b"partial")
    reopened = WriteAheadLog(tmp_path)
    found = list(reopened.records())
    assert [pos for pos, _ in found] == positions
    assert [decode(p)["logs"].num_rows for _, p in found] == [1, 2, 3]
    # New records go to a new segment, never after the torn tail.
    (pos,) = reopened.append([encode(_tables(4))])
    assert pos == (2, 0)
    reopened.close()
    again = WriteAheadLog(tmp_path)
    assert [decode(p)["logs"].num_rows for _, p in again.records()] == [1, 2, 3, 4]
    again.close()


def test_records_from_a_position_and_a_corrupt_record_stops_the_read(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    first, second, third = wal.append([encode(_tables(n)) for n in (1, 2, 3)])
    wal.close()
    reader = WriteAheadLog(tmp_path)
    assert [pos for pos, _ in reader.records(second)] == [second, third]
    segment = tmp_path / "000000000001.wal"
    data = bytearray(segment.read_bytes())
    data[third[1] + HEADER.size + 5] ^= 0xFF  # a flipped bit fails the CRC
    segment.write_bytes(bytes(data))
    assert [pos for pos, _ in reader.records()] == [first, second]
    reader.close()


def test_flush_state_and_segment_cleanup(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1)  # one record per segment
    a = wal.append([encode(_tables(1))])[0]
    b = wal.append([encode(_tables(1))])[0]
    c = wal.append([encode(_tables(1))])[0]
    assert (a[0], b[0], c[0]) == (1, 2, 3)
    assert wal.flush_state() == FlushState(done=(0, 0), inflight=None)
    wal.save_flush_state(FlushState(done=b, inflight=(b, c)))
    assert wal.flush_state() == FlushState(done=b, inflight=(b, c))
    assert wal.segments() == [2, 3]  # everything before `done` is gone
    assert [pos for pos, _ in wal.records(wal.flush_state().done)] == [b, c]
    wal.close()


def test_the_queue_is_bounded_in_bytes_as_well_as_rows(tmp_path: Path) -> None:
    # The writer's threads are not started: submitted tables stay queued, nothing is inserted.
    writer = WalWriter(
        cast(Store, None),
        WriteAheadLog(tmp_path),
        SelfMetrics(),
        max_queue_rows=1_000,
        max_queue_bytes=4_096,
    )
    wide = pa.table({"body": ["x" * 1_000] * 8})  # 8 rows, ~8 KB: over the byte bound
    assert wide.nbytes > writer.max_queue_bytes
    writer.submit({"logs": wide})  # an empty queue takes any batch, or it could never pass
    with pytest.raises(Overloaded):
        writer.submit({"logs": pa.table({"body": ["y"]})})
    assert writer.queued_rows == 8


def test_the_queue_is_bounded_in_rows(tmp_path: Path) -> None:
    writer = WalWriter(cast(Store, None), WriteAheadLog(tmp_path), SelfMetrics(), max_queue_rows=10)
    writer.submit(_tables(4))  # 8 rows over two tables
    with pytest.raises(Overloaded):
        writer.submit(_tables(2))
    writer.submit(_tables(1))
    assert writer.queued_rows == 10


class _SlowStore:
    """Inserts wait until released: a ClickHouse slow enough for a read barrier to time
    out cannot be produced on cue, so this stands in for it (inserts are only counted)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.rows = 0

    def insert(self, table: str, data: pa.Table, *, dedup_token: str | None = None) -> None:
        self.release.wait(30)
        self.rows += data.num_rows


def test_a_timed_out_read_barrier_does_not_stop_the_flusher(tmp_path: Path) -> None:
    store = _SlowStore()
    writer = WalWriter(
        cast(Store, store), WriteAheadLog(tmp_path), SelfMetrics(), flush_interval=0.01
    )
    writer.start()
    try:

        async def scenario() -> None:
            await writer.write({"logs": pa.table({"body": ["a", "b"]})})
            waiting = writer.barrier_future()
            assert waiting is not None
            # What barrier() does when BARRIER_TIMEOUT passes: the wrapped future is
            # cancelled by asyncio.wait_for.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(waiting), 0.05)
            assert waiting.cancelled()
            store.release.set()
            await writer.write({"logs": pa.table({"body": ["c"]})})
            await asyncio.wait_for(writer.barrier(), 10)

        asyncio.run(scenario())
        assert store.rows == 3  # the flusher lived on past the cancelled barrier
        assert writer.queued_rows == 0
    finally:
        store.release.set()
        writer.stop()


def test_a_timed_out_read_barrier_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that could not wait for the newest writes says so on /metrics."""
    import vigil.store.writer as writer_module

    monkeypatch.setattr(writer_module, "BARRIER_TIMEOUT", 0.05)
    store = _SlowStore()
    metrics = SelfMetrics()
    writer = WalWriter(cast(Store, store), WriteAheadLog(tmp_path), metrics, flush_interval=0.01)
    writer.start()
    try:

        async def scenario() -> None:
            await writer.write({"logs": pa.table({"body": ["a"]})})
            await writer.barrier()  # returns after the timeout, the insert still blocked

        asyncio.run(scenario())
        assert metrics.barrier_timeouts._value.get() == 1
        assert b"vigil_writer_read_barrier_timeouts_total 1.0" in metrics.render()
    finally:
        store.release.set()
        writer.stop()


def test_a_cancelled_write_does_not_stop_the_appender(tmp_path: Path) -> None:
    """A periodic task cancelled at shutdown while its write waits for the WAL: the batch
    is logged all the same and the appender thread lives on (it died on the cancelled
    future's InvalidStateError)."""
    store = _SlowStore()
    store.release.set()
    writer = WalWriter(
        cast(Store, store),
        WriteAheadLog(tmp_path),
        SelfMetrics(),
        commit_interval=0.2,  # the write lingers: time to cancel its waiter
        flush_interval=0.01,
    )
    writer.start()
    try:

        async def scenario() -> None:
            waiting = asyncio.ensure_future(writer.write({"logs": pa.table({"body": ["a"]})}))
            await asyncio.sleep(0.02)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.wait_for(writer.write({"logs": pa.table({"body": ["b"]})}), 10)
            await asyncio.wait_for(writer.barrier(), 10)

        asyncio.run(scenario())
        assert store.rows == 2
    finally:
        writer.stop()
