"""The periodic-task runner, driven by a fake clock and sleep: nothing here really sleeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from vigil.tasks import Task, TaskRunner, backoff, pause_after
from vigil.telemetry import SelfMetrics


class FakeTime:
    """A monotonic clock that moves only when the test says, and a sleep that waits for it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []  # every wait the runner asked for, in order
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time on, waking each sleeper at its own deadline, in order."""
        target = self.now + seconds
        await _settle()
        while True:
            due = [s for s in self._sleepers if s[0] <= target and not s[1].done()]
            if not due:
                break
            deadline, future = min(due, key=lambda s: s[0])
            self.now = max(self.now, deadline)
            future.set_result(None)
            self._sleepers.remove((deadline, future))
            await _settle()
        self.now = max(self.now, target)  # a pass may have moved it past the target
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _sample(metrics: SelfMetrics, name: str, labels: dict[str, str]) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _run(
    body: Callable[[FakeTime, TaskRunner, SelfMetrics], Awaitable[None]],
) -> None:
    async def main() -> None:
        fake = FakeTime()
        metrics = SelfMetrics()
        runner = TaskRunner(metrics, clock=fake.clock, sleep=fake.sleep)
        try:
            await body(fake, runner, metrics)
        finally:
            await runner.stop()

    asyncio.run(main())


def test_a_task_runs_at_start_then_every_interval() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        ran: list[float] = []

        async def tick() -> None:
            ran.append(fake.now)

        runner.add(Task("tick", tick, interval=10))
        await runner.start()
        await fake.advance(0)
        assert ran == [0.0]
        await fake.advance(9.5)
        assert ran == [0.0]
        await fake.advance(0.5)
        assert ran == [0.0, 10.0]
        await fake.advance(25)
        assert ran == [0.0, 10.0, 20.0, 30.0]
        assert _sample(metrics, "vigil_task_runs_total", {"task": "tick", "outcome": "ok"}) == 4

    _run(body)


def test_first_delay_and_the_interval_counts_from_the_end_of_a_pass() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        ran: list[float] = []

        async def slow() -> None:
            ran.append(fake.now)
            fake.now += 3  # the pass takes 3 s

        runner.add(Task("slow", slow, interval=10, first_delay=5))
        await runner.start()
        await fake.advance(4)
        assert ran == []
        await fake.advance(1)
        assert ran == [5.0]
        assert fake.now == 8.0
        await fake.advance(10)
        assert ran == [5.0, 18.0]
        assert _sample(metrics, "vigil_task_seconds_sum", {"task": "slow"}) == 6.0

    _run(body)


def test_failures_are_logged_counted_by_name_and_do_not_stop_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        outcomes = iter([ValueError("store said no"), None, None])
        ran: list[float] = []

        async def flaky() -> None:
            ran.append(fake.now)
            error = next(outcomes)
            if error is not None:
                raise error

        async def steady() -> None:
            pass

        runner.add(Task("flaky", flaky, interval=10))
        runner.add(Task("steady", steady, interval=10))
        with caplog.at_level(logging.ERROR, logger="vigil.tasks"):
            await runner.start()
            await fake.advance(0)
        assert ran == [0.0]
        assert runner.failures("flaky") == 1
        labels = {"task": "flaky"}
        assert _sample(metrics, "vigil_task_runs_total", {**labels, "outcome": "failed"}) == 1
        assert _sample(metrics, "vigil_task_consecutive_failures", labels) == 1
        assert _sample(metrics, "vigil_task_runs_total", {"task": "steady", "outcome": "ok"}) == 1
        [record] = [r for r in caplog.records if "flaky" in r.getMessage()]
        assert "1 in a row" in record.getMessage()
        assert record.exc_info is not None
        assert "store said no" in str(record.exc_info[1])
        await fake.advance(10)
        assert ran == [0.0, 10.0]
        assert runner.failures("flaky") == 0
        assert _sample(metrics, "vigil_task_consecutive_failures", labels) == 0
        assert _sample(metrics, "vigil_task_runs_total", {**labels, "outcome": "ok"}) == 1

    _run(body)


def test_repeated_failures_back_off_and_one_success_resets() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        fail = [True] * 6 + [False, False]
        ran: list[float] = []

        async def broken() -> None:
            ran.append(fake.now)
            if fail and fail.pop(0):
                raise RuntimeError("down")

        runner.add(Task("broken", broken, interval=10, backoff_after=3, max_backoff=60))
        await runner.start()
        await fake.advance(300)
        # Two failures at the interval; from the third on the wait doubles (20, 40), capped
        # at 60; after a success the interval again.
        assert fake.sleeps[:8] == [10, 10, 20, 40, 60, 60, 10, 10]
        assert ran[:8] == [0, 10, 20, 40, 80, 140, 200, 210]
        assert runner.failures("broken") == 0

    _run(body)
    assert backoff(3600, failures=5, after=3, cap=600) == 3600  # never below the interval


def test_a_backlog_runs_again_after_a_pause_proportional_to_the_pass() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        backlog = [True, True, False]
        ran: list[float] = []

        async def catch_up() -> bool:
            ran.append(fake.now)
            fake.now += 0.5
            return backlog.pop(0) if backlog else False

        runner.add(Task("catch-up", catch_up, interval=5, busy_ratio=4))
        await runner.start()
        await fake.advance(20)
        # 0.5 s passes with work left: 2 s pauses (4 x 0.5); then the interval.
        assert fake.sleeps[:4] == [2.0, 2.0, 5.0, 5.0]
        assert ran[:4] == [0.0, 2.5, 5.0, 10.5]

    _run(body)
    assert pause_after(0.1, backlog=False, interval=5, busy_ratio=4) == 5
    assert pause_after(0.0, backlog=True, interval=5, busy_ratio=4) == 0
    assert pause_after(12.0, backlog=False, interval=5, busy_ratio=4) == 48


def test_stop_cancels_a_running_pass_and_no_pass_starts_after() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        started: list[float] = []
        cancelled: list[bool] = []
        release = asyncio.Event()

        async def long() -> None:
            started.append(fake.now)
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        runner.add(Task("long", long, interval=1))
        await runner.start()
        await fake.advance(0)
        assert started == [0.0]
        await runner.stop()
        assert cancelled == [True]
        await fake.advance(100)
        assert started == [0.0]
        # A cancelled pass is neither a success nor a failure.
        assert _sample(metrics, "vigil_task_runs_total", {"task": "long", "outcome": "ok"}) == 0
        assert _sample(metrics, "vigil_task_runs_total", {"task": "long", "outcome": "failed"}) == 0

    _run(body)


def test_run_now_runs_one_pass_serialized_with_the_loop() -> None:
    async def body(fake: FakeTime, runner: TaskRunner, metrics: SelfMetrics) -> None:
        inside = 0
        overlaps: list[int] = []
        gate = asyncio.Event()

        async def once() -> None:
            nonlocal inside
            inside += 1
            overlaps.append(inside)
            await gate.wait()
            inside -= 1

        runner.add(Task("once", once, interval=100))
        await runner.start()
        await fake.advance(0)  # the loop's first pass is waiting on the gate
        now = asyncio.create_task(runner.run_now("once"))
        await _settle()
        assert overlaps == [1]  # run_now waits for the loop's pass
        gate.set()
        await now
        assert overlaps == [1, 1]
        assert _sample(metrics, "vigil_task_runs_total", {"task": "once", "outcome": "ok"}) == 2

        async def boom() -> None:
            raise KeyError("x")

        runner.add(Task("boom", boom, interval=100))
        with pytest.raises(KeyError):
            await runner.run_now("boom")

    _run(body)


def test_names_are_unique_and_intervals_positive() -> None:
    async def noop() -> None:
        pass

    runner = TaskRunner()
    runner.add(Task("a", noop, interval=1))
    with pytest.raises(ValueError, match="already registered"):
        runner.add(Task("a", noop, interval=1))
    with pytest.raises(ValueError, match="interval"):
        runner.add(Task("b", noop, interval=0))
    assert runner.names == ["a"]
