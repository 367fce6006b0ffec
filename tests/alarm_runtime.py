"""The in-process vigil (``tests.runtime.InProcessVigil``) on an injected clock, for alarm
tests through boto3: periodic tasks run only when asked, the test sets the clock and
drives the alarm engine's evaluation rounds, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from tests.runtime import InProcessVigil
from vigil.pillars.alarms import AlarmsPillar
from vigil.rules.alarms.interface import AlarmEvent
from vigil.server import Runtime


class Clock:
    def __init__(self, seconds: float) -> None:
        self.ns = int(seconds * 1e9)

    def __call__(self) -> int:
        return self.ns

    def set(self, seconds: float) -> None:
        self.ns = int(seconds * 1e9)


@dataclass
class Harness:
    vigil: InProcessVigil
    url: str
    clock: Clock
    events: list[AlarmEvent] = field(default_factory=list)

    def tick(self, at: float | None = None) -> list[AlarmEvent]:
        if at is not None:
            self.clock.set(at)

        async def run(runtime: Runtime) -> list[AlarmEvent]:
            pillar = runtime.pillar("alarms")
            assert isinstance(pillar, AlarmsPillar)
            return await pillar.engine.tick()

        return self.vigil.call(run)

    def client(self) -> Any:
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        return session.client(
            "cloudwatch", endpoint_url=self.url, config=BotoConfig(retries={"max_attempts": 1})
        )


@contextmanager
def running(data_dir: Path, clock: Clock) -> Iterator[Harness]:
    vigil = InProcessVigil(data_dir, clock=clock, manual_tasks=True).start()
    events: list[AlarmEvent] = []

    async def listen(runtime: Runtime) -> None:
        assert runtime.core is not None
        runtime.core.alarm_sinks.append(events.append)

    vigil.call(listen)
    try:
        yield Harness(vigil, vigil.url, clock, events)
    finally:
        vigil.stop()
