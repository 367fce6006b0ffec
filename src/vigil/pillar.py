"""What every pillar shares (``Core``) and what each one plugs in (``Pillar``).

A pillar (logs, metrics, traces; next alarms, notify, dashboards, web) is one module in
``vigil/pillars/`` exposing ``build(core) -> Pillar``. ``server.py`` opens the core, builds
the pillars in its written-down order, and runs them. The contract:

When things happen
  1. ``open_core``: store (ClickHouse, migrations), state (SQLite/PostgreSQL), the writer
     (write-ahead log replayed, then its threads), the ingest pipeline. The core is
     complete before any pillar is built; a pillar never sees a half-open core.
  2. ``build(core)``: constructs the pillar's objects and returns its ``Pillar``: no I/O
     that can wait (it runs on the event loop), no listener, no task started. Pillars are
     built in order; a later one may use what an earlier one put into the core (e.g. the
     logs pillar's processors in ``core.pipeline``).
  3. ``Pillar.start()``, in order: loads what the pillar needs from state and opens the
     pillar's own listeners (``core.listeners``). Later pillars' traffic may reach an
     earlier pillar (OTLP logs go through the logs pillar's metric filters), never the
     other way round, which is why the order is written down.
  4. The runtime then serves every pillar's ``routes`` and ``aws_services`` on the main
     port and its ``grpc_handlers`` on the OTLP gRPC port, starts every pillar's
     ``tasks`` on ``core.tasks``, and says ready.

Stop, in reverse: not ready; every listener stops accepting and finishes what is in
flight (the shared ones and the pillars' own: ``core.listeners``); the periodic tasks are
cancelled; ``Pillar.stop()`` for each pillar in reverse order (it stops what ``start``
opened that is not a listener, and releases its resources; it must not raise); the
writer commits and inserts what is queued; state and store are closed. So a pillar's
objects outlive every request and task that can use them.

Threads: everything here runs on the server's event loop. ``core.store`` and
``core.writer`` are safe from any thread (see store.interface); ``core.state`` is a
SQLAlchemy engine (a connection per use). ``core.clock`` is the wall clock in nanoseconds,
injected (tests pass their own): pillars read time only through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
import pyarrow as pa
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from vigil.api.aws.interface import AwsService
from vigil.auth import Authenticator
from vigil.config import Config
from vigil.ingest.pipeline import IngestPipeline
from vigil.listeners import HttpListeners
from vigil.query.metricmath.functions import FunctionTable, default_functions
from vigil.rules.alarms.interface import EventSink
from vigil.state.cloudwatch_resources import CloudWatchResources
from vigil.state.db import open_state
from vigil.state.loggroups import LogGroupRegistry
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import apply_table_ttls
from vigil.store.wal import WriteAheadLog
from vigil.store.writer import WalWriter
from vigil.tasks import Task, TaskRunner
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Core:
    """What the pillars share; built by ``open_core``, closed by ``close``."""

    config: Config
    clock: Callable[[], int]  # wall clock, ns
    metrics: SelfMetrics
    store: ClickHouseStore
    state: Engine
    writer: WalWriter
    registry: LogGroupRegistry
    pipeline: IngestPipeline
    auth: Authenticator
    tasks: TaskRunner
    listeners: HttpListeners = field(default_factory=HttpListeners)
    # Alarms, metric streams, dashboards and insight rules register here (for tags).
    cloudwatch_resources: CloudWatchResources = field(default_factory=CloudWatchResources)
    # Where alarm state changes go: the notify pillar (built after alarms) adds its
    # consumer here; the alarms pillar calls every sink for every event, in order.
    alarm_sinks: list[EventSink] = field(default_factory=list)
    # Metric math's functions for every reader (GetMetricData, math alarms): pillars add
    # theirs at build (alarms: ANOMALY_DETECTION_BAND; insight rules: INSIGHT_RULE_METRIC).
    metric_functions: FunctionTable = field(default_factory=default_functions)
    addresses: dict[str, str] = field(default_factory=dict)  # listener name -> host:port
    ready: bool = False  # /healthz answers 200 (read at request time)

    def is_ready(self) -> bool:
        return self.ready

    async def close(self) -> None:
        """The writer commits and inserts what is queued, then state and store close."""
        try:
            await asyncio.to_thread(self.writer.stop)
        finally:
            self.state.dispose()
            await asyncio.to_thread(self.store.close)


async def open_core(
    config: Config,
    clock: Callable[[], int] = time.time_ns,
    metrics: SelfMetrics | None = None,
    tasks: TaskRunner | None = None,
) -> Core:
    """Store, state, writer (replayed, then started), pipeline; on failure, closes what it
    opened and raises."""
    cfg = config
    metrics = metrics or SelfMetrics()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    # store and state (blocking: chDB start-up and migrations run in a thread)
    store = await asyncio.to_thread(
        ClickHouseStore,
        cfg.store_url,
        read_threads=cfg.read_threads,
        query_timeout=cfg.query_timeout,
    )
    state: Engine | None = None
    writer: WalWriter | None = None
    try:
        await asyncio.to_thread(lambda: migrate(store, before_replay=True))
        # pyarrow imports pandas on its first conversion from Python objects (1-3 s on a
        # busy machine): pay it here rather than in the first request.
        await asyncio.to_thread(pa.array, [0.0])
        state = await asyncio.to_thread(open_state, cfg.state_url)
        registry = LogGroupRegistry(state)
        wal = WriteAheadLog(cfg.data_dir / "wal", fsync=cfg.wal_fsync)
        writer = WalWriter(
            store,
            wal,
            metrics,
            commit_interval=cfg.commit_interval_ms / 1000,
            flush_interval=cfg.flush_interval_ms / 1000,
            flush_rows=cfg.flush_rows,
            max_queue_rows=cfg.max_queue_rows,
            max_queue_bytes=cfg.max_queue_mb << 20,
        )
        await asyncio.to_thread(writer.replay)
        # Table rebuilds (migrations marked after_replay), then the TTLs, which a rebuilt
        # table does not carry over.
        await asyncio.to_thread(migrate, store)
        await asyncio.to_thread(
            apply_table_ttls, store, cfg.metric_retention, cfg.trace_retention_days
        )
        writer.start()
        store.before_read = writer.barrier
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(writer.stop)
        if state is not None:
            state.dispose()
        await asyncio.to_thread(store.close)
        raise
    return Core(
        config=cfg,
        clock=clock,
        metrics=metrics,
        store=store,
        state=state,
        writer=writer,
        registry=registry,
        pipeline=IngestPipeline(writer, registry, store, clock()),
        auth=Authenticator(cfg.api_keys),
        tasks=tasks or TaskRunner(metrics),
    )


Hook = Callable[[], Awaitable[None]]


@dataclass(eq=False)
class Pillar:
    """One pillar's contribution; see the module docstring for when each part is used.

    ``on_start`` hooks run in order, ``on_stop`` hooks in reverse (each one even when an
    earlier one failed: the failure is logged). A pillar module may subclass this to give
    tests typed access to its parts.
    """

    name: str
    routes: Sequence[BaseRoute] = ()  # on the main HTTP port
    aws_services: Sequence[AwsService] = ()  # on the main HTTP port
    grpc_handlers: Sequence[grpc.GenericRpcHandler] = ()  # on the OTLP gRPC port
    tasks: Sequence[Task] = ()
    # Path prefixes on the main port served without the API key (links in messages that
    # a person opens from a mail client, a certificate SNS subscribers fetch).
    open_paths: Sequence[str] = ()
    on_start: Sequence[Hook] = ()
    on_stop: Sequence[Hook] = ()

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        for hook in reversed(self.on_stop):
            try:
                await hook()
            except Exception:
                log.exception("pillar %s: a stop step failed", self.name)


Builder = Callable[[Core], Pillar]
