"""The ClickHouse store: embedded chDB (``chdb:///path``) or a server (``http://host:8123/db``).

Both go through clickhouse-connect's ``Client``, so the SQL and the code path are the same;
only the URL differs. Reads run on a small thread pool, one client per thread (chDB and the
HTTP driver release the GIL while the engine works); writes come from the writer thread.

One exception, measured (bench/RESULTS.md): embedded inserts skip clickhouse-connect,
which serializes the Arrow table to a temporary file for ``INSERT … FROM INFILE`` while
holding the GIL. They run ``INSERT … SELECT FROM Python(table)`` on a chDB connection of
their own, which reads the Arrow buffers in place: ~30 % less CPU per row, and the event
loop is not stalled meanwhile. One reading thread keeps the blocks an insert forms the same
on a replay, which the deduplication tokens of the writer's replays rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import chdb
import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from vigil.model.metrics import METRICS_TABLE
from vigil.store.interface import (
    QueryCancelled,
    QueryTimeout,
    QueryTooLarge,
    Rows,
    StoreError,
    StoreUnavailable,
)
from vigil.store.rollups import INPUT_TABLE as ROLLUP_INPUT_TABLE
from vigil.store.rollups import NonFiniteSketchValue
from vigil.store.rollups import prepare as prepare_rollups
from vigil.store.rollups import summarize as summarize_rollups

# Inserts compute the logs' JSON ``fields`` column; a message repeating a key must not fail
# the whole batch. Tables keep a deduplication window for the writer's WAL replays, which
# insert with a token. Without a token ClickHouse would drop any block identical to a recent
# one (``insert_deduplicate`` does not govern non-replicated tables), so every other insert
# and INSERT … SELECT gets a token of its own: only a replay is ever deduplicated.
_INSERT_SETTINGS = {"type_json_skip_duplicated_paths": 1}


def _unique_token() -> dict[str, str]:
    return {"insert_deduplication_token": uuid.uuid4().hex}


_TIMEOUT_CODES = ("Code: 159.", "TIMEOUT_EXCEEDED")
_CANCELLED_CODES = ("Code: 394.", "QUERY_WAS_CANCELLED")
_MEMORY_CODES = ("Code: 241.", "MEMORY_LIMIT_EXCEEDED")
# The most memory one read may take (ClickHouse's max_memory_usage): a quarter of a
# small machine, far above what any legitimate vigil query needs.
QUERY_MEMORY_BYTES = 4 * 1024**3


def store_url(value: str) -> str:
    """Normalise ``--store``: a bare directory means embedded chDB in that directory."""
    if value.startswith(("http://", "https://")):
        return value
    # One spelling of the directory: chDB compares engine paths as strings, and the store
    # opens it through two APIs (clickhouse-connect's clients and the insert connection).
    return "chdb://" + str(Path(value.removeprefix("chdb://")).resolve())


# The embedded engine's server settings for one node next to its own process. ClickHouse's
# defaults size each cache for a dedicated server (5 GiB or half the RAM: marks, primary
# index, …) and keep up to 1,000 idle threads; in vigil they would grow with the data read
# and never shrink. Measured idle memory: bench/RESULTS.md ("Idle memory"). Each can be
# overridden with VIGIL_CHDB_OPTIONS="name=value&name=value" (any ClickHouse server setting).
EMBEDDED_OPTIONS: dict[str, str] = {
    "mark_cache_size": str(128 << 20),
    "index_mark_cache_size": str(32 << 20),
    "primary_index_cache_size": str(64 << 20),
    "uncompressed_cache_size": "0",
    "index_uncompressed_cache_size": "0",
    "max_thread_pool_free_size": "8",
}


def embedded_options() -> dict[str, str]:
    options = dict(EMBEDDED_OPTIONS)
    options.update(parse_qsl(os.environ.get("VIGIL_CHDB_OPTIONS", "")))
    return options


def _client_factory(url: str) -> Callable[[], Client]:
    if url.startswith("chdb://"):
        path = url.removeprefix("chdb://")
        Path(path).mkdir(parents=True, exist_ok=True)
        # The first connection starts the engine with these; later ones join it.
        options = embedded_options()
        return lambda: clickhouse_connect.get_client(dsn="chdb://" + path, chdb_options=options)
    parsed = urlparse(url)
    database = parsed.path.strip("/") or "vigil"
    common: dict[str, Any] = {
        "host": parsed.hostname or "localhost",
        "port": parsed.port or (8443 if parsed.scheme == "https" else 8123),
        "username": unquote(parsed.username or "default"),
        "password": unquote(parsed.password or ""),
        "secure": parsed.scheme == "https",
    }
    bootstrap = clickhouse_connect.get_client(**common)
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    bootstrap.close()
    return lambda: clickhouse_connect.get_client(database=database, **common)


class ClickHouseStore:
    """``Store`` on clickhouse-connect. See store.interface for the thread rules."""

    def __init__(
        self,
        url: str,
        *,
        read_threads: int = 4,
        query_timeout: float = 30.0,
        query_memory_bytes: int = QUERY_MEMORY_BYTES,
    ) -> None:
        self.url = store_url(url)
        self.embedded = self.url.startswith("chdb://")
        self.query_timeout = query_timeout
        self.query_memory_bytes = query_memory_bytes
        self._factory = _client_factory(self.url)
        self._clients: list[Client] = []
        self._clients_lock = threading.Lock()
        self._local = threading.local()
        self._admin = self._new_client()
        self._chdb: Any = None  # the embedded insert connection, opened on first use
        self._chdb_lock = threading.Lock()
        self._closed = False
        # Idle signals (Store.activity, Store.writes). Plain ints bumped from several
        # threads without a lock: a lost increment still leaves the number changed.
        self._activity = 0
        self._writes: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(read_threads, thread_name_prefix="vigil-read")
        self._summarizer = ThreadPoolExecutor(1, thread_name_prefix="vigil-rollups")
        # Set by the runtime once the writer exists: makes every query read-your-writes.
        self.before_read: Callable[[], Awaitable[None]] | None = None

    def _new_client(self) -> Client:
        client = self._factory()
        with self._clients_lock:
            self._clients.append(client)
        return client

    def _thread_client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        return client

    def insert(self, table: str, data: pa.Table, *, dedup_token: str | None = None) -> None:
        """Insert ``data``; a ``metrics`` insert also inserts its rollups and series rows
        (``vigil.store.rollups``), with a token derived from the batch's. The batch is
        checked before anything is inserted (a batch the rollups refuse is refused whole);
        the rollup rows are computed in a thread of their own while the batch is inserted
        (both only read it), so that the flusher waits for the longer of the two, not for
        their sum."""
        token = dedup_token or uuid.uuid4().hex
        if table != METRICS_TABLE or not data.num_rows:
            self._insert_table(table, data, token)
        else:
            # One chunk per column: a flush holds one chunk per request, and chDB's
            # Python() read 200k rows in 100 chunks for 0.20-0.23 s of CPU against
            # 0.13-0.22 s in one (bench/RESULTS.md, remote write); the rollups need the
            # batch in one piece too.
            data = data.combine_chunks()
            try:
                prepared = prepare_rollups(data)
            except NonFiniteSketchValue as exc:
                raise StoreError(str(exc)) from exc
            derived = self._summarizer.submit(summarize_rollups, prepared)
            try:
                self._insert_table(table, data, token)
            except BaseException:
                derived.cancel()
                raise
            self._insert_table(ROLLUP_INPUT_TABLE, derived.result(), f"{token}-rollups")
        # Counted once visible: a pass that reads after seeing this number sees the rows.
        self._writes[table] = self._writes.get(table, 0) + 1

    def activity(self) -> int:
        return self._activity

    def writes(self, table: str) -> int | None:
        return self._writes.get(table, 0) if self.embedded else None

    def _insert_table(self, table: str, data: pa.Table, token: str) -> None:
        self._activity += 1
        settings: dict[str, Any] = {
            **_INSERT_SETTINGS,
            "insert_deduplication_token": token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        }
        if self.embedded and not _has_inner_nulls(data):
            self._insert_embedded(table, data, settings)
            return
        try:
            self._thread_client().insert_arrow(table, data, settings=settings)
        except ClickHouseError as exc:
            raise StoreError(str(exc)) from exc

    def _insert_embedded(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        columns = ", ".join(_identifier(c) for c in data.column_names)
        options = ", ".join(
            f"{k} = {_literal(v)}" for k, v in {**settings, **_IN_PLACE_SETTINGS}.items()
        )
        # chDB's Python() table function finds the table by its variable name in this frame.
        vigil_rows = data  # noqa: F841
        sql = (
            f"INSERT INTO {_identifier(table)} ({columns}) SELECT {columns}"
            f" FROM Python(vigil_rows) SETTINGS {options}"
        )
        with self._chdb_lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            try:
                if self._chdb is None:
                    path = self.url.removeprefix("chdb://")
                    self._chdb = chdb.connect(path)  # type: ignore[no-untyped-call]
                self._chdb.query(sql)
            except Exception as exc:  # chDB raises RuntimeError for ClickHouse errors
                raise StoreError(str(exc)) from exc

    def release_memory(self) -> None:
        # Measured: 179 -> 74 MB of private memory after an insert and a GROUP BY (RESULTS.md).
        if self.embedded:
            self._command("SYSTEM JEMALLOC PURGE")

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._activity += 1
        self._command(sql, parameters)

    def _command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            self._thread_client().command(
                sql, parameters=dict(parameters or {}), settings=_unique_token()
            )
        except ClickHouseError as exc:
            raise StoreError(str(exc)) from exc

    def _settings(self, timeout: float | None) -> dict[str, Any]:
        limit = self.query_timeout if timeout is None else timeout
        # Every read is bounded in memory as well as time: one hostile query must not take
        # the machine (and the writes waiting behind it) down with it.
        settings: dict[str, Any] = {"max_memory_usage": self.query_memory_bytes}
        if limit:
            settings["max_execution_time"] = max(1, round(limit))
        return settings

    def query_sync(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        self._activity += 1
        try:
            result = self._thread_client().query(
                sql, parameters=dict(parameters or {}), settings=self._settings(timeout)
            )
        except ClickHouseError as exc:
            raise _translate(exc) from exc
        return Rows(columns=list(result.column_names), rows=result.result_rows)

    def _query_arrow_sync(
        self, sql: str, parameters: Mapping[str, Any] | None, timeout: float | None
    ) -> pa.Table:
        self._activity += 1
        try:
            return self._thread_client().query_arrow(
                sql, parameters=dict(parameters or {}), settings=self._settings(timeout)
            )
        except ClickHouseError as exc:
            raise _translate(exc) from exc

    async def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        await self.barrier()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self.query_sync(sql, parameters, timeout=timeout)
        )

    async def query_arrow(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> pa.Table:
        await self.barrier()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self._query_arrow_sync(sql, parameters, timeout)
        )

    async def barrier(self) -> None:
        if self.before_read is not None:
            await self.before_read()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._summarizer.shutdown(wait=True, cancel_futures=True)
        with self._chdb_lock:
            self._closed = True
            if self._chdb is not None:
                with contextlib.suppress(Exception):
                    self._chdb.close()
                self._chdb = None
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            # Closing is best effort: one failure must not keep the others open.
            with contextlib.suppress(Exception):
                client.close()


# One reading thread: a replay forms the same blocks, so its tokens match. Deduplication
# forced on: by default ClickHouse silently skips it for an INSERT … SELECT it deems unstable.
_IN_PLACE_SETTINGS = {
    "max_threads": 1,
    "max_insert_threads": 1,
    "deduplicate_insert_select": "force_enable",
}


def _has_inner_nulls(data: pa.Table) -> bool:
    """Nulls inside maps, lists or structs: Python() reads them as Nullable and the insert's
    CAST refuses them, where clickhouse-connect's Arrow path stores the type's default."""
    # Flat columns first skipped by type: a flush holds one chunk per request, and this
    # walk was the flusher's largest holder of the GIL (py-spy --gil).
    return any(
        _inner_nulls(chunk)
        for column in data.columns
        if pa.types.is_nested(column.type)
        for chunk in column.chunks
    )


def _inner_nulls(array: pa.Array) -> bool:
    if isinstance(array, pa.MapArray):
        return bool(array.keys.null_count or array.items.null_count) or any(
            _inner_nulls(a) for a in (array.keys, array.items)
        )
    if isinstance(array, pa.ListArray | pa.LargeListArray | pa.FixedSizeListArray):
        return bool(array.values.null_count) or _inner_nulls(array.values)
    if isinstance(array, pa.StructArray):
        return any(
            bool(f.null_count) or _inner_nulls(f)
            for f in (array.field(i) for i in range(array.type.num_fields))
        )
    return False


def _identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _translate(exc: ClickHouseError) -> StoreError:
    text = str(exc)
    if any(code in text for code in _TIMEOUT_CODES):
        return QueryTimeout("query exceeded its time limit")
    if any(code in text for code in _CANCELLED_CODES):
        return QueryCancelled("query was cancelled")
    if any(code in text for code in _MEMORY_CODES):
        return QueryTooLarge("query needed more memory than one query may use")
    return StoreError(text)
