"""Keeps the metric rollups and the series table up to date with the raw ``metrics`` rows.

Contract:
* Inserts into ``metrics`` run no materialized view (migration 0201). A **catch-up** reads
  the insert blocks committed since the previous one (``_block_number`` in
  ``(from, to]``) and adds them, aggregated, to ``metric_rollup_1m`` (high-resolution
  points), ``metric_rollup_5m``, ``metric_rollup_1h`` and ``metric_series``. Aggregating a
  second of inserts at once costs a fraction of doing it inside every insert.
* **Readers call ``await fresh()``** before reading any of those tables: it returns once
  every write acknowledged before the call is in them (running a catch-up if one is due),
  so a read after a write always sees it, exactly as with per-insert views. The writer
  reports commits through ``committed`` (its ``on_commit`` hook); ``run`` also catches up
  every ``interval`` seconds so that the backlog a reader may wait for stays small.
* **Exactly once.** Each catch-up records its block range in ``metric_rollup_progress``
  before (``done`` = 0) and after (``done`` = 1) its inserts, which carry deduplication
  tokens naming the range. After a crash in between, ``recover`` runs the same range again
  with the same tokens: blocks already inserted are dropped by ClickHouse's
  deduplication, so no row is counted twice or lost. New series are inserted with their
  dimensions by a statement that only selects series not in ``metric_series`` yet, which
  is idempotent by itself.
* A failed catch-up is logged and retried (by the next read or the next interval); reads
  meanwhile answer from the rollups as they are.

Catch-ups run one at a time on their own thread (with their own store client).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from vigil.query.sketch import key_sql, sketch_sql
from vigil.store.interface import Store

log = logging.getLogger(__name__)

SOURCE = "metrics"

# Rows of the blocks (lo, hi]. The condition on the part name (``<partition>_<min
# block>_<max block>_<level>``) is evaluated per part, so that ClickHouse skips every part
# holding older blocks only without reading it.
NEW_ROWS = (
    "toUInt64(splitByChar('_', _part)[3]) > {lo:UInt64}"
    " AND _block_number > {lo:UInt64} AND _block_number <= {hi:UInt64}"
)
_BUCKET = "toDateTime(intDiv(toUnixTimestamp(timestamp), {seconds}) * {seconds}) AS bucket"
_KEYS = f"tenant, namespace, name, series_id, unit, {_BUCKET}"
_GROUP = "tenant, namespace, name, series_id, unit, bucket"
# count, sum, min, max of any kind of row (±inf: unknown, so that they merge).
_ANY_KIND = (
    "sum(count), sum(if(kind = 0, value * count, value)),"
    " min(if(kind = 0, value, if(isNaN(min), inf, min))),"
    " max(if(kind = 0, value, if(isNaN(max), -inf, max)))"
)


def _sketch() -> str:
    keys, weights = sketch_sql()
    return f"sumMap({keys}, {weights})"


NEW_SERIES = f"""
INSERT INTO metric_series
    (tenant, namespace, name, series_id, dimensions, units, first_seen, last_seen, points)
SELECT tenant, namespace, name, series_id, any(dimensions), [], min(timestamp),
       max(timestamp), 0
FROM metrics
WHERE {NEW_ROWS} AND series_id NOT IN (SELECT series_id FROM metric_series)
GROUP BY tenant, namespace, name, series_id
"""

# Samples (kind 0, nearly every row) take a cheap path: one sketch key per point, gathered
# without merging (sumMap merges them when rows merge and when queries read them).
FEED = f"""
INSERT INTO metric_rollup_feed
    (tenant, namespace, name, series_id, unit, timestamp, count, sum, min, max, sketch,
     first_seen, last_seen, points)
SELECT {_KEYS}, sum(count), sum(value * count), min(value), max(value),
       (groupArray({key_sql("value")}), groupArray(count)),
       min(timestamp), max(timestamp), count()
FROM metrics WHERE {NEW_ROWS} AND kind = 0
GROUP BY {_GROUP}
UNION ALL
SELECT {_KEYS}, {_ANY_KIND}, {_sketch()}, min(timestamp), max(timestamp), count()
FROM metrics WHERE {NEW_ROWS} AND kind != 0
GROUP BY {_GROUP}
""".replace("{seconds}", "300")

ROLLUP_1M = f"""
INSERT INTO metric_rollup_1m
    (tenant, namespace, name, series_id, unit, timestamp, count, sum, min, max, sketch)
