"""Alarm backtests (``rules.alarms.backtest``) on the shared golden frame, against the real
store: ``tests/golden/alarms/backtest/*.test`` (format in its README.md).

Every ``eval backtest`` is checked twice: against the file's expectations, and against the
real alarm engine ticked at every evaluation time of the same range over the same data (a
fresh engine with its own state database): the backtest must make exactly the engine's
transitions, at the same times, with the same reasons. (Anomaly-band alarms are checked
against their file only: the engine trains its model at its first evaluation and hourly,
the backtest once per replayed day on the days before it.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alarm_golden import BASE, offset
from tests.golden.frame import Block, Frame
from tests.test_alarm_golden import AlarmKinds
from vigil.rules.alarms import backtest
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent
from vigil.rules.alarms.model import MetricAlarm
from vigil.state.alarms import AlarmStore
from vigil.state.db import open_state
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

GOLDEN = Path(__file__).parent / "golden" / "alarms" / "backtest"
FILES = sorted(GOLDEN.glob("*.test"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("backtest-golden") / "ch"))
    migrate(s)
    yield s
    s.close()


class BacktestKind(AlarmKinds):
    """``eval backtest NAME from=T to=T`` and its ``expect`` lines (``evaluations N``,
    ``at T STATE [reason TEXT]``, ``final STATE``, ``changes N``)."""

    def __init__(self, store: ClickHouseStore, tenant: str, state_dir: Path) -> None:
        super().__init__(store, tenant, state_dir / "state.db")
        self.state_dir = state_dir
        self.replays = 0

    def eval(self, block: Block) -> Any:
        if block.kind != "backtest":
            return super().eval(block)
        [name] = block.words
        entry = self.engine.get(self.tenant, name)
        if entry is None or not isinstance(entry.alarm, MetricAlarm):
            raise block.fail(f"no metric alarm {name}")
        start = BASE + offset(block.options["from"])
        end = BASE + offset(block.options["to"])
        self.clock.now = end
        query = self.loop.run_until_complete(
            backtest.load(self.engine_reader, entry.alarm, start, end)
        )
        result = backtest.replay(entry.alarm, start, end, query)
        if entry.alarm.band:
            return result  # the engine trains its model at other times (see the file)
        engine_changes = self._engine_replay(entry.spec, entry.alarm, start, end)
        got = [(c.at, c.old, c.new, c.reason) for c in result.changes]
        assert got == engine_changes, (
            f"{block.where}: the backtest differs from the engine:\n{got}\n{engine_changes}"
        )
        return result

    @property
    def engine_reader(self) -> MetricReader:
        return MetricReader(self.store, MetricRetention(), lambda: self.clock.now)

    def _engine_replay(
        self, spec: dict[str, Any], alarm: MetricAlarm, start: int, end: int
    ) -> list[tuple[int, str, str, str]]:
        """The real engine, fresh, ticked at every time the backtest evaluates."""
        self.replays += 1
        state = open_state(str(self.state_dir / f"replay-{self.replays}.db"))
        events: list[AlarmEvent] = []
        seconds = {"now": start}
        engine = AlarmEngine(
            AlarmStore(state),
            MetricReader(self.store, MetricRetention(), lambda: seconds["now"]),
            lambda: seconds["now"] * 10**9,
            sink=events.append,
        )
        try:
            self.loop.run_until_complete(engine.put(self.tenant, "MetricAlarm", spec))
            for t in backtest.times(alarm.period, start, end):
                seconds["now"] = t
                self.loop.run_until_complete(engine.tick(t))
        finally:
            state.dispose()
        return [
            (e.timestamp_ms // 1000, e.old_state, e.new_state, e.reason)
            for e in events
            if e.alarm_name == alarm.name
        ]

    def expect(self, block: Block, outcome: object) -> None:
        if not isinstance(outcome, backtest.Replay):
            return super().expect(block, outcome)
        for number, line in enumerate(block.body, start=block.line + 1):
            where = f"{block.path.name}:{number}"
            words = line.split()
            if words[0] == "evaluations":
                assert outcome.evaluations == int(words[1]), f"{where}: {outcome.evaluations}"
            elif words[0] == "changes":
                assert len(outcome.changes) == int(words[1]), f"{where}: {outcome.changes}"
            elif words[0] == "final":
                assert outcome.final == words[1], f"{where}: final {outcome.final}"
            elif words[0] == "at":
                at, state = BASE + offset(words[1]), words[2]
                found = [c for c in outcome.changes if c.at == at]
                assert found, f"{where}: no change at {words[1]}: {_show(outcome)}"
                assert found[0].new == state, f"{where}: {found[0]}"
                _, _, reason = line.partition(" reason ")
                if reason:
                    assert found[0].reason == reason, f"{where}: {found[0].reason}"
            else:
                raise block.fail(f"unknown expect line {line!r}")


def _show(outcome: backtest.Replay) -> str:
    return ", ".join(f"{(c.at - BASE) // 60}m {c.new}" for c in outcome.changes)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_backtest_golden(store: ClickHouseStore, tmp_path: Path, path: Path) -> None:
    kinds = BacktestKind(store, re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem), tmp_path)
    frame = Frame()
    for name in ("alarm", "alarm-json", "points", "generate", "backtest"):
        frame.register(name, kinds)
    try:
        assert frame.run(path) > 0
    finally:
        kinds.close()


def test_evaluation_steps() -> None:
    # The engine's cadence, coarser only where a period would need over 60 grids.
    assert backtest.evaluation_step(10) == 10
    assert backtest.evaluation_step(60) == 60
    assert backtest.evaluation_step(300) == 60
    assert backtest.evaluation_step(3600) == 60
    assert backtest.evaluation_step(5400) == 120
    assert backtest.evaluation_step(86400) == 1440
    for period in (10, 20, 30, 60, 120, 300, 900, 3600, 5400, 21600, 86400):
        step = backtest.evaluation_step(period)
        assert period % step == 0
        assert period // step <= backtest.MAX_GRIDS


def test_files_exist() -> None:
    assert FILES, "no backtest golden files"
