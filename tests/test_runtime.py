"""The wiring, in-process: pillars plug in, start in order, stop in reverse after the
listeners and the periodic tasks; a pillar that fails to start leaves nothing open."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.runtime import InProcessVigil
from vigil.pillar import Core, Pillar
from vigil.server import PILLARS
from vigil.tasks import Task

EVENTS: list[str] = []
NOW = 1_700_000_000 * 10**9  # the runtime's clock in these tests


def _refuses(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def probe(core: Core) -> Pillar:
    """A pillar of the test's own: a route, a task, start and stop hooks that record."""
    passes: list[int] = []

    async def hello(_: Request) -> Response:
        return PlainTextResponse(f"passes={len(passes)} at={passes[-1]}")

    async def task() -> None:
        passes.append(core.clock())

    async def start() -> None:
        EVENTS.append("probe start")

    async def stop() -> None:
        # Listeners and tasks are stopped by now; the store (and writer) are still open.
        EVENTS.append(f"probe stop: http refuses={_refuses(core.addresses['http'])}")
        rows = await core.store.query("SELECT 41 + 1")
        EVENTS.append(f"probe stop: store answers {rows.rows[0][0]}")

    return Pillar(
        name="probe",
        routes=[Route("/probe", hello)],
        tasks=[Task("probe", task, interval=3600)],
        on_start=[start],
        on_stop=[stop],
    )


def test_pillars_plug_in_and_stop_after_listeners_and_tasks(tmp_path: Path) -> None:
    EVENTS.clear()
    server = InProcessVigil(tmp_path / "data", clock=lambda: NOW, pillars=(*PILLARS, probe)).start()
    try:
        assert set(server.addresses) == {"http", "otlp-http", "otlp-grpc", "xray"}
        names = [p.name for p in server.runtime.built]
        assert names == [
            "logs",
            "metrics",
            "traces",
            "alarms",
            "insight-rules",
            "notify",
            "read-api",
            "otlp",
            "dashboards",
            "selfwatch",
            "probe",
        ]
        with server.client() as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            server.run_task("probe")
            # One pass at start (usually done by now) and this one, at the injected time.
            assert http.get("/probe").text in (f"passes={n} at={NOW}" for n in (1, 2))
            for task in ("log-retention", "metric-retention", "trace-retention"):
                server.run_task(task)  # after the pass at start, if that one still runs
            text = http.get("/metrics").text
        for task in ("log-retention", "metric-retention", "trace-retention", "probe"):
            assert f'vigil_task_runs_total{{outcome="ok",task="{task}"}}' in text
        assert EVENTS == ["probe start"]
    finally:
        assert server.stop() == 0
    assert EVENTS == [
        "probe start",
        "probe stop: http refuses=True",
        "probe stop: store answers 42",
    ]
    assert all(_refuses(a) for k, a in server.addresses.items() if k != "otlp-grpc")


def broken(core: Core) -> Pillar:
    async def start() -> None:
        raise RuntimeError("cannot start")

    return Pillar(name="broken", on_start=[start])


def test_a_pillar_that_fails_to_start_leaves_nothing_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = InProcessVigil(data, pillars=(*PILLARS, broken))
    with pytest.raises(RuntimeError, match="cannot start"):
        server.start()
    # The OTLP/HTTP port (opened by a pillar started before) is closed again …
    assert all(_refuses(a) for a in server.runtime.addresses.values())
    # … and the data directory (chDB, the write-ahead log) can be opened again.
    again = InProcessVigil(data).start()
    try:
        assert httpx.get(again.url + "/healthz").status_code == 200
    finally:
        assert again.stop() == 0


def test_tests_read_runtime_state_through_the_pillars(tmp_path: Path) -> None:
    server = InProcessVigil(tmp_path / "data", manual_tasks=True).start()
    try:

        async def count_rules(runtime: object) -> int:
            traces = server.runtime.pillar("traces")
            sampling = getattr(traces, "sampling", None)
            assert sampling is not None
            rules = await asyncio.to_thread(sampling.rules, "default")
            return len(rules)

        assert server.call(count_rules) >= 1  # the default sampling rule
    finally:
        assert server.stop() == 0


def test_a_pillars_stop_hooks_run_in_reverse_even_after_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def hook(name: str, fail: bool = False) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)
            if fail:
                raise OSError(f"{name} failed")

        return run

    pillar = Pillar(
        name="p",
        on_start=[hook("open a"), hook("open b")],
        on_stop=[hook("close a"), hook("close b", fail=True)],
    )
    asyncio.run(pillar.start())
    asyncio.run(pillar.stop())
    assert ran == ["open a", "open b", "close b", "close a"]
    assert "pillar p: a stop step failed" in caplog.text
