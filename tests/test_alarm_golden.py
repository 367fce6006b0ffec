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

from tests.alarm_golden import BASE, Step, load, offset, samples
from vigil.api.aws import alarm_params
from vigil.ingest.cloudwatch_metrics import decode_put_metric_data
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
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


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden(store: ClickHouseStore, tmp_path: Path, path: Path) -> None:
    tenant = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    clock = _Clock()
    state = open_state(str(tmp_path / "state.db"))
    engine = AlarmEngine(
        AlarmStore(state),
        MetricReader(store, MetricRetention(), lambda: clock.now),
        clock.ns,
        sink=lambda _e: None,
    )
    actions: dict[str, int] = {}
    engine.sink = lambda e: actions.__setitem__(
        e.alarm_name, actions.get(e.alarm_name, 0) + len(e.actions)
    )

    async def run() -> None:
        for step in load(path):
            where = f"{path.name}:{step.line}"
            if step.kind in ("alarm", "composite"):
                params = step.args["params"]
                arn = f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{params['AlarmName']}"
                if step.kind == "alarm":
                    spec = alarm_params.metric_alarm(params, arn)
                    await engine.put(tenant, "MetricAlarm", spec)
                else:
                    spec = alarm_params.composite_alarm(params, arn)
                    await engine.put(tenant, "CompositeAlarm", spec)
            elif step.kind == "points":
                _write(store, tenant, clock, step)
            elif step.kind == "generate":
                _generate(store, tenant, clock, step)
            elif step.kind == "set":
                await engine.set_state(tenant, step.args["name"], step.args["state"], "set", None)
            elif step.kind == "eval":
                clock.now = BASE + step.args["at"]
                await engine.tick()
            else:
                entry = engine.get(tenant, step.args["name"])
                assert entry is not None, f"{where}: no alarm {step.args['name']}"
                if "state" in step.args:
                    assert entry.state.value == step.args["state"], (
                        f"{where}: {step.args['name']} is {entry.state.value}: {entry.state.reason}"
                    )
                if "reason" in step.args:
                    assert entry.state.reason == step.args["reason"], (
                        f"{where}: {entry.state.reason}"
                    )
                if "reason_starts" in step.args:
                    assert entry.state.reason.startswith(step.args["reason_starts"]), (
                        f"{where}: {entry.state.reason}"
                    )
                if "actions" in step.args:
                    got = actions.get(step.args["name"], 0)
                    assert got == step.args["actions"], f"{where}: {got} actions"

    try:
        asyncio.run(run())
    finally:
        state.dispose()
