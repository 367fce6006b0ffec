"""The alarms pillar: CloudWatch alarm and anomaly-detector operations, the evaluation
task, alarm events out to the sinks other pillars put in ``core.alarm_sinks``.

Start: definitions and states are loaded, detector configurations given to the models,
and undelivered events handed to the sinks again (a restart never loses one). Then the
``alarm-evaluation`` task ticks the engine every ``EVALUATION_INTERVAL`` seconds on the
core's clock (the engine decides which alarms are due: a tick evaluates only those whose
period ended), and ``alarm-history`` prunes old history items hourly. Tests that drive
the engine themselves run the server with manual tasks and call ``engine.tick()``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from vigil.api.alarm_detail_v1 import AlarmDetailApi
from vigil.api.aws.cloudwatch_alarms import CloudWatchAlarmsService, load_detector_configs
from vigil.pillar import Core, Pillar
from vigil.rules.alarms.band import band_functions
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import fan_out
from vigil.state.alarms import AlarmStore
from vigil.state.metrictags import TagStore
from vigil.tasks import Task

# Seconds between evaluation rounds. An alarm is evaluated once per 10-second or minute
# boundary (``evaluate.is_due``), so a round that finds nothing due costs a scan of the
# definitions; 2 s bounds the lag after a boundary.
EVALUATION_INTERVAL = 2.0
PRUNE_INTERVAL = 3600.0


@dataclass(eq=False)
class AlarmsPillar(Pillar):
    engine: AlarmEngine | None = None
    service: CloudWatchAlarmsService | None = None


def build(core: Core) -> AlarmsPillar:
    store = AlarmStore(core.state)
    reader = MetricReader(
        core.store,
        core.config.metric_retention,
        lambda: core.clock() // 10**9,
        core.metric_functions,
    )

    # The sinks are read at each event (pillars built after this one add theirs); the
    # event is marked delivered only once every sink has it.
    engine = AlarmEngine(store, reader, core.clock, fan_out(core.alarm_sinks))
    # GetMetricData's ANOMALY_DETECTION_BAND reads the models the band alarms use.
    for spec in band_functions(engine.models):
        core.metric_functions.register(spec)
    service = CloudWatchAlarmsService(
        engine, store, TagStore(core.state, core.cloudwatch_resources)
    )
    service.register_resources(core.cloudwatch_resources)

    async def load() -> None:
        await engine.start()
        await asyncio.to_thread(load_detector_configs, engine, store)

    async def evaluate() -> None:
        await engine.tick()

    async def prune() -> None:
        await engine.prune()

    return AlarmsPillar(
        name="alarms",
        aws_services=[service],
        # /api/v1/alarms/{name}: one alarm, its history and backtest, create/edit (the UI)
        routes=AlarmDetailApi(engine, service, store, reader, core.clock).routes(),
        tasks=[
            Task("alarm-evaluation", evaluate, EVALUATION_INTERVAL),
            Task("alarm-history", prune, PRUNE_INTERVAL, first_delay=60.0),
        ],
        on_start=[load],
        engine=engine,
        service=service,
    )
