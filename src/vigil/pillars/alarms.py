"""The alarms pillar: CloudWatch alarm and anomaly-detector operations, the evaluation
rounds, alarm events out.

* start: definitions and states are loaded as committed, detector configurations too,
  and Action items the sinks never took are handed over again;
* tasks: ``alarm-evaluation`` every 2 s (an alarm is evaluated once per 10-second or
  minute boundary — ``evaluate.is_due`` — so a round that finds nothing due costs a scan
  of the definitions; 2 s bounds the lag after a boundary), ``alarm-history`` hourly
  (history older than 14 days);
* events: each transition goes to every callable in ``core.alarm_sinks`` (the
  notification pillar appends its own); with none, the history records them.
"""

from __future__ import annotations

import asyncio

from vigil.api.aws.cloudwatch_alarms import CloudWatchAlarmsService, load_detector_configs
from vigil.pillar import Core, Pillar
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent
from vigil.state.alarms import AlarmStore
from vigil.state.metrictags import TagStore
from vigil.tasks import Task

EVALUATION_INTERVAL = 2.0


class AlarmsPillar(Pillar):
    engine: AlarmEngine


def build(core: Core) -> Pillar:
    store = AlarmStore(core.state)
    reader = MetricReader(core.store, core.config.metric_retention, lambda: core.clock() // 10**9)

    def fan_out(event: AlarmEvent) -> None:
        for sink in list(core.alarm_sinks):
            sink(event)

    engine = AlarmEngine(store, reader, core.clock, fan_out)
    service = CloudWatchAlarmsService(
        engine, store, TagStore(core.state, core.cloudwatch_resources)
    )
    service.register_resources(core.cloudwatch_resources)

    async def start() -> None:
        await engine.start()
        await asyncio.to_thread(load_detector_configs, engine, store)

    async def evaluate() -> None:
        await engine.tick()

    async def prune() -> None:
        await engine.prune()

    pillar = AlarmsPillar(
        name="alarms",
        aws_services=[service],
        tasks=[
            Task("alarm-evaluation", evaluate, EVALUATION_INTERVAL),
            Task("alarm-history", prune, 3600.0, first_delay=60.0),
        ],
        on_start=[start],
    )
    pillar.engine = engine
    return pillar
