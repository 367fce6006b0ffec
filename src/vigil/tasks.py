"""One runner for the server's periodic work (retention, the service-graph catch-up,
scheduled queries; next, alarm evaluation), instead of one hand-written loop each.

The contract:

- A ``Task`` is a name, an async ``run()`` doing one pass, and an ``interval`` (seconds).
  The first pass runs at ``start()`` (after ``first_delay``), each next one ``interval``
  after the previous pass ended.
- Backlog: ``run()`` returns ``True`` when it left work behind. The runner then runs it
  again without waiting the interval, but it waits at least ``busy_ratio`` times as long
  as the pass took (the pause after), so that a task never takes more than
  1 / (1 + busy_ratio) of the time from ingest and reads.
- Failures: a pass that raises is logged with the task's name and counted on ``/metrics``
  (``vigil_task_runs_total{task, outcome="failed"}``); the task keeps running.
  ``vigil_task_consecutive_failures{task}`` is the current run of failures (0 after a
  success), so that a task that keeps failing is visible. After ``backoff_after`` failures
  in a row the wait doubles with each further failure, up to ``max_backoff``; one success
  resets it.
- Time: the clock (seconds, monotonic) and the sleep are injected; tests drive the runner
  with a fake pair and never sleep.
- Threads: the runner and its tasks live on one event loop; ``add``, ``start``, ``stop``
  and ``run_now`` are called from that loop. A pass that blocks hands its work to a thread
  itself (``asyncio.to_thread``).
- ``run_now(name)`` runs one pass out of schedule (tests, operators); passes of one task
  never overlap (a lock per task), and it raises what the pass raised.
- ``stop()`` cancels every loop — a sleeping one at once, a running pass at its next await
  point — and waits for them; no pass starts after it returns. A pass already handed to a
  thread finishes there, unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    run: Callable[[], Awaitable[bool | None]]
    interval: float
    first_delay: float = 0.0
    busy_ratio: float = 0.0
    backoff_after: int = 3
    max_backoff: float = 3600.0


def pause_after(elapsed: float, backlog: bool, interval: float, busy_ratio: float) -> float:
    """Seconds to wait after a successful pass that took ``elapsed``."""
    return max(0.0 if backlog else interval, elapsed * busy_ratio)


def backoff(interval: float, failures: int, after: int, cap: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row."""
    if failures < after:
        return interval
    return max(interval, min(cap, interval * 2.0 ** (failures - after + 1)))


@dataclass(slots=True)
class _State:
    task: Task
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    loop: asyncio.Task[None] | None = None


class TaskRunner:
    def __init__(
        self,
        metrics: SelfMetrics | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._tasks: dict[str, _State] = {}
        self._running = False

    def add(self, task: Task) -> None:
        if task.name in self._tasks:
            raise ValueError(f"a periodic task named {task.name!r} is already registered")
        if task.interval <= 0:
            raise ValueError(f"periodic task {task.name!r}: interval must be > 0")
        state = self._tasks[task.name] = _State(task)
        if self._running:
            self._launch(state)

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def failures(self, name: str) -> int:
        """Failures in a row of the task ``name`` (0 once a pass succeeds)."""
        return self._tasks[name].failures

    async def start(self) -> None:
        self._running = True
        for state in self._tasks.values():
            self._launch(state)

    async def stop(self) -> None:
        self._running = False
        loops = [s.loop for s in self._tasks.values() if s.loop is not None]
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        for state in self._tasks.values():
            state.loop = None

    async def run_now(self, name: str) -> bool:
        """One pass of ``name`` now; returns whether it left a backlog, raises its error."""
        state = self._tasks[name]
        backlog, error, _ = await self._pass(state)
        if error is not None:
            raise error
        return backlog

    def _launch(self, state: _State) -> None:
        state.loop = asyncio.create_task(self._loop(state), name=f"task-{state.task.name}")

    async def _loop(self, state: _State) -> None:
        task = state.task
        if task.first_delay > 0:
            await self._sleep(task.first_delay)
        while True:
            backlog, error, elapsed = await self._pass(state)
            if error is not None:
                wait = backoff(task.interval, state.failures, task.backoff_after, task.max_backoff)
                log.error(
                    "periodic task %s failed (%d in a row; next pass in %.3g s)",
                    task.name,
                    state.failures,
                    wait,
                    exc_info=error,
                )
            else:
                wait = pause_after(elapsed, backlog, task.interval, task.busy_ratio)
            await self._sleep(wait)

    async def _pass(self, state: _State) -> tuple[bool, Exception | None, float]:
        task = state.task
        async with state.lock:
            started = self._clock()
            try:
                backlog = bool(await task.run())
            except Exception as exc:  # every failure is logged and counted
                state.failures += 1
                self._count(task.name, "failed", self._clock() - started, state.failures)
                return False, exc, self._clock() - started
            elapsed = self._clock() - started
            state.failures = 0
            self._count(task.name, "ok", elapsed, 0)
            return backlog, None, elapsed

    def _count(self, name: str, outcome: str, elapsed: float, failures: int) -> None:
        if self._metrics is None:
            return
        self._metrics.task_runs.labels(name, outcome).inc()
        self._metrics.task_seconds.labels(name).observe(elapsed)
        self._metrics.task_failing.labels(name).set(failures)
