"""Group-commit writer: one thread commits what many requests hand over.

Requests call ``write`` with Arrow tables and wait. The writer thread takes everything
queued, waits up to ``commit_interval`` for more (or until ``commit_rows`` rows), concatenates
per table, inserts, and only then answers every request of the group. The queue is bounded
in rows: past ``max_queue_rows`` a write fails at once with ``Overloaded`` so that the
client backs off instead of the server growing without bound.

If a group's insert fails, each request of the group is retried alone, so that one bad
batch cannot fail its neighbours; a request whose own insert fails gets
``StoreUnavailable`` and nothing of it is acknowledged.

``on_commit`` callbacks get the name of each table right after its rows are committed
(on the writer thread, before the requests are answered): derived data maintained outside
the insert (the metric rollups) learns there what is new.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from vigil.store.interface import Overloaded, Store, StoreError, StoreUnavailable
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    tables: Mapping[str, pa.Table]
    rows: int
    done: Future[None] = field(default_factory=Future)


class GroupCommitWriter:
    """``Writer`` with group commit; ``write`` is safe from any thread or event loop."""

    def __init__(
        self,
        store: Store,
        metrics: SelfMetrics,
        *,
        commit_interval: float = 0.025,
        commit_rows: int = 100_000,
        max_queue_rows: int = 1_000_000,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.commit_interval = commit_interval
        self.commit_rows = commit_rows
        self.max_queue_rows = max_queue_rows
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._queued_rows = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="vigil-writer", daemon=True)
        self.on_commit: list[Callable[[str], None]] = []
        metrics.queue_rows.set_function(lambda: self._queued_rows)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Refuse new writes, commit everything queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def submit(self, tables: Mapping[str, pa.Table]) -> Future[None]:
        rows = sum(t.num_rows for t in tables.values())
        item = _Pending(tables={k: v for k, v in tables.items() if v.num_rows}, rows=rows)
        if not item.tables:
            item.done.set_result(None)
            return item.done
        with self._cond:
            if self._stopping:
                raise StoreUnavailable("server is shutting down")
            # A batch bigger than the whole queue is still taken when the queue is empty,
            # otherwise it could never be accepted.
            if self._queued_rows and self._queued_rows + rows > self.max_queue_rows:
                self._metrics.writer_overloaded.inc()
                raise Overloaded(retry_after=1.0)
            self._pending.append(item)
            self._queued_rows += rows
            self._cond.notify()
        return item.done

    async def write(self, tables: Mapping[str, pa.Table]) -> None:
        await asyncio.wrap_future(self.submit(tables))

    def _take_group(self) -> list[_Pending] | None:
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            if not self._pending:
                return None
            deadline = time.monotonic() + self.commit_interval
            while not self._stopping and self._group_rows() < self.commit_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            group, self._pending = self._pending, []
            return group

    def _group_rows(self) -> int:
        return sum(p.rows for p in self._pending)

    def _run(self) -> None:
        while (group := self._take_group()) is not None:
            self._commit_group(group)
            with self._cond:
                self._queued_rows -= sum(p.rows for p in group)

    def _commit_group(self, group: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            self._insert(group)
        except StoreError as exc:
            self._metrics.commit_failures.inc()
            if len(group) == 1:
                log.error("commit failed: %s", exc)
                group[0].done.set_exception(StoreUnavailable(str(exc)))
                return
            log.warning("group commit failed (%s); retrying its %d requests alone", exc, len(group))
            for item in group:
                self._commit_group([item])
            return
        self._metrics.commit_seconds.observe(time.perf_counter() - started)
        for item in group:
            item.done.set_result(None)

    def _insert(self, group: list[_Pending]) -> None:
        by_table: dict[str, list[pa.Table]] = {}
        for item in group:
            for name, table in item.tables.items():
                by_table.setdefault(name, []).append(table)
        for name in sorted(by_table):
            parts = by_table[name]
            table = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
            self._store.insert(name, table)
            self._metrics.committed_rows.labels(table=name).inc(table.num_rows)
            for callback in self.on_commit:
                callback(name)
