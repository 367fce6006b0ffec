"""The wiring: opens the core, builds the pillars in a written-down order, starts them in
order and stops them in reverse (the contract is in ``vigil.pillar``).

Pillars, in order (``PILLARS``): logs, metrics, traces, alarms, insight-rules, notify,
read-api, otlp, dashboards, selfwatch, prometheus, promql. The logs pillar comes first
because every later pillar's ingest may carry logs through its metric filters; alarms read
what the three pillars store and hand their events to notify (insight rules read the logs
and add INSIGHT_RULE_METRIC to metric math); OTLP comes after the three because it feeds
them; dashboards and vigil watching itself only read and write through what precedes them;
Prometheus remote write and scraping write through the metrics pillar's path, and the
PromQL API only reads. The web UI's pages (``vigil.web.pages``) are served on the main
port before the AWS routes: ``GET /`` is the home page unless it carries an AWS query
``Action``.

Start order                               Stop order (reverse, each waits for the last)
 1. core: store (open ClickHouse,          1. not ready: /healthz answers 503
    migrate), state (SQLite/PostgreSQL),   2. listeners stop accepting; in-flight requests
    writer (replay the write-ahead log,       finish (their batches are still committed)
    then its threads), ingest pipeline     3. periodic tasks are cancelled
 2. pillars built, in order                4. pillars stop, in reverse order (the X-Ray
 3. pillars started, in order (state          daemon hands over what it received; running
    loaded; their own listeners: OTLP/HTTP,   Insights queries are cancelled)
    X-Ray daemon UDP + TCP)                5. writer logs and inserts what is queued,
 4. the main HTTP port (every pillar's        then ends
    routes and AWS services) and the gRPC  6. state and store are closed
    port (every pillar's gRPC handlers)
 5. periodic tasks (every pillar's)
 6. ready: /healthz answers 200, the
    "vigil listening …" line is printed
``Runtime`` is also what tests embed (tests/runtime.py): ``await Runtime(config).start()``
… ``await stop()``, with their own clock and pillars if they want.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from starlette.types import Scope

from vigil import memory
from vigil.api.app import build_app
from vigil.api.aws.dispatch import AwsDispatcher
from vigil.auth import Authenticator
from vigil.config import Config
from vigil.ingest.otlp.grpc_handler import start_grpc_server
from vigil.pillar import Builder, Core, Pillar, open_core
from vigil.pillars import (
    alarms,
    dashboards,
    insight_rules,
    logs,
    metrics,
    notify,
    otlp,
    prometheus,
    promql,
    read_api,
    selfwatch,
    traces,
)
from vigil.preflight import DataDirLock, check_ports, lock_data_dir
from vigil.selfwatch import log_buffer
from vigil.store.interface import Store
from vigil.tasks import Task, TaskRunner
from vigil.telemetry import SelfMetrics
from vigil.web import pages as web_pages

log = logging.getLogger("vigil")

# The written-down order (see the module docstring for why).
PILLARS: tuple[Builder, ...] = (
    logs.build,
    metrics.build,
    traces.build,
    alarms.build,
    insight_rules.build,
    notify.build,
    read_api.build,
    otlp.build,
    dashboards.build,
    selfwatch.build,
    prometheus.build,  # remote write and scraping feed the metrics pillar's store
    promql.build,  # reads only: the PromQL query API (issue 15)
)


# Seconds between two passes of the idle upkeep (memory.py: idle RSS).
TRIM_INTERVAL = 60.0
ENGINE_LIBRARY = "_chdb.abi3.so"


def _release_memory(
    store: Store, upkeep: memory.IdleUpkeep, clock: Callable[[], float], page_out: bool
) -> Callable[[], Awaitable[None]]:
    """Idle upkeep: the engine's freed pages after it worked, the C heap's, and the
    engine's code pages once the store has been quiet a while (memory.py)."""

    async def release() -> None:
        purge, quiet = upkeep.step(store.activity(), clock())
        if purge:
            await asyncio.to_thread(store.release_memory)
        await asyncio.to_thread(memory.trim)
        if quiet and page_out:
            await asyncio.to_thread(memory.page_out_library, ENGINE_LIBRARY)

    return release


def _port_flags(cfg: Config) -> dict[str, int | None]:
    return {
        "--port": cfg.port,
        "--otlp-http-port": cfg.otlp_http_port,
        "--otlp-grpc-port": cfg.otlp_grpc_port,
        "--xray-port": cfg.xray_port,
    }


def _is_open(scope: Scope, prefixes: tuple[str, ...]) -> bool:
    return bool(prefixes) and str(scope.get("path", "")).startswith(prefixes)


