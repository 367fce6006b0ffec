"""The ingest pipeline: decoded batches → log processors → cumulative conversion → writer.

Handlers call ``accept`` with what a decoder returned; it returns once the batch is
committed, or raises what the writer raised (``Overloaded``, ``StoreUnavailable``). Steps:
1. record new log groups and streams in the state registry;
2. run the registered ``LogProcessor``s (metric filters, EMF …) whose extra tables are
   committed with the logs;
3. turn cumulative metric points into deltas (reloading stream state from the store after
   a restart);
4. hand all tables to the writer in one batch.
Runs on the event loop; blocking registry and store calls go to threads.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Protocol

import pyarrow as pa

from vigil.ingest.interface import CumulativePoint, Decoded
from vigil.ingest.otlp.cumulative import CumulativeConverter, StreamState
from vigil.model.logs import LOGS_TABLE
from vigil.model.metrics import METRICS_TABLE
from vigil.model.spans import SPANS_TABLE
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import Store, Writer


class LogProcessor(Protocol):
    """Derives more rows from a batch of logs (e.g. metric points from metric filters).

    Called on the event loop with the logs about to be committed; returns tables to commit
    with them (may be empty). Must be quick and must not raise for bad log content.
    """

    def __call__(self, logs: pa.Table) -> Mapping[str, pa.Table]: ...


class IngestPipeline:
    def __init__(
        self, writer: Writer, registry: LogGroupRegistry, store: Store, started_ns: int
    ) -> None:
        self._writer = writer
        self._registry = registry
        self._store = store
        self._converter = CumulativeConverter(started_ns)
        self.log_processors: list[LogProcessor] = []

    async def accept(self, decoded: Decoded) -> None:
        tables: dict[str, pa.Table] = {}
        if decoded.logs is not None and len(decoded.logs):
            if self._registry.unknown(decoded.log_streams):
                await asyncio.to_thread(self._registry.ensure, decoded.log_streams)
            logs = decoded.logs.to_arrow()
            tables[LOGS_TABLE] = logs
            for processor in self.log_processors:
                for name, extra in processor(logs).items():
                    tables[name] = (
                        pa.concat_tables([tables[name], extra]) if name in tables else extra
                    )
        if decoded.spans is not None and len(decoded.spans):
            tables[SPANS_TABLE] = decoded.spans.to_arrow()
        for name, extra in decoded.extra.items():
            if extra.num_rows:
                tables[name] = pa.concat_tables([tables[name], extra]) if name in tables else extra
        converted: list[int] = []
        if decoded.metrics is not None:
            if decoded.cumulative:
                await self._prime(decoded.cumulative)
                self._converter.convert(decoded.cumulative, decoded.metrics, decoded.rejected)
                converted = [p.stream_id for p in decoded.cumulative]
            if len(decoded.metrics):
                tables[METRICS_TABLE] = decoded.metrics.to_arrow()
        if not tables:
            return
        try:
            await self._writer.write(tables)
        except BaseException:
            # The converter moved on past points that were not stored: reload their streams.
            self._converter.forget(converted)
            raise

    async def _prime(self, points: list[CumulativePoint]) -> None:
        unknown = self._converter.unknown(points)
        if not unknown:
            return
        by_metric: dict[tuple[str, str, str], set[int]] = defaultdict(set)
        for p in unknown:
            by_metric[(p.tenant, p.namespace, p.name)].add(p.stream_id)
        states: dict[int, StreamState] = {}
        for (tenant, namespace, name), ids in by_metric.items():
            rows = await self._store.query(
                "SELECT stream_id, argMax(toUnixTimestamp64Nano(start_time), timestamp),"
                " max(toUnixTimestamp64Nano(timestamp)), argMax(cumulative, timestamp)"
                " FROM metrics WHERE tenant = {t:String} AND namespace = {ns:String}"
                " AND name = {n:String} AND stream_id IN {ids:Array(UInt64)}"
                " AND metric_type = 'sum' GROUP BY stream_id",
                {"t": tenant, "ns": namespace, "n": name, "ids": sorted(ids)},
            )
            for stream_id, start, ts, value in rows.rows:
                states[int(stream_id)] = StreamState(int(start), int(ts), float(value))
        self._converter.prime(states)
