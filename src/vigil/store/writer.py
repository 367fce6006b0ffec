"""The writer: acknowledge once a batch is in the write-ahead log, insert in big batches.

Two threads:
* the appender takes what requests handed over (lingering ``commit_interval`` so that
  concurrent requests share one write), appends each request's tables to the WAL as one
  record and answers the requests: an acknowledged batch is on disk and survives the
  process being killed (and power loss with ``fsync``);
* the flusher inserts what the WAL holds into the store, every ``flush_interval`` or
  ``flush_rows`` rows (ClickHouse inserts have a large fixed cost: big batches are several
  times cheaper per row), or at once when a reader asks for a barrier.

Exactly once: before an insert the flusher records its WAL range as in flight and inserts
each table with a deduplication token made of that range; a restart replays the in-flight
range with the same tokens (ClickHouse drops blocks it already has) and the rest after it.
Reads stay read-your-writes: ``barrier()`` returns once everything acknowledged before the
call is in the store (the store calls it before every query).

Back-pressure: what is accepted but not yet in the store is bounded by ``max_queue_rows``
and by ``max_queue_bytes`` (Arrow bytes: memory, which rows alone do not bound since a span
row weighs several log rows); past either ``submit`` raises ``Overloaded`` (429 /
RESOURCE_EXHAUSTED). A failing insert is
retried with back-off, the data stays in memory and in the WAL; a batch that keeps failing
is split by record and a record the store refuses alone is moved to ``quarantine/`` in the
WAL directory (counted in ``vigil_writer_quarantined_records``), never silently dropped.
(A crash while a batch is being split can insert its records twice: only then.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

import pyarrow as pa

from vigil.store.interface import Overloaded, Store, StoreError, StoreUnavailable
from vigil.store.wal import HEADER, FlushState, Position, WriteAheadLog, decode, encode
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

# How long a read waits for acknowledged writes to reach the store. Under heavy ingest on
# a small machine one flush of a full queue can take several seconds and a read may wait
# for two; past this the store is failing or far behind, and the read answers from what
# the store has (counted, so an operator sees it) rather than hang.
BARRIER_TIMEOUT = 30.0
_FAILPOINT = os.environ.get("VIGIL_FAILPOINT", "")
_MAX_BACKOFF = 30.0
_ATTEMPTS_BEFORE_SPLIT = 3


@dataclass(slots=True)
class _Pending:
    tables: Mapping[str, pa.Table]
    rows: int
    nbytes: int
    done: Future[None] = field(default_factory=Future)


@dataclass(slots=True)
class _Logged:
    """A record in the WAL, not yet in the store."""

    start: Position
    end: Position  # position after the record
    tables: Mapping[str, pa.Table]
    rows: int
    nbytes: int = 0
    since: float = field(default_factory=time.monotonic)


class WalWriter:
    """``Writer`` over a write-ahead log; ``write`` is safe from any thread or event loop."""

    def __init__(
        self,
        store: Store,
        wal: WriteAheadLog,
        metrics: SelfMetrics,
        *,
        commit_interval: float = 0.002,
        flush_interval: float = 1.0,
        flush_rows: int = 100_000,
        max_queue_rows: int = 1_000_000,
        max_queue_bytes: int = 256 << 20,
    ) -> None:
        self._store = store
        self._wal = wal
        self._metrics = metrics
        self.commit_interval = commit_interval
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self.max_queue_rows = max_queue_rows
        self.max_queue_bytes = max_queue_bytes
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._logged: list[_Logged] = []
        self._logged_rows = 0
        self._logged_bytes = 0
        self._queued_rows = 0  # pending + logged
        self._queued_bytes = 0
        self._done: Position = wal.flush_state().done
        self._appended_end: Position = self._done
        self._barriers: list[tuple[Position, Future[None]]] = []
        self._stopping = False
        self._appender = threading.Thread(target=self._append_loop, name="vigil-wal", daemon=True)
        self._flusher = threading.Thread(target=self._flush_loop, name="vigil-flush", daemon=True)
        metrics.queue_rows.set_function(lambda: self._queued_rows)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    # --- start, replay, stop -------------------------------------------------------

    def replay(self) -> int:
        """Insert what the WAL holds beyond the flush state (before ``start``); rows."""
        state = self._wal.flush_state()
        records = [
            _Logged(pos, _after(pos, payload), decode(payload), 0)
            for pos, payload in self._wal.records(state.done)
        ]
        for record in records:
            record.rows = sum(t.num_rows for t in record.tables.values())
        total = sum(r.rows for r in records)
        if state.inflight is not None:
            start, end = state.inflight
            batch = [r for r in records if start <= r.start < end]
            if batch:
                self._insert_batch(batch, start, end)
            records = [r for r in records if r.start >= end]
        for batch in _chunks(records, self.flush_rows):
            self._insert_batch(batch, batch[0].start, batch[-1].end)
        if records:
            self._done = self._appended_end = records[-1].end
        if total:
            log.info("replayed %d rows from the write-ahead log", total)
        return total

    def start(self) -> None:
        self._appender.start()
        self._flusher.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Refuse new writes, log and insert everything accepted, then end the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._appender.join(timeout)
        self._flusher.join(timeout)
        self._wal.close()

    # --- the request side ----------------------------------------------------------

    def submit(self, tables: Mapping[str, pa.Table]) -> Future[None]:
        kept = {k: v for k, v in tables.items() if v.num_rows}
        item = _Pending(
            tables=kept,
            rows=sum(t.num_rows for t in kept.values()),
            # The buffers' sizes: Table.nbytes walks every array for the ranges it
            # references, ~45 µs per 1,000-row metrics request (3 % of the event loop).
            nbytes=sum(t.get_total_buffer_size() for t in kept.values()),
        )
        if not kept:
            item.done.set_result(None)
            return item.done
        with self._cond:
            if self._stopping:
                raise StoreUnavailable("server is shutting down")
            # A batch bigger than the whole queue is still taken when the queue is empty,
            # otherwise it could never be accepted.
            if self._queued_rows and (
                self._queued_rows + item.rows > self.max_queue_rows
                or self._queued_bytes + item.nbytes > self.max_queue_bytes
            ):
                self._metrics.writer_overloaded.inc()
                raise Overloaded(retry_after=1.0)
            self._pending.append(item)
            self._queued_rows += item.rows
            self._queued_bytes += item.nbytes
            self._cond.notify_all()
        return item.done

    async def write(self, tables: Mapping[str, pa.Table]) -> None:
        await asyncio.wrap_future(self.submit(tables))

    def barrier_future(self) -> Future[None] | None:
        """A future done once everything acknowledged so far is in the store (None: it is)."""
        with self._cond:
            if self._appended_end <= self._done:
                return None
            target = self._appended_end
            done: Future[None] = Future()
            self._barriers.append((target, done))
            self._cond.notify_all()
            return done

    async def barrier(self) -> None:
        future = self.barrier_future()
        if future is None:
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), BARRIER_TIMEOUT)
        except TimeoutError:
            # The store is failing or very slow: answer from what it has rather than hang.
            self._metrics.barrier_timeouts.inc()
            log.warning("read barrier timed out; the answer may miss the newest writes")

    # --- the appender ----------------------------------------------------------------

    def _take_pending(self) -> list[_Pending] | None:
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            if not self._pending:
                return None
            deadline = time.monotonic() + self.commit_interval
            while not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            group, self._pending = self._pending, []
            return group

    def _append_loop(self) -> None:
        while (group := self._take_pending()) is not None:
            started = time.perf_counter()
            payloads = [encode(item.tables) for item in group]
            try:
                positions = self._wal.append(payloads)
            except OSError as exc:
                log.error("write-ahead log append failed: %s", exc)
                with self._cond:
                    self._queued_rows -= sum(item.rows for item in group)
                    self._queued_bytes -= sum(item.nbytes for item in group)
                for item in group:
                    with contextlib.suppress(InvalidStateError):
                        item.done.set_exception(StoreUnavailable(f"cannot write the WAL: {exc}"))
                continue
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            with self._cond:
                for item, pos, payload in zip(group, positions, payloads, strict=True):
                    logged = _Logged(pos, _after(pos, payload), item.tables, item.rows, item.nbytes)
                    self._logged.append(logged)
                    self._logged_rows += item.rows
                    self._logged_bytes += item.nbytes
                self._appended_end = self._logged[-1].end
                self._cond.notify_all()
            for item in group:
                # A caller cancelled while waiting (a periodic task stopped at shutdown)
                # cancelled its future; its batch is logged all the same, and the
                # appender must live on.
                with contextlib.suppress(InvalidStateError):
                    item.done.set_result(None)

    # --- the flusher -----------------------------------------------------------------

    def _take_logged(self) -> list[_Logged] | None:
        with self._cond:
            while True:
                if self._logged and (
                    self._stopping
                    or self._barriers
                    or self._logged_rows >= self.flush_rows
                    # wide rows fill the byte bound before flush_rows: flush, don't refuse
                    or self._logged_bytes >= self.max_queue_bytes // 2
                    or time.monotonic() - self._logged[0].since >= self.flush_interval
                ):
                    batch, self._logged = self._logged, []
                    self._logged_rows = self._logged_bytes = 0
                    return batch
                if self._stopping and not self._pending and not self._appender.is_alive():
                    return None
                if self._logged:
                    wait = self.flush_interval - (time.monotonic() - self._logged[0].since)
                    self._cond.wait(max(wait, 0.001))
                else:
                    self._cond.wait(0.5 if self._stopping else None)

    def _flush_loop(self) -> None:
        while (batch := self._take_logged()) is not None:
            self._insert_batch(batch, batch[0].start, batch[-1].end)
            with self._cond:
                self._queued_rows -= sum(r.rows for r in batch)
                self._queued_bytes -= sum(r.nbytes for r in batch)
                self._done = batch[-1].end
                ready = [f for target, f in self._barriers if target <= self._done]
                self._barriers = [(t, f) for t, f in self._barriers if t > self._done]
                self._cond.notify_all()
            for future in ready:
                # A reader that timed out cancelled its future: setting it would raise
                # and end this thread (nothing would be inserted any more).
                if not future.done():
                    future.set_result(None)

    def _insert_batch(self, batch: list[_Logged], start: Position, end: Position) -> None:
        """Insert a WAL range, retrying until it is in (or its bad records quarantined)."""
        self._wal.save_flush_state(FlushState(done=start, inflight=(start, end)))
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                self._insert_tables(_by_table(batch), _token(start, end))
                break
            except Exception as exc:
                attempt += 1
                self._metrics.commit_failures.inc()
                if attempt >= _ATTEMPTS_BEFORE_SPLIT and len(batch) > 1:
                    log.error(
                        "insert of %d records keeps failing (%s); inserting them one by one",
                        len(batch),
                        exc,
                    )
                    for record in batch:
                        self._insert_alone(record)
                    break
                if attempt >= _ATTEMPTS_BEFORE_SPLIT:
                    self._quarantine(batch[0], exc)
                    break
                delay = min(_MAX_BACKOFF, 0.5 * 2**attempt)
                log.warning("insert failed (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
        self._metrics.flush_seconds.observe(time.perf_counter() - started)
        self._wal.save_flush_state(FlushState(done=end, inflight=None))

    def _insert_alone(self, record: _Logged) -> None:
        last: Exception = StoreError("not attempted")
        for attempt in range(_ATTEMPTS_BEFORE_SPLIT):
            try:
                self._insert_tables(_by_table([record]), _token(record.start, record.end))
                return
            except Exception as exc:
                last = exc
                time.sleep(min(_MAX_BACKOFF, 0.5 * 2**attempt))
        self._quarantine(record, last)

    def _quarantine(self, record: _Logged, exc: Exception) -> None:
        path = self._wal.directory / "quarantine"
        path.mkdir(exist_ok=True)
        name = path / f"{record.start[0]:012d}-{record.start[1]:012d}.record"
        name.write_bytes(encode(record.tables))
        self._metrics.quarantined.inc()
        log.error("the store refuses a record of %d rows (%s); kept in %s", record.rows, exc, name)

    def _insert_tables(self, tables: Mapping[str, list[pa.Table]], token: str) -> None:
        for name in sorted(tables):
            for i, table in enumerate(tables[name]):
                self._store.insert(name, table, dedup_token=f"{token}-{name}-{i}")
                self._metrics.committed_rows.labels(table=name).inc(table.num_rows)
        if _FAILPOINT == "exit-after-insert":
            # Fault injection for the exactly-once test: die between the insert and the
            # flush state that records it, the one moment a replay must deduplicate.
            os._exit(137)


def _after(pos: Position, payload: bytes) -> Position:
    return (pos[0], pos[1] + HEADER.size + len(payload))


def _token(start: Position, end: Position) -> str:
    return f"wal-{start[0]}.{start[1]}-{end[0]}.{end[1]}"


def _by_table(batch: Iterable[_Logged]) -> dict[str, list[pa.Table]]:
    """Per table, one concatenated table per distinct schema, in order of appearance.

    Sources may write different column subsets of one table (X-Ray spans carry columns
    that OTLP spans leave to the store's DEFAULTs); they are inserted separately, never
    padded with nulls. The order is deterministic, so a replay rebuilds the same inserts.
    """
    parts: dict[str, dict[pa.Schema, list[pa.Table]]] = {}
    for record in batch:
        for name, table in record.tables.items():
            by_schema = parts.setdefault(name, {})
            for schema, tables in by_schema.items():
                if schema.equals(table.schema):
                    tables.append(table)
                    break
            else:
                by_schema[table.schema] = [table]
    return {
        name: [t[0] if len(t) == 1 else pa.concat_tables(t) for t in by_schema.values()]
        for name, by_schema in parts.items()
    }


def _chunks(records: list[_Logged], rows: int) -> Iterable[list[_Logged]]:
    batch: list[_Logged] = []
    count = 0
    for record in records:
        batch.append(record)
        count += record.rows
        if count >= rows:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch
