"""Alarm timelines (tests/golden/alarms): points written through the PutMetricData decoder
into the real store, alarms defined through the API's checks, evaluation rounds of the
real engine at the files' times, states and reasons compared."""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alarm_golden import BASE, Step, offset, samples, steps
from tests.golden.frame import Block, Frame
from vigil.api.aws import alarm_params
from vigil.ingest.cloudwatch_metrics import decode_put_metric_data
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent
from vigil.state.alarms import AlarmStore
from vigil.state.db import open_state
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

GOLDEN = Path(__file__).parent / "golden" / "alarms"
FILES = sorted(GOLDEN.glob("*.test"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("alarm-golden") / "ch"))
    migrate(s)
    yield s
    s.close()


class _Clock:
    def __init__(self) -> None:
        self.now = BASE

    def ns(self) -> int:
        return self.now * 10**9


def _write(store: ClickHouseStore, tenant: str, clock: _Clock, step: Step) -> None:
    data: list[dict[str, Any]] = []
    dims = [{"Name": k, "Value": v} for k, v in step.args["dims"]]
    for when, values in step.args["points"]:
        if values == ["-"]:
            continue
        points = samples(values)
        datum: dict[str, Any] = {
            "MetricName": step.args["metric"],
            "Dimensions": dims,
            "Timestamp": BASE + when,
        }
        if "res" in step.args:
            datum["StorageResolution"] = int(step.args["res"])
        if len(points) == 1:
            datum["Value"] = points[0]
        else:
            distinct = sorted(set(points))
            datum["Values"] = distinct
            datum["Counts"] = [float(points.count(v)) for v in distinct]
        data.append(datum)
    _put(store, tenant, clock, step.args["ns"], data)


def _put(
    store: ClickHouseStore, tenant: str, clock: _Clock, ns: str, data: list[dict[str, Any]]
) -> None:
    for i in range(0, len(data), 1000):
        params = {"Namespace": ns, "MetricData": data[i : i + 1000]}
        columns = decode_put_metric_data(params, tenant, clock.ns())
        store.insert("metrics", columns.to_arrow())


def _generate(store: ClickHouseStore, tenant: str, clock: _Clock, step: Step) -> None:
    a = step.args
    rng = random.Random(int(a.get("seed", "1")))
    start, end, every = offset(a["from"]), offset(a["to"]), offset(a.get("every", "1m"))
    base, daily, noise = (
        float(a.get("base", "0")),
        float(a.get("daily", "0")),
        float(a.get("noise", "0")),
    )
    data = []
    for t in range(start, end, every):
        value = base + daily * math.sin(2 * math.pi * ((BASE + t) % 86400) / 86400)
        value += rng.gauss(0, noise)
        data.append({"MetricName": a["metric"], "Timestamp": BASE + t + 1, "Value": value})
    _put(store, tenant, clock, a["ns"], data)


class AlarmKinds:
    """The alarm kinds of the shared golden frame: ``load alarm|alarm-json|composite|
    composite-json|points|generate|set`` and ``eval alarms [at T]`` with ``expect``
    lines (format in tests/golden/alarms/README.md)."""

    def __init__(self, store: ClickHouseStore, tenant: str, state_path: Path) -> None:
        self.store, self.tenant = store, tenant
        self.clock = _Clock()
        self.state = open_state(str(state_path))
        self.actions: dict[str, int] = {}
        self.loop = asyncio.new_event_loop()
        self.engine = AlarmEngine(
            AlarmStore(self.state),
            MetricReader(store, MetricRetention(), lambda: self.clock.now),
            self.clock.ns,
            sink=self._sink,
        )

    def _sink(self, event: AlarmEvent) -> None:
        self.actions[event.alarm_name] = self.actions.get(event.alarm_name, 0) + len(event.actions)

    def close(self) -> None:
        self.loop.close()
        self.state.dispose()

    def load(self, block: Block) -> None:
        for step in steps(block):
            self.loop.run_until_complete(self._load(step))

    async def _load(self, step: Step) -> None:
        if step.kind in ("alarm", "composite"):
            params = step.args["params"]
            arn = f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{params['AlarmName']}"
            if step.kind == "alarm":
                spec = alarm_params.metric_alarm(params, arn)
                await self.engine.put(self.tenant, "MetricAlarm", spec)
            else:
                spec = alarm_params.composite_alarm(params, arn)
                await self.engine.put(self.tenant, "CompositeAlarm", spec)
        elif step.kind == "points":
            _write(self.store, self.tenant, self.clock, step)
        elif step.kind == "generate":
            _generate(self.store, self.tenant, self.clock, step)
        else:
            await self.engine.set_state(
                self.tenant, step.args["name"], step.args["state"], "set", None
            )

    def eval(self, block: Block) -> None:
        [step] = steps(block)
        if step.args["at"] is not None:
            self.clock.now = BASE + step.args["at"]
            self.loop.run_until_complete(self.engine.tick())

    def expect(self, block: Block, _outcome: object) -> None:
        for step in steps(block):
            where = f"{block.path.name}:{step.line}"
            name = step.args["name"]
            entry = self.engine.get(self.tenant, name)
            assert entry is not None, f"{where}: no alarm {name}"
            got = entry.state
            if "state" in step.args:
                assert got.value == step.args["state"], (
                    f"{where}: {name} is {got.value}: {got.reason}"
                )
            if "reason" in step.args:
                assert got.reason == step.args["reason"], f"{where}: {got.reason}"
            if "reason_starts" in step.args:
                assert got.reason.startswith(step.args["reason_starts"]), f"{where}: {got.reason}"
            if "actions" in step.args:
                count = self.actions.get(name, 0)
                assert count == step.args["actions"], f"{where}: {count} actions"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(store: ClickHouseStore, tmp_path: Path, path: Path) -> None:
    kinds = AlarmKinds(store, re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem), tmp_path / "state.db")
    frame = Frame()
    for name in ("alarm", "alarm-json", "composite", "composite-json", "points", "generate"):
        frame.register(name, kinds)
    frame.register("set", kinds).register("alarms", kinds)
    try:
        assert frame.run(path) > 0
    finally:
        kinds.close()
