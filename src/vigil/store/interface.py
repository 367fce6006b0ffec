"""Contracts of the storage stage.

``Store`` is the only code that talks to ClickHouse. Blocking calls (``insert``,
``command``) belong to one thread at a time: the writer thread inserts, start-up code runs
migrations. ``query``/``query_arrow`` are coroutines, safe to call concurrently from the
event loop; each runs on a read pool thread with its own client, under a time limit.

``Writer`` is how ingest hands batches over. ``write`` returns only once every table of the
batch is committed (an acknowledged write is never lost); it raises ``Overloaded`` at once
when the queue is full (the handler answers 429 / RESOURCE_EXHAUSTED, clients retry) and
``StoreUnavailable`` when the commit failed (503 / UNAVAILABLE, clients retry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


class StoreError(Exception):
    """A query or command failed in the store."""


class QueryTimeout(StoreError):
    """A query ran over its time limit."""


class QueryTooLarge(StoreError):
    """A query needed more memory than one query may take (the store refused it)."""


class QueryCancelled(StoreError):
    """A query was killed (``KILL QUERY``: a stopped Insights query, a shutdown)."""


class Overloaded(Exception):
    """The write queue is full; the client should retry later."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("write queue is full, retry later")
        self.retry_after = retry_after


class StoreUnavailable(Exception):
    """The batch could not be committed; nothing of it was acknowledged."""


@dataclass(frozen=True, slots=True)
class Rows:
    """A query result: column names and rows of Python values."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Store(Protocol):
    def insert(self, table: str, data: pa.Table, *, dedup_token: str | None = None) -> None:
        """Insert a batch; returns once it is on disk. Writer thread only. With a token,
        a second insert with the same token (a replay) is dropped by the store."""

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run DDL or a mutation (blocking)."""

    def query_sync(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        """Blocking query, for start-up code and background threads."""

    async def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        """Run a SELECT on the read pool; ``{name:Type}`` placeholders bind ``parameters``."""

    async def query_arrow(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> pa.Table:
        """Like ``query``, as an Arrow table (keeps nanosecond timestamps)."""

    async def barrier(self) -> None:
        """Wait until every acknowledged write is queryable (queries do this themselves)."""

    def release_memory(self) -> None:
        """Hand back memory the engine keeps freed but mapped (blocking; idle upkeep). The
        embedded engine's allocator (jemalloc) holds on to freed pages; a server store
        is another process's business and does nothing. Not counted in ``activity``."""

    def activity(self) -> int:
        """Queries, commands and inserts this process has sent the store so far (idle
        upkeep: an unchanged number means nothing touched the engine in between). Any
        thread; it only ever grows, and it changes whenever some call happened."""

    def writes(self, table: str) -> int | None:
        """Inserts into ``table`` finished by this process so far, counted once the rows
        are visible, when this process is the store's only writer (embedded: one process
        owns the data directory); None when others may write (a ClickHouse server shared
        by several nodes). A background pass that found nothing to do may skip the next
        while this number is unchanged."""

    def close(self) -> None:
        """Release clients and the embedded engine."""


class Writer(Protocol):
    async def write(self, tables: Mapping[str, pa.Table]) -> None:
        """Commit the batch (table name -> rows) and return once it is durable."""

    @property
    def queued_rows(self) -> int:
        """Rows accepted but not yet committed."""
