"""The service graph kept per minute (table ``service_graph``, migration 0303).

Computing the graph at read time joins every span of the window with its parent: 6-13 s
for the last hour at 10M spans (bench/RESULTS.md). Instead, the read-time queries run per
minute, ahead of reads, and reads merge their per-minute rows.

What a minute holds (the same queries as ``query.xray``'s read-time graph, grouped by the
minute of the span that carries the statistics):

* ``node``: the segments that started in the minute, per (service, origin, root);
* ``edge``: child segments that started in the minute and whose parent is a span of
  another service, per (caller, caller origin, callee, callee origin), with ``other`` = the
  minute the parent started (the read-time graph needs both ends in the window);
* ``remote``: spans naming a remote service that started in the minute, with ``other`` =
  the first minute of a child segment answering them (epoch 0 if none): a read counts them
  as calls to an uninstrumented remote when no answer falls in its window.

**Catch-up.** Each insert block of ``spans`` is recorded in ``span_blocks`` (tenant, first
start, last end) by a materialized view. The catch-up takes the blocks not done yet,
recomputes every minute from their first start to their last end — a late parent, or a
late answer to a client call, lies within the time range of its own block, and the
children or callers it completes started within it (child spans run within their parent's
interval) — looking up the other end of each pair anywhere within the time range of the
traces involved (``trace_index``), then marks the blocks done (once they are a few seconds
old: the view's row may become visible a moment before the spans of its insert). A
recomputation replaces a minute (a new generation), so it is idempotent: a block processed
twice (a crash before it was marked done, a WAL replay) changes nothing, and each pair is
counted once whatever the order the spans arrived in. It runs every few seconds and before
each read (after the writer's barrier), so a read sees every span acknowledged before it;
a read recomputes only the slots of its own window (see ``ServiceGraphKeeper``).

**Windows** are whole minutes: a read over [start, end] merges the minutes from the one
holding ``start`` to the one holding ``end``.

A child that starts outside its parent's interval (clock skew across hosts) and arrives
*before* its parent is paired only when its own minute is recomputed again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.store.interface import Store

log = logging.getLogger(__name__)

MINUTE_NS = 60 * 10**9
# Minutes recomputed per statement: bounds a statement's memory and time; a divisor of a
# day, so that a statement writes one day partition (one part: atomic).
CHUNK_NS = 10 * MINUTE_NS
# The slots one read may recompute itself (6 hours of CHUNK_NS), newest first.
READ_MAX_SLOTS = 36
CATCH_UP_INTERVAL = 5.0
# The background catch-up (a periodic task) works through a backlog without the usual wait
# (the lock lets reads in between), but waits at least this many times as long as its last
# pass took, so it never takes more than 1 / (1 + K) of the time: under heavy ingest every
# pass recomputes the live minutes whole (4.8M spans a minute at 80k spans/s), and passes
# run back to back would take CPU from ingest (measured: ~5 µs per span at 80k spans/s).
# Reads still recompute their own window, so a slower catch-up costs a read's latency,
# never its answer.
BACKGROUND_SHARE_K = 4
# A block stays pending (its minutes are recomputed again) until it is this old: its row in
# ``span_blocks`` may become visible a moment before the spans of the same insert do.
SETTLE_SECONDS = 10

_ZERO = "unhex('0000000000000000')"
# Latency histogram buckets (also the read-time graph's): powers of two in milliseconds,
# valued by their upper bound in seconds.
BUCKET = "exp2(ceil(log2(greatest({p}duration_ns, 1000000) / 1e6))) / 1000"
_MINUTE = "toDateTime(toStartOfMinute({p}start_time))"


def _stats(p: str = "") -> str:
    """The statistics columns of a ``service_graph`` row over spans (alias ``p``)."""
    hist = f"sumMap([{BUCKET.format(p=p)}], [toUInt64(1)])"
    return f"""count() AS requests, sum({p}error) AS errors, sum({p}fault) AS faults,
        sum({p}throttle) AS throttles, sum({p}duration_ns) AS total_ns,
        tupleElement({hist}, 1) AS buckets, tupleElement({hist}, 2) AS counts,
        min({p}start_time) AS first, max({p}end_time) AS last"""


_M = (
    "tenant = {t:String} AND start_time >= fromUnixTimestamp64Nano({a:Int64})"
    " AND start_time < fromUnixTimestamp64Nano({b:Int64})"
)
_L = (
    "tenant = {t:String} AND start_time >= fromUnixTimestamp64Nano({la:Int64})"
    " AND start_time <= fromUnixTimestamp64Nano({lb:Int64})"
)
_COLUMNS = (
    "minute, other, kind, src, src_type, dst, dst_type, root, gen, requests,"
    " errors, faults, throttles, total_ns, buckets, counts, first, last"
)

_NODES = f"""
    SELECT {_MINUTE.format(p="")} AS minute, minute AS other,
        'node' AS kind, toString(service) AS src, toString(origin) AS src_type,
        '' AS dst, '' AS dst_type, toUInt8(parent_span_id = {_ZERO}) AS root,
        {{gen:UInt64}} AS gen, {_stats()}
    FROM spans WHERE {_M} AND segment = 1 AND service != ''
    GROUP BY minute, src, src_type, root"""

_CHILDREN = f"segment = 1 AND parent_span_id != {_ZERO}"

_EDGES = f"""
    SELECT {_MINUTE.format(p="c.")} AS minute,
        {_MINUTE.format(p="p.")} AS other, 'edge' AS kind, p.service AS src,
        p.origin AS src_type, c.service AS dst, c.origin AS dst_type, toUInt8(0) AS root,
        {{gen:UInt64}} AS gen, {_stats("c.")}
    FROM (SELECT trace_id, span_id, toString(service) AS service,
                 toString(origin) AS origin, start_time
          FROM spans WHERE {_L}
            AND (trace_id, span_id) IN (SELECT trace_id, parent_span_id FROM spans
                WHERE {_M} AND {_CHILDREN})) AS p
    INNER JOIN (SELECT trace_id, parent_span_id, toString(service) AS service,
                       toString(origin) AS origin, duration_ns, error, fault, throttle,
                       start_time, end_time
                FROM spans WHERE {_M} AND {_CHILDREN}) AS c
      ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE p.service != c.service AND p.service != ''
    GROUP BY minute, other, src, src_type, dst, dst_type"""

_CALLS = "remote_service != '' AND service != ''"

_REMOTE = f"""
    SELECT {_MINUTE.format(p="s.")} AS minute,
        a.answered AS other, 'remote' AS kind, s.service AS src, s.origin AS src_type,
        s.remote_service AS dst, s.remote_type AS dst_type, toUInt8(0) AS root,
        {{gen:UInt64}} AS gen, {_stats("s.")}
    FROM (SELECT trace_id, span_id, toString(service) AS service,
                 toString(origin) AS origin, toString(remote_service) AS remote_service,
                 toString(remote_type) AS remote_type, duration_ns, error, fault, throttle,
                 start_time, end_time
          FROM spans WHERE {_M} AND {_CALLS}) AS s
    LEFT JOIN (SELECT trace_id, parent_span_id, min({_MINUTE.format(p="")}) AS answered
               FROM spans WHERE {_L} AND {_CHILDREN}
                 AND (trace_id, parent_span_id) IN (SELECT trace_id, span_id FROM spans
                     WHERE {_M} AND {_CALLS})
               GROUP BY trace_id, parent_span_id) AS a
      ON s.trace_id = a.trace_id AND s.span_id = a.parent_span_id
    GROUP BY minute, other, src, src_type, dst, dst_type"""

# One row per recomputed minute, so that a minute left with nothing still has a newest
# generation that hides the rows of the previous one.
_GENS = """
    SELECT toDateTime(intDiv({a:Int64}, 1000000000) + 60 * number) AS minute, minute AS other,
        'gen' AS kind, '' AS src, '' AS src_type, '' AS dst, '' AS dst_type,
        toUInt8(0) AS root, {gen:UInt64} AS gen, toUInt64(0) AS requests,
        toUInt64(0) AS errors, toUInt64(0) AS faults, toUInt64(0) AS throttles,
        toUInt64(0) AS total_ns, CAST([], 'Array(Float64)') AS buckets,
        CAST([], 'Array(UInt64)') AS counts, toDateTime64(0, 9) AS first,
        toDateTime64(0, 9) AS last
    FROM numbers({minutes:UInt64})"""

RECOMPUTE = f"""
    INSERT INTO service_graph (tenant, {_COLUMNS})
    SELECT {{t:String}}, {_COLUMNS} FROM ({_NODES} UNION ALL {_EDGES} UNION ALL {_REMOTE}
                            UNION ALL {_GENS})
    SETTINGS max_insert_threads = 1"""

# The time range of the traces with spans in the minutes: where the other end of a pair
# can be.
_TRACES_RANGE = f"""
    SELECT toUnixTimestamp64Nano(min(start)), toUnixTimestamp64Nano(max(end)), count()
    FROM trace_index WHERE tenant = {{t:String}}
      AND trace_id IN (SELECT trace_id FROM spans WHERE {_M})"""

# Int64 seconds, not DateTime parameters: ClickHouse cannot parse "0" (an end at the
# epoch, start clamped there) as a DateTime parameter.
_READ = """
    SELECT toString(kind) AS kind, src, src_type, dst, dst_type, root,
        sum(requests) AS n, sum(errors) AS errors, sum(faults) AS faults,
        sum(throttles) AS throttles, sum(total_ns) AS total,
        sumMap(buckets, counts) AS hist,
        toUnixTimestamp64Nano(min(first)) AS first, toUnixTimestamp64Nano(max(last)) AS last
    FROM service_graph
    WHERE tenant = {t:String} AND minute BETWEEN toDateTime({lo:Int64}) AND toDateTime({hi:Int64})
      AND kind != 'gen'
      AND (minute, gen) IN (SELECT minute, max(gen) FROM service_graph
          WHERE tenant = {t:String}
            AND minute BETWEEN toDateTime({lo:Int64}) AND toDateTime({hi:Int64})
          GROUP BY minute)
      AND (kind = 'node'
           OR (kind = 'edge' AND other BETWEEN toDateTime({lo:Int64}) AND toDateTime({hi:Int64}))
           OR (kind = 'remote'
               AND NOT (other BETWEEN toDateTime({lo:Int64}) AND toDateTime({hi:Int64}))))
    GROUP BY kind, src, src_type, dst, dst_type, root"""


@dataclass(frozen=True, slots=True)
class GraphRows:
    """Per-window rows in the shape of the read-time graph's three queries."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    remote: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Block:
    tenant: str
    id: str
    a: int  # its first minute
    b: int  # the end of its last minute
    settled: bool

    def part(self, slot: int) -> tuple[int, int]:
        """Its minutes within the ``CHUNK_NS`` slot starting at ``slot``: [a, b)."""
        return max(self.a, slot), min(self.b, slot + CHUNK_NS)

    def slots(self) -> range:
        return range(self.a // CHUNK_NS * CHUNK_NS, self.b, CHUNK_NS)


class ServiceGraphKeeper:
    """Keeps ``service_graph`` up to date. Async-safe: catch-ups and reads of one process
    are serialized, so a read never sees a half-written recomputation of this process.

    Work is counted in slots of ``CHUNK_NS`` per block: a read recomputes only the slots
    of its window that some pending block still needs, and the background loop takes a few
    slots at a time, newest first, so that a large backlog (the upgrade of a store holding
    weeks of spans registers them as one block) never holds reads for long. Which slots a
    block has had recomputed is kept in memory; a restart recomputes them again."""

    def __init__(
        self,
        store: Store,
        *,
        max_age_ns: int | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        # Minutes older than this (the traces' retention) hold no spans worth a graph:
        # the TTL drops them. Without the bound, one span stamped in 2001 beside one of
        # today makes a block whose catch-up walks decades of minutes.
        self._max_age_ns = max_age_ns
        self._clock = clock
        self._lock = asyncio.Lock()
        self._done: dict[str, set[int]] = {}  # block id -> slots recomputed since settled
        # Store.writes("spans") when a pass last found no pending block (None: look).
        self._idle_at: int | None = None
        self._nothing_pending = False

    async def catch_up(self, tenant: str | None = None) -> int:
        """Recompute the minutes of the blocks not done yet; returns minutes recomputed."""
        async with self._lock:
            minutes, _ = await self._catch_up(tenant)
            return minutes

    async def read(self, tenant: str, start_ns: int, end_ns: int) -> GraphRows:
        window = (start_ns // MINUTE_NS * MINUTE_NS, end_ns // MINUTE_NS * MINUTE_NS)
        async with self._lock:
            # At most READ_MAX_SLOTS slots (the newest) recomputed for a read; older pending
            # ones are left to the background pass. Unbounded, one GetServiceGraph from
            # StartTime=0 recomputed every pending slot of the retention (30 days: 4,320
            # a block) under the lock, and every other graph read waited (the fuzz run).
            await self._catch_up(tenant, window, max_slots=READ_MAX_SLOTS)
            return await self._read(tenant, *window)

    async def catch_up_pass(self, slots: int = 3) -> bool:
        """The background catch-up (a periodic task): up to ``slots`` slots, newest first;
        returns whether some are left (the task runner runs it again soon, pausing
        ``BACKGROUND_SHARE_K`` times as long as the pass took).

        Idle: once a pass finds no pending block, the next ones ask the store nothing until
        this process inserts spans again (``Store.writes``; only where this process is the
        store's only writer) — an idle server's engine code stays paged out (vigil.memory).
        The number is read before the pending blocks, so an insert finishing meanwhile
        changes it and the next pass looks."""
        mark = self._store.writes("spans")
        if mark is not None and mark == self._idle_at:
            return False
        async with self._lock:
            _, left = await self._catch_up(None, max_slots=slots)
            self._idle_at = mark if self._nothing_pending else None
        return left > 0

    async def _pending(self, tenant: str | None) -> list[_Block]:
        where = "done = 0" + (" AND tenant = {t:String}" if tenant is not None else "")
        rows = await self._store.query(
            "SELECT tenant, toString(id), toUnixTimestamp64Nano(lo), toUnixTimestamp64Nano(hi),"
            f" marked < now() - {SETTLE_SECONDS} FROM span_blocks FINAL WHERE {where}",
            {"t": tenant or ""},
        )
        horizon = 0
        if self._max_age_ns is not None:
            horizon = (self._clock() - self._max_age_ns) // MINUTE_NS * MINUTE_NS
        blocks = []
        for t, block_id, lo, hi, settled in rows.rows:
            a = max(int(lo) // MINUTE_NS * MINUTE_NS, horizon)
            # A block wholly past the horizon keeps one minute: it is then marked done.
            b = max((max(int(lo), int(hi)) // MINUTE_NS + 1) * MINUTE_NS, a + MINUTE_NS)
            blocks.append(_Block(t, block_id, a, b, bool(settled)))
        return blocks

    async def _catch_up(
        self,
        tenant: str | None,
        window: tuple[int, int] | None = None,
        max_slots: int | None = None,
    ) -> tuple[int, int]:
        """Recompute what pending blocks still need (within the window's minutes [first,
        last] if given, at most ``max_slots`` slots); returns the minutes recomputed and the
        slots left for later."""
        blocks = await self._pending(tenant)
        self._nothing_pending = not blocks and tenant is None
        work: dict[tuple[str, int], tuple[int, int]] = {}  # (tenant, slot) -> [a, b)
        for block in blocks:
            done = self._done.get(block.id, set())
            for slot in block.slots():
                a, b = block.part(slot)
                if slot in done or (window and (b <= window[0] or a > window[1])):
                    continue
                hull = work.get((block.tenant, slot), (a, b))
                work[(block.tenant, slot)] = (min(hull[0], a), max(hull[1], b))
        chosen = sorted(work, key=lambda key: key[1], reverse=True)[:max_slots]
        for key in chosen:
            await asyncio.to_thread(self._recompute, key[0], *work[key])
        finished: dict[str, list[str]] = defaultdict(list)
        recomputed = {key: work[key] for key in chosen}
        for block in blocks:
            if not block.settled:
                continue  # its spans may not all have been visible: recomputed again
            done = self._done.setdefault(block.id, set())
            for slot in block.slots():
                a, b = block.part(slot)
                covered = recomputed.get((block.tenant, slot), (b, a))
                if covered[0] <= a and b <= covered[1]:
                    done.add(slot)
            if len(done) == len(block.slots()):
                finished[block.tenant].append(block.id)
        for t, ids in finished.items():
            await asyncio.to_thread(self._mark_done, t, ids)
            for block_id in ids:
                self._done.pop(block_id, None)
        minutes = sum((work[key][1] - work[key][0]) // MINUTE_NS for key in chosen)
        return minutes, len(work) - len(chosen)

    def _recompute(self, tenant: str, a: int, b: int) -> None:
        params: dict[str, Any] = {"t": tenant, "a": a, "b": b}
        lo, hi, traces = self._store.query_sync(_TRACES_RANGE, params).rows[0]
        params["la"], params["lb"] = (min(a, int(lo)), max(b, int(hi))) if traces else (a, b)
        params["gen"] = time.time_ns()
        params["minutes"] = (b - a) // MINUTE_NS
        self._store.command(RECOMPUTE, params)

    def _mark_done(self, tenant: str, ids: list[str]) -> None:
        self._store.command(
            "INSERT INTO span_blocks (tenant, id, lo, hi, spans, done)"
            " SELECT tenant, id, lo, hi, spans, 1 FROM span_blocks FINAL"
            " WHERE tenant = {t:String} AND toString(id) IN {ids:Array(String)} AND done = 0",
            {"t": tenant, "ids": ids},
        )

    async def _read(self, tenant: str, first: int, last: int) -> GraphRows:
        """The rows of the minutes [first, last] (nanoseconds, minute starts)."""
        params = {"t": tenant, "lo": first // 10**9, "hi": last // 10**9}
        out = GraphRows([], [], [])
        for row in (await self._store.query(_READ, params)).dicts():
            kind = row.pop("kind")
            if kind == "node":
                row["service"], row["origin"] = row.pop("src"), row.pop("src_type")
                out.nodes.append(row)
            else:
                (out.edges if kind == "edge" else out.remote).append(row)
        return out