SELECT {_KEYS}, {_ANY_KIND}, {_sketch()}
FROM metrics WHERE {NEW_ROWS} AND resolution = 1
GROUP BY {_GROUP}
""".replace("{seconds}", "60")

LAST_BLOCK = (
    "SELECT max(max_block_number) FROM system.parts"
    " WHERE database = currentDatabase() AND table = 'metrics' AND active"
)
PROGRESS = (
    "SELECT argMax((seq, from_block, to_block, done), seq) FROM metric_rollup_progress"
    " WHERE source = {source:String} HAVING count() > 0"
)
RECORD = (
    "INSERT INTO metric_rollup_progress (source, seq, from_block, to_block, done)"
    " VALUES ({source:String}, {seq:UInt64}, {lo:UInt64}, {hi:UInt64}, {done:UInt8})"
)


def _deduplicated(sql: str, token: str) -> str:
    return (
        f"{sql} SETTINGS insert_deduplication_token = '{token}',"
        " deduplicate_blocks_in_dependent_materialized_views = 1"
    )


class MetricRollups:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="vigil-rollups")
        self._lock = asyncio.Lock()
        self._counter = threading.Lock()
        self._generation = 1  # commits seen; the first read catches up whatever is there
        self._rolled = 0  # generation known to be in the derived tables
        self._seq = 0
        self._block = 0
        self._pending: tuple[int, int] | None = None
        self.catch_ups = 0
        self.last_seconds = 0.0

    # --- writer side -------------------------------------------------------------------

    def committed(self, table: str) -> None:
        """Writer hook (any thread): ``table`` just committed rows."""
        if table == SOURCE:
            with self._counter:
                self._generation += 1

    # --- start-up ----------------------------------------------------------------------

    def recover(self) -> None:
        """Load the progress; an interrupted catch-up is run again by the next one."""
        rows = self._store.query_sync(PROGRESS, {"source": SOURCE}).rows
        last = self._last_block()
        if not rows:
            log.warning("no metric rollup progress recorded: starting after block %d", last)
            self._seq, self._block = 0, last
            return
        seq, lo, hi, done = rows[0][0]
        self._seq, self._block = int(seq), int(hi) if done else int(lo)
        if not done:
            log.info("finishing the interrupted metric rollup catch-up of blocks (%d, %d]", lo, hi)
            self._pending = (int(lo), int(hi))
        if last < self._block:
            # ClickHouse numbers blocks after the highest part it finds at start-up: when
            # the newest parts are gone (dropped, deleted), new blocks reuse lower numbers.
            log.warning("metric blocks restart at %d, below the rollups' %d", last, self._block)
            self._block, self._pending = last, None
            self._record(last, last, True)

    # --- reads -------------------------------------------------------------------------

    async def fresh(self) -> None:
        """Return once every write acknowledged before this call is rolled up."""
        # Acknowledged writes may still be in the write-ahead log only: first into the store.
        await self._store.barrier()
        wanted = self._generation
        if self._rolled >= wanted:
            return
        await self._run(lambda: self._rolled >= wanted)

    async def run(self, interval: float) -> None:
        """Catch up every ``interval`` seconds (a background task)."""
        while True:
            await asyncio.sleep(interval)
            await self._run(lambda: False)

    async def flush(self) -> None:
        """Catch up now (e.g. once the writer has drained, at shutdown)."""
        await self._run(lambda: False)

    async def _run(self, satisfied: Callable[[], bool]) -> None:
        async with self._lock:
            if satisfied():
                return
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self.catch_up)
            except Exception:
                log.exception("metric rollup catch-up failed; reads may miss recent points")

    # --- the catch-up ------------------------------------------------------------------

    def catch_up(self) -> None:
        """Roll up every block committed so far (blocking; one caller at a time)."""
        generation = self._generation  # every commit counted here is in a block <= last
        started = time.perf_counter()
        if self._pending is not None:
            self._apply(*self._pending)
            self._record(*self._pending, True)
            self._block, self._pending = self._pending[1], None
        last = self._last_block()
        if last > self._block:
            lo = self._block
            self._record(lo, last, False)
            self._pending = (lo, last)
            self._apply(lo, last)
            self._record(lo, last, True)
            self._block, self._pending = last, None
            self.catch_ups += 1
            self.last_seconds = time.perf_counter() - started
        self._rolled = generation

    def _apply(self, lo: int, hi: int) -> None:
        params = {"lo": lo, "hi": hi}
        token = f"metrics-{lo}-{hi}"
        self._store.command(NEW_SERIES, params)
        self._store.command(_deduplicated(ROLLUP_1M, token + "-1m"), params)
        self._store.command(_deduplicated(FEED, token + "-feed"), params)

    def _record(self, lo: int, hi: int, done: bool) -> None:
        self._seq += 1
        self._store.command(
            RECORD, {"source": SOURCE, "seq": self._seq, "lo": lo, "hi": hi, "done": int(done)}
        )

    def _last_block(self) -> int:
        rows = self._store.query_sync(LAST_BLOCK).rows
        return int(rows[0][0] or 0) if rows else 0

    def close(self) -> None:
        self._executor.shutdown(wait=True)
