"""The alarm engine's durability rules on a real SQLite state database (no metric data
needed: SetAlarmState and composites drive the transitions)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent
from vigil.state.alarms import HISTORY_DAYS, AlarmStore
from vigil.state.db import open_state
from vigil.store.retention import MetricRetention

T0_MS = 1_796_637_600_000
ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:"


def _metric(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": ARN + name,
        "Namespace": "T",
        "MetricName": "M",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:t"],
        "ActionsEnabled": True,
    }


def _engine(path: Path, sink: Any, now_ms: list[int]) -> AlarmEngine:
    state = open_state(str(path / "state.db"))
    reader = MetricReader(None, MetricRetention(), lambda: now_ms[0] // 1000)  # type: ignore[arg-type]
    return AlarmEngine(AlarmStore(state), reader, lambda: now_ms[0] * 1_000_000, sink)


def test_an_event_the_sink_did_not_take_is_handed_over_after_a_restart(tmp_path: Path) -> None:
    now = [T0_MS]

    def broken(_event: AlarmEvent) -> None:
        raise RuntimeError("notification pillar down")

    async def first() -> None:
        engine = _engine(tmp_path, broken, now)
        await engine.start()
        await engine.put("t", "MetricAlarm", _metric("a"))
        await engine.set_state("t", "a", "ALARM", "test", None)

    asyncio.run(first())
    taken: list[AlarmEvent] = []

    async def second() -> AlarmEngine:
        engine = _engine(tmp_path, taken.append, now)
        await engine.start()
        return engine

    engine = asyncio.run(second())
    assert [(e.alarm_name, e.new_state, e.actions) for e in taken] == [
        ("a", "ALARM", ["arn:aws:sns:us-east-1:000000000000:t"])
    ]
    entry = engine.get("t", "a")
    assert entry is not None
    assert entry.state.value == "ALARM"
    # delivered now: a third start hands over nothing
    again: list[AlarmEvent] = []

    async def third() -> None:
        e = _engine(tmp_path, again.append, now)
        await e.start()

    asyncio.run(third())
    assert again == []


def test_history_is_kept_fourteen_days(tmp_path: Path) -> None:
    now = [T0_MS]
    taken: list[AlarmEvent] = []

    async def run() -> list[int]:
        engine = _engine(tmp_path, taken.append, now)
        await engine.start()
        await engine.put("t", "MetricAlarm", _metric("a"))
        await engine.set_state("t", "a", "ALARM", "old", None)
        now[0] += HISTORY_DAYS * 86_400_000 + 1
        await engine.set_state("t", "a", "OK", "new", None)
        pruned = await engine.prune()
        store = AlarmStore(open_state(str(tmp_path / "state.db")))
        items = store.history("t", "a", ["MetricAlarm"], None, None, None, None, 100, True)
        return [pruned, len(items)]

    pruned, left = asyncio.run(run())
    assert pruned == 3  # the creation, the first state update and its action
    assert left == 1  # the OK update (no OK actions: no Action item)


def test_composite_follows_a_child_and_cycles_are_refused_by_the_api_rules(
    tmp_path: Path,
) -> None:
    from vigil.rules.alarms import rule as rules

    now = [T0_MS]
    taken: list[AlarmEvent] = []

    async def run() -> AlarmEngine:
        engine = _engine(tmp_path, taken.append, now)
        await engine.start()
        await engine.put("t", "MetricAlarm", _metric("a"))
        await engine.put(
            "t",
            "CompositeAlarm",
            {"AlarmName": "c", "AlarmArn": ARN + "c", "AlarmRule": "ALARM(a)"},
        )
        await engine.set_state("t", "a", "ALARM", "x", None)
        return engine

    engine = asyncio.run(run())
    c = engine.get("t", "c")
    assert c is not None
    assert c.state.value == "ALARM"
    with pytest.raises(rules.RuleCheckError):
        rules.validate("ALARM(ghost)", "a2", lambda n: engine.exists("t", n), lambda n: None)
    with pytest.raises(rules.RuleCheckError, match="cycle"):
        rules.validate(
            "ALARM(c)", "a", lambda n: engine.exists("t", n), lambda n: engine.rule_of("t", n)
        )
