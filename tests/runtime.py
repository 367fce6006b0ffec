"""The real ``Runtime`` in the test process: the fast way to a running vigil.

``InProcessVigil`` answers like ``tests.vigil_process.VigilProcess`` (``url``,
``otlp_http_url``, ``grpc_target``, ``xray_address``, ``client()``, ``stop()``) and takes
the same command-line flags, so a test module switches by changing its fixture. The
runtime runs on an event loop (uvloop, as ``vigil serve``) in a background thread, so the
tests' synchronous clients (httpx, boto3, grpc, the OpenTelemetry SDKs) talk to it over
real sockets on free ports, with a temporary data directory. What it adds:

- ``clock=``: the runtime's wall clock (ns), for tests that need time to be theirs;
- ``run_task(name)``: one pass of a periodic task now (retention, scheduled queries, …),
  instead of a short interval and polling; with ``manual_tasks=True`` the periodic tasks
  run only then (not at start, not on their interval), so a test knows what ran when;
- ``call(fn)``: run ``await fn(runtime)`` on the runtime's loop and get its result.

Not for durability or signal tests (kill -9, SIGTERM, a failpoint that exits): those need
a process of their own and keep ``VigilProcess``. chDB opens one data directory per
process at a time, so one ``InProcessVigil`` runs at a time, and not beside a test's own
``ClickHouseStore``: use it in function- or module-scoped fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from tests.vigil_process import ServedAddresses
from vigil import cli
from vigil.config import Config
from vigil.pillar import Builder
from vigil.server import PILLARS, Runtime
from vigil.tasks import TaskRunner
from vigil.telemetry import SelfMetrics

T = TypeVar("T")


def config_from_flags(data_dir: Path, *args: str) -> Config:
    """The Config ``vigil serve --data-dir DATA_DIR ARGS`` would run with (free ports unless
    the flags name one)."""
    parser = argparse.ArgumentParser(prog="vigil")
    cli._serve_parser(parser.add_subparsers(dest="command"))
    argv = ["serve", "--data-dir", str(data_dir)]
    for flag in ("--port", "--otlp-http-port", "--otlp-grpc-port", "--xray-port"):
        if flag not in args:
            argv += [flag, "0"]
    return cli.parse_config(parser.parse_args([*argv, *args]))


class ManualTasks(TaskRunner):
    """A task runner whose tasks run only through ``run_now``."""

    async def start(self) -> None:
        pass


class InProcessVigil(ServedAddresses):
    def __init__(
        self,
        data_dir: Path,
        *args: str,
        clock: Callable[[], int] | None = None,
        pillars: Sequence[Builder] = PILLARS,
        manual_tasks: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.config = config_from_flags(data_dir, *args)
        metrics = SelfMetrics()
        kwargs: dict[str, Any] = {"pillars": pillars, "metrics": metrics}
        if clock is not None:
            kwargs["clock"] = clock
        if manual_tasks:
            kwargs["tasks"] = ManualTasks(metrics)
        self.runtime = Runtime(self.config, **kwargs)
        self.addresses: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started: Future[dict[str, str]] = Future()
        self._stopped: Future[None] = Future()

    def start(self, timeout: float = 90.0) -> InProcessVigil:
        self._thread = threading.Thread(target=self._run, name="vigil-in-process", daemon=True)
        self._thread.start()
        self.addresses = dict(self._started.result(timeout))
        return self

    def _run(self) -> None:
        loop = self._loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            addresses = await self.runtime.start()
        except BaseException as exc:
            await self.runtime.stop()
            self._started.set_exception(exc)
            self._stopped.set_result(None)
            return
        self._started.set_result(dict(addresses))
        try:
            await self._stop.wait()
        finally:
            try:
                await self.runtime.stop()
            except BaseException as exc:
                self._stopped.set_exception(exc)
            else:
                self._stopped.set_result(None)

    def call(self, fn: Callable[[Runtime], Awaitable[T]], timeout: float = 120.0) -> T:
        """``await fn(runtime)`` on the runtime's event loop."""
        assert self._loop is not None

        async def run() -> T:
            return await fn(self.runtime)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def run_task(self, name: str, timeout: float = 120.0) -> bool:
        """One pass of the periodic task ``name`` now; raises what the pass raised."""

        async def run(runtime: Runtime) -> bool:
            assert runtime.core is not None
            return await runtime.core.tasks.run_now(name)

        return self.call(run, timeout)

    def stop(self, timeout: float = 60.0) -> int:
        """Stops the runtime (the shutdown of SIGTERM); 0 once it stopped cleanly."""
        if self._loop is not None and self._stop is not None and not self._stopped.done():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._stopped.result(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        return 0

    def log_text(self) -> str:
        return ""  # its log records go to pytest's captured logging
