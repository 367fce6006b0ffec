"""The alarms pillar: CloudWatch alarm and anomaly-detector operations, the evaluation
loop, alarm events out to one sink.

Written in the shape issue 10 plans for pillars (services, tasks, start, stop) with
explicit arguments until ``pillar.Core`` lands. Start order: definitions and states are
loaded, undelivered events are handed to the sink again, then the loop runs (unless
``loop`` is false: tests drive ``engine.tick(now)`` on their own clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from sqlalchemy import Engine

from vigil.api.aws.cloudwatch_alarms import CloudWatchAlarmsService, load_detector_configs
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import EventSink
from vigil.state.alarms import AlarmStore
from vigil.state.cloudwatch_resources import CloudWatchResources
from vigil.state.metrictags import TagStore
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


class AlarmsPillar:
    name = "alarms"

    def __init__(
        self,
        store: Store,
        state: Engine,
        resources: CloudWatchResources,
        retention: MetricRetention,
        clock: Callable[[], int] = time.time_ns,
        sink: EventSink | None = None,
        loop: bool = True,
    ) -> None:
        self.store = AlarmStore(state)
        reader = MetricReader(store, retention, lambda: clock() // 10**9)
        self.engine = AlarmEngine(self.store, reader, clock, sink)
        self.service = CloudWatchAlarmsService(self.engine, self.store, TagStore(state, resources))
        self.service.register_resources(resources)
        self._loop = loop
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.engine.start()
        await asyncio.to_thread(load_detector_configs, self.engine, self.store)
        if self._loop:
            self._tasks.append(asyncio.create_task(self.engine.run(self._stop), name="alarms"))
            self._tasks.append(asyncio.create_task(self._prune(), name="alarm-history"))

    async def _prune(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                await self.engine.prune()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=3600)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