class ConfigError(Exception):
    """The configuration cannot be served (e.g. a public address without an API key)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Runtime:
    config: Config
    clock: Callable[[], int] = time.time_ns
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    pillars: Sequence[Builder] = PILLARS
    # The periodic-task runner (tests pass one with their own clock and sleep).
    tasks: TaskRunner | None = None
    # Page the engine's code out after start-up and when idle (memory.py): ``serve`` only;
    # in-process servers (tests) share the library with their test process.
    page_out: bool = False

    def __post_init__(self) -> None:
        self.core: Core | None = None
        self.built: list[Pillar] = []
        self._started: list[Pillar] = []
        self._grpc: grpc.aio.Server | None = None
        self._closed = False
        self._lock: DataDirLock | None = None
        self.upkeep = memory.IdleUpkeep(self.config.idle_page_out_after)

    @property
    def ready(self) -> bool:
        return self.core is not None and self.core.ready

    @property
    def addresses(self) -> dict[str, str]:
        return self.core.addresses if self.core is not None else {}

    def pillar(self, name: str) -> Pillar:
        return next(p for p in self.built if p.name == name)

    def check(self) -> None:
        cfg = self.config
        if any(not k.strip() for k in cfg.api_keys):
            raise ConfigError("an API key must not be empty or whitespace")
        # Authentication is on only with a usable key; the bind rule depends on that.
        if not is_loopback(cfg.host) and not Authenticator(cfg.api_keys).enabled:
            raise ConfigError(
                f"refusing to listen on {cfg.host} without an API key:"
                " set --api-key or VIGIL_API_KEY (or bind 127.0.0.1)"
            )

    async def start(self) -> dict[str, str]:
        self.check()
        cfg = self.config
        # Before anything opens: one server per data directory, and the ports free
        # (preflight.py words both errors for the person who started vigil).
        self._lock = lock_data_dir(cfg.data_dir)
        try:
            check_ports(cfg.host, _port_flags(cfg), udp=frozenset({"--xray-port"}))
        except BaseException:
            self._lock.release()
            raise
        if cfg.self_metrics:
            log_buffer()  # vigil's log lines from the first one on (see vigil.selfwatch)
        # 1. core
        core = self.core = await open_core(
            cfg, self.clock, self.metrics, self.tasks or TaskRunner(self.metrics)
        )
        # 2-3. pillars, built then started in order
        self.built = [build(core) for build in self.pillars]
        for pillar in self.built:
            self._started.append(pillar)
            await pillar.start()
        # 4. the main port and the gRPC port
        aws = AwsDispatcher(
            [s for p in self.built for s in p.aws_services],
            core.auth,
            cfg.aws_credentials,
            metrics=core.metrics,
        )
        open_paths = tuple(prefix for p in self.built for prefix in p.open_paths)
        routes = [r for p in self.built for r in p.routes]
        api_paths = [getattr(r, "path", "") for r in routes]
        pages = web_pages.routes(aws.root, api_paths)
        main_app = build_app(
            [*routes, *pages, *aws.routes()],
            core.auth,
            core.is_ready,
            core.metrics,
            exempt=lambda scope: (
                aws.is_aws(scope) or web_pages.is_page(scope) or _is_open(scope, open_paths)
            ),
        )
        # GET /metrics from a browser is the metrics explorer; scrapers get the exposition.
        main_app = web_pages.with_metrics_page(main_app, web_pages.page_endpoint(api_paths))
        core.addresses["http"] = await core.listeners.open("http", main_app, cfg.host, cfg.port)
        self._grpc, grpc_port = await start_grpc_server(
            [h for p in self.built for h in p.grpc_handlers],
            cfg.host,
            cfg.otlp_grpc_port,
            cfg.max_body_bytes,
        )
        core.addresses["otlp-grpc"] = f"{cfg.host}:{grpc_port}"
        # 5. periodic tasks (the pillars', and giving freed heap back to the system)
        for pillar in self.built:
            for task in pillar.tasks:
                core.tasks.add(task)
        page_out = self.page_out and cfg.idle_page_out_after > 0
        release = _release_memory(core.store, self.upkeep, time.monotonic, page_out)
        core.tasks.add(Task("release-memory", release, TRIM_INTERVAL, first_delay=TRIM_INTERVAL))
        await core.tasks.start()
        # 6. ready
        core.ready = True
        return self.addresses

    async def stop(self) -> None:
        core = self.core
        if core is None or self._closed:
            if self._lock is not None:
                self._lock.release()  # a start that failed before the core opened
            return
        self._closed = True
        # 1. not ready
        core.ready = False
        # 2. listeners: stop accepting, let in-flight requests finish
        grpc_stop = self._grpc.stop(grace=10) if self._grpc is not None else None
        await core.listeners.stop()
        if grpc_stop is not None:
            await grpc_stop
        # 3. periodic tasks
        await core.tasks.stop()
        # 4. pillars, in reverse
        for pillar in reversed(self._started):
            await pillar.stop()
        self._started.clear()
        # 5-6. writer drains its queue; state and store close; the data directory is free
        try:
            await core.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def listening_line(self) -> str:
        order = ("http", "otlp-http", "otlp-grpc", "xray")
        names = sorted(self.addresses, key=lambda n: order.index(n) if n in order else len(order))
        return "vigil listening " + " ".join(f"{n}={self.addresses[n]}" for n in names)


async def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    memory.keep_pandas_out()  # before the first Arrow conversion (memory.py)
    runtime = Runtime(config, page_out=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except BaseException:
        await runtime.stop()
        raise
    print(runtime.listening_line(), flush=True)
    # The engine's start-up code pages are not needed again (memory.py). Here, not in
    # Runtime.start: in-process servers (tests) share the library and keep using it.
    if runtime.core is not None:
        runtime.upkeep.paged_out(runtime.core.store.activity())
    await asyncio.to_thread(memory.page_out_library, ENGINE_LIBRARY)
    await stop.wait()
    log.info("shutting down")
    await runtime.stop()
    return 0
