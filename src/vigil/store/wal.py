"""Write-ahead log: acknowledged batches on disk before they reach ClickHouse.

Files in the WAL directory:
  ``NNNNNNNNNNNN.wal``  segments of records, appended in order; a record is
                        ``magic (2) | length (4) | crc32 (4) | payload`` (little-endian);
                        the payload is one request's tables (``encode``/``decode``).
  ``flush.json``        the flush state: every record before ``done`` is in ClickHouse;
                        ``inflight`` is the range of the insert under way, if any.

A position is ``(segment, offset)`` of a record's first byte; positions order records.
After a crash the last segment may end in a torn record: reading stops there and the
next append starts a new segment, so a torn tail is never followed by good records.
Thread-safety: ``append`` from one thread (the writer's appender), the flush-state
methods from one thread (the flusher); ``records`` before either starts.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

MAGIC = b"\xa7\x1e"
HEADER = struct.Struct("<2sII")
SEGMENT_BYTES = 64 * 1024 * 1024

Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class FlushState:
    done: Position  # every record before this position is in the store
    inflight: tuple[Position, Position] | None  # [start, end) being inserted, if any


def encode(tables: Mapping[str, pa.Table]) -> bytes:
    """One record's payload: the tables as Arrow IPC streams, each after its name."""
    parts: list[bytes | pa.Buffer] = []
    for name, table in tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue()  # joined below from the Arrow buffer: no copy to bytes first
        raw_name = name.encode()
        parts.append(struct.pack("<H", len(raw_name)) + raw_name + struct.pack("<Q", data.size))
        parts.append(data)
    return b"".join(parts)


def decode(payload: bytes) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}
    view = memoryview(payload)
    at = 0
    while at < len(view):
        (name_len,) = struct.unpack_from("<H", view, at)
        at += 2
        name = bytes(view[at : at + name_len]).decode()
        at += name_len
        (size,) = struct.unpack_from("<Q", view, at)
        at += 8
        tables[name] = pa.ipc.open_stream(_aligned(view[at : at + size])).read_all()
        at += size
    return tables


def _aligned(view: memoryview) -> pa.Buffer:
    """The stream as an Arrow buffer starting at a multiple of 8 bytes.

    An IPC stream pads its buffers to 8 bytes *from the stream's start*, and read in place
    the table's columns point into it. A record sits at any offset of its segment (and a
    stream at any offset of its record), so a replayed table's columns would be misaligned
    for their types; Acero, through which chDB's ``Python()`` table function reads them,
    then warns "An input buffer was poorly aligned. This could lead to crashes …" once per
    column (and copies them). Copying the stream once here is cheaper and says nothing."""
    buffer = pa.py_buffer(view)
    if buffer.address % 8 == 0:
        return buffer
    aligned = pa.allocate_buffer(len(view))  # Arrow's allocator: 64-byte aligned
    memoryview(aligned).cast("B")[:] = view
    return aligned


class WriteAheadLog:
    def __init__(self, directory: Path, *, fsync: bool = False, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        # Never append after what a crash may have torn: the next append starts a fresh
        # segment (opened on first use, so that a reader leaves no empty files behind).
        self._segment = (existing[-1] + 1) if existing else 1
        self._file: io.FileIO | None = None
        self._offset = 0

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.wal") if p.stem.isdigit())

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}.wal"

    def _open(self, segment: int) -> io.FileIO:
        return io.FileIO(self._path(segment), "ab")

    def append(self, payloads: list[bytes]) -> list[Position]:
        """Append records in one write; their positions. Durable against process death
        once this returns (and against power loss too with ``fsync``)."""
        if self._file is None:
            self._file = self._open(self._segment)
        elif self._offset >= self.segment_bytes:
            self._roll()
        positions = []
        chunks = []
        offset = self._offset
        for payload in payloads:
            positions.append((self._segment, offset))
            header = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload))
            chunks.append(header)
            chunks.append(payload)
            offset += HEADER.size + len(payload)
        data = b"".join(chunks)
        fd = self._file.fileno()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(fd)
        self._offset = offset
        return positions

    @property
    def end(self) -> Position:
        """The position the next record will get."""
        return (self._segment, self._offset)

    def _roll(self) -> None:
        assert self._file is not None
        self._file.close()
        self._segment += 1
        self._file = self._open(self._segment)
        self._offset = 0
        if self.fsync:
            _fsync_dir(self.directory)

    def records(self, start: Position = (0, 0)) -> Iterator[tuple[Position, bytes]]:
        """Every whole record at or after ``start``, oldest first (stops at a torn tail)."""
        for segment in self.segments():
            if segment < start[0]:
                continue
            data = self._path(segment).read_bytes()
            at = start[1] if segment == start[0] else 0
            while at + HEADER.size <= len(data):
                magic, length, crc = HEADER.unpack_from(data, at)
                body = data[at + HEADER.size : at + HEADER.size + length]
                if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
                    break
                yield (segment, at), body
                at += HEADER.size + length

    # --- flush state ------------------------------------------------------------------

    def flush_state(self) -> FlushState:
        path = self.directory / "flush.json"
        try:
            state = orjson.loads(path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return FlushState(done=(0, 0), inflight=None)
        inflight = state.get("inflight")
        return FlushState(
            done=_position(state["done"]),
            inflight=(_position(inflight[0]), _position(inflight[1])) if inflight else None,
        )

    def save_flush_state(self, state: FlushState) -> None:
        """Atomically replace the flush state; then drop segments wholly before ``done``."""
        path = self.directory / "flush.json"
        tmp = path.with_suffix(".tmp")
        body = {
            "done": list(state.done),
            "inflight": [list(p) for p in state.inflight] if state.inflight else None,
        }
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(body))
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self.fsync:
            _fsync_dir(self.directory)
        for segment in self.segments():
            if segment < state.done[0]:
                with contextlib.suppress(FileNotFoundError):
                    self._path(segment).unlink()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _position(value: list[int]) -> Position:
    return (int(value[0]), int(value[1]))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
