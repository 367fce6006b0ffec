"""An in-process vigil (``Runtime``) on an injected clock, for alarm tests through boto3:
the server runs on its own event loop thread; the test sets the clock and drives the
alarm engine's evaluation rounds (the loop is off), so nothing sleeps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from botocore.config import Config as BotoConfig

from tests import aws_protocols
from tests.runtime import ManualTasks
from vigil.config import Config
from vigil.pillar import Core, Pillar
from vigil.pillars.alarms import AlarmsPillar
from vigil.rules.alarms.interface import AlarmEvent
from vigil.server import PILLARS, Runtime
from vigil.telemetry import SelfMetrics

T = TypeVar("T")


class Clock:
    def __init__(self, seconds: float) -> None:
        self.ns = int(seconds * 1e9)

    def __call__(self) -> int:
        return self.ns

    def set(self, seconds: float) -> None:
        self.ns = int(seconds * 1e9)

    @property
    def seconds(self) -> int:
        return self.ns // 10**9


@dataclass
class Harness:
    runtime: Runtime
    loop: asyncio.AbstractEventLoop
    url: str
    clock: Clock
    events: list[AlarmEvent] = field(default_factory=list)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def tick(self, at: float | None = None) -> list[AlarmEvent]:
        if at is not None:
            self.clock.set(at)
        alarms = self.runtime.pillar("alarms")
        assert isinstance(alarms, AlarmsPillar)
        assert alarms.engine is not None
        return self.run(alarms.engine.tick())

    def client(self, protocol: str = "json") -> Any:
        """boto3's CloudWatch client forced to ``protocol`` ("json", "query", "cbor")."""
        return aws_protocols.client(
            "cloudwatch",
            protocol,
            self.url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
        )


@contextmanager
def running(data_dir: Path, clock: Clock) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    events: list[AlarmEvent] = []
    config = Config(data_dir=data_dir, port=0, otlp_http_port=0, otlp_grpc_port=0, xray_port=None)

    def capture(core: Core) -> Pillar:
        core.alarm_sinks.append(events.append)
        return Pillar(name="capture-alarm-events")

    # Manual tasks: the test drives the evaluation rounds; nothing runs on its own.
    metrics = SelfMetrics()
    runtime = Runtime(
        config,
        clock=clock,
        metrics=metrics,
        pillars=(*PILLARS, capture),
        tasks=ManualTasks(metrics),
    )
    addresses = asyncio.run_coroutine_threadsafe(runtime.start(), loop).result(300)
    harness = Harness(runtime, loop, "http://" + addresses["http"], clock, events)
    try:
        yield harness
    finally:
        asyncio.run_coroutine_threadsafe(runtime.stop(), loop).result(120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
