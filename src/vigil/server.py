"""The wiring: builds every part, starts them in order, stops them in reverse.

Start order                               Stop order (reverse, each waits for the last)
 1. store: open ClickHouse, migrate        1. not ready: /healthz answers 503
 2. state: open SQLite/PostgreSQL          2. listeners stop accepting; in-flight requests
 3. writer: replay the write-ahead log,       finish (their batches are still committed);
    then its appender and flusher threads     the X-Ray daemon hands over what it received
 4. ingest pipeline, handlers, apps        3. background tasks (retention) are cancelled
 5. listeners: HTTP, OTLP/HTTP, gRPC,      4. writer logs and inserts what is queued,
    X-Ray daemon (UDP + TCP)                  then ends
 6. background tasks (retention)           5. state and store are closed
 7. ready: /healthz answers 200, the
    "vigil listening …" line is printed
``Runtime`` is also what tests embed: ``await Runtime(config).start()`` … ``await stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import grpc
import pyarrow as pa
import uvicorn
from sqlalchemy import Engine
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from vigil.api.app import build_app, otlp_routes
from vigil.api.auth import Authenticator
from vigil.api.aws.cloudwatch import CloudWatchService
from vigil.api.aws.dispatch import AwsDispatcher
from vigil.api.aws.interface import AwsService
from vigil.api.aws.logs import LogsService
from vigil.api.aws.sns import SnsService
from vigil.api.aws.xray import DaemonSamplingService, XRayService
from vigil.api.logs_v1 import LogsApi
from vigil.api.notify_v1 import NotifyApi, is_open_path
from vigil.api.v1 import ReadApi
from vigil.api.v1_traces import TracesApi
from vigil.config import Config
from vigil.ingest.logmetrics import MetricFilterProcessor, emf_metrics
from vigil.ingest.otlp.grpc_handler import OtlpGrpcService, start_grpc_server
from vigil.ingest.otlp.http_handler import OtlpHttpHandler
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.xray import ServiceNames
from vigil.ingest.xray_daemon import XRayDaemon, bind_pair
from vigil.notify.channels.email import SmtpSettings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.query.insights.runner import QueryRegistry
from vigil.query.servicegraph import ServiceGraphKeeper
from vigil.rules.scheduled_queries import ScheduledQueries
from vigil.state.cloudwatch_resources import CloudWatchResources
from vigil.state.db import open_state
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.state.metrictags import TagStore
from vigil.state.sampling import SamplingRules
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import (
    apply_table_ttls,
    drop_expired_partitions,
    enforce_log_retention,
    expire_metric_rollups,
)
from vigil.store.wal import WriteAheadLog
from vigil.store.writer import WalWriter
from vigil.telemetry import SelfMetrics

log = logging.getLogger("vigil")


class ConfigError(Exception):
    """The configuration cannot be served (e.g. a public address without an API key)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runtime."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@dataclass(slots=True)
class _HttpListener:
    name: str
    server: _Server
    task: asyncio.Task[None]
    address: str


@dataclass
class Runtime:
    config: Config
    clock: Callable[[], int] = time.time_ns
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    extra_routes: list[BaseRoute] = field(default_factory=list)
    # Extra AWS services (tests); the built-in ones come from ``aws_services``.
    extra_aws_services: list[AwsService] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ready = False
        self.addresses: dict[str, str] = {}
        self.store: ClickHouseStore | None = None
        self.state: Engine | None = None
        self.writer: WalWriter | None = None
        # Alarms, metric streams, dashboards and insight rules register here (for tags).
        self.cloudwatch_resources = CloudWatchResources()
        self.pipeline: IngestPipeline | None = None
        self.registry: LogGroupRegistry | None = None
        self.logs: LogsService | None = None
        self.queries: QueryRegistry | None = None
        self.scheduled: ScheduledQueries | None = None
        self.sampling: SamplingRules | None = None
        self.xray: XRayService | None = None
        self._xray_daemon: XRayDaemon | None = None
        self.notify: NotifyParts | None = None
        self._http: list[_HttpListener] = []
        self._grpc: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def check(self) -> None:
        cfg = self.config
        if not is_loopback(cfg.host) and not cfg.api_keys:
            raise ConfigError(
                f"refusing to listen on {cfg.host} without an API key:"
                " set --api-key or VIGIL_API_KEY (or bind 127.0.0.1)"
            )

    async def start(self) -> dict[str, str]:
        self.check()
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        # 1-2. store and state (blocking: chDB start-up and migrations run in a thread)
        self.store = await asyncio.to_thread(
            ClickHouseStore,
            cfg.store_url,
            read_threads=cfg.read_threads,
            query_timeout=cfg.query_timeout,
        )
        store = self.store
        await asyncio.to_thread(lambda: migrate(store, before_replay=True))
        # pyarrow imports pandas on its first conversion from Python objects (1-3 s on a busy
        # machine): pay it here rather than in the first request.
        await asyncio.to_thread(pa.array, [0.0])
        self.state = await asyncio.to_thread(open_state, cfg.state_url)
        self.registry = LogGroupRegistry(self.state)
        # 3. writer
        wal = WriteAheadLog(cfg.data_dir / "wal", fsync=cfg.wal_fsync)
        self.writer = WalWriter(
            self.store,
            wal,
            self.metrics,
            commit_interval=cfg.commit_interval_ms / 1000,
            flush_interval=cfg.flush_interval_ms / 1000,
            flush_rows=cfg.flush_rows,
            max_queue_rows=cfg.max_queue_rows,
            max_queue_bytes=cfg.max_queue_mb << 20,
        )
        await asyncio.to_thread(self.writer.replay)
        # Table rebuilds (migrations marked after_replay), then the TTLs, which a rebuilt
        # table does not carry over.
        await asyncio.to_thread(migrate, self.store)
        await asyncio.to_thread(
            apply_table_ttls, self.store, cfg.metric_retention, cfg.trace_retention_days
        )
        self.writer.start()
        self.store.before_read = self.writer.barrier
        # 4. pipeline, handlers, apps
        self.pipeline = IngestPipeline(self.writer, self.registry, self.store, self.clock())
        auth = Authenticator(cfg.api_keys)
        otlp_http = OtlpHttpHandler(
            self.pipeline, self.metrics, max_body_bytes=cfg.max_body_bytes, clock=self.clock
        )
        read_api = ReadApi(
            self.store,
            self.registry,
            self.metrics,
            clock=self.clock,
            metric_retention=cfg.metric_retention,
            metric_search_limit=cfg.metric_search_limit,
        )
        self.sampling = SamplingRules(self.state, clock=self.clock)
        names = ServiceNames()
        graph = ServiceGraphKeeper(self.store)
        self.xray = XRayService(
            self.pipeline,
            self.store,
            self.sampling,
            self.metrics,
            names,
            clock=self.clock,
            graph=graph,
        )
        traces_api = TracesApi(self.store, self.metrics, clock=self.clock, graph=graph)
        logs_api = await self._logs_pillar()
        self.notify = await asyncio.to_thread(self._notify_parts)
        aws = AwsDispatcher(
            [*self.aws_services(), *self.extra_aws_services], auth, cfg.aws_credentials
        )
        ready = lambda: self.ready  # noqa: E731 - read at request time
        main_app = build_app(
            [
                *otlp_routes(otlp_http),
                *traces_api.routes(),
                *read_api.routes(),
                *logs_api.routes(),
                *NotifyApi(self.notify).routes(),
                *self.extra_routes,
                *aws.routes(),
            ],
            auth,
            ready,
            self.metrics,
            exempt=lambda scope: aws.is_aws(scope) or is_open_path(scope),
        )
        otlp_app = build_app(otlp_routes(otlp_http), auth, ready)
        # 5. listeners
        await self._listen_http("http", main_app, cfg.host, cfg.port)
        await self._listen_http("otlp-http", otlp_app, cfg.host, cfg.otlp_http_port)
        grpc_service = OtlpGrpcService(self.pipeline, auth, self.metrics, clock=self.clock)
        self._grpc, grpc_port = await start_grpc_server(
            grpc_service, cfg.host, cfg.otlp_grpc_port, cfg.max_body_bytes
        )
        self.addresses["otlp-grpc"] = f"{cfg.host}:{grpc_port}"
        if cfg.xray_port is not None:
            await self._start_xray_daemon(names, ready)
        # 6. background tasks
        if cfg.public_url is None:
            self.notify.set_public_url(f"http://{self.addresses['http']}")
        self._tasks.append(asyncio.create_task(self._notify_loop(), name="notify"))
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._tasks.append(asyncio.create_task(graph.loop(), name="service-graph"))
        assert self.scheduled is not None
        self._tasks.append(
            asyncio.create_task(
                self.scheduled.loop(cfg.scheduled_query_interval), name="scheduled-queries"
            )
        )
        # 7. ready
        self.ready = True
        return self.addresses

    def aws_services(self) -> list[AwsService]:
        """The AWS APIs served on the main port (each pillar adds its service here)."""
        assert self.pipeline is not None
        assert self.store is not None
        assert self.state is not None
        cloudwatch = CloudWatchService(
            self.pipeline,
            self.store,
            TagStore(self.state, self.cloudwatch_resources),
            self.config.metric_retention,
            self.metrics,
            clock=self.clock,
            search_limit=self.config.metric_search_limit,
        )
        assert self.xray is not None
        services: list[AwsService] = [cloudwatch, self.xray]
        if self.logs is not None:
            services.append(self.logs)
        if self.notify is not None:
            services.append(SnsService(self.notify.topics))
        return services

    def _notify_parts(self) -> NotifyParts:
        """SNS topics, the notification pipeline, incidents (blocking: reads state)."""
        assert self.state is not None
        cfg = self.config
        if cfg.smtp_url:
            SmtpSettings.from_url(cfg.smtp_url, cfg.smtp_from)  # a bad URL fails the start
        settings = NotifySettings(
            public_url=cfg.public_url or f"http://{cfg.host}:{cfg.port}",
            smtp_url=cfg.smtp_url,
            smtp_from=cfg.smtp_from,
            pagerduty_events_url=cfg.pagerduty_events_url,
            slack_api_url=cfg.slack_api_url,
            pagerduty_webhook_secret=cfg.pagerduty_webhook_secret,
            tick_interval=cfg.notify_interval,
        )
        return NotifyParts(self.state, settings, clock=lambda: self.clock() / 1e9)

    async def _notify_loop(self) -> None:
        assert self.notify is not None
        await self.notify.run(self.config.notify_interval)

    async def _logs_pillar(self) -> LogsApi:
        """CloudWatch Logs: metric filters and EMF at ingest, Insights, scheduled queries."""
        assert self.store is not None
        assert self.state is not None
        assert self.registry is not None
        assert self.pipeline is not None
        assert self.writer is not None
        catalog = LogsCatalog(self.state)
        filters = MetricFilterProcessor()
        filters.load(await asyncio.to_thread(catalog.metric_filters))
        self.pipeline.log_processors.extend([filters, emf_metrics])
        self.queries = QueryRegistry(
            self.store,
            clock=lambda: self.clock() / 1e9,
            timeout=self.config.insights_timeout,
        )
        self.scheduled = ScheduledQueries(
            self.store,
            catalog,
            self.registry,
            self.writer,
            self.clock,
            timeout=self.config.insights_timeout,
        )
        self.logs = LogsService(
            self.store,
            catalog,
            self.registry,
            self.pipeline,
            self.queries,
            filters,
            self.scheduled,
            clock=self.clock,
        )
        return LogsApi(self.store, self.registry, self.queries, self.scheduled, clock=self.clock)

    async def _start_xray_daemon(self, names: ServiceNames, ready: Callable[[], bool]) -> None:
        """UDP segments and, on the same port number over TCP, the SDKs' sampling calls."""
        assert self.pipeline is not None
        assert self.xray is not None
        cfg = self.config
        assert cfg.xray_port is not None
        udp, tcp = bind_pair(cfg.host, cfg.xray_port)
        self._xray_daemon = XRayDaemon(self.pipeline, self.metrics, names, clock=self.clock)
        await self._xray_daemon.start(udp)
        # SDKs cannot authenticate to a daemon: the TCP side serves only the sampling calls.
        sampling = AwsDispatcher([DaemonSamplingService(self.xray)], Authenticator([]), {})
        app = build_app(sampling.routes(), Authenticator([]), ready)
        await self._listen_http("xray", app, cfg.host, cfg.xray_port, sock=tcp)

    async def _listen_http(
        self, name: str, app: ASGIApp, host: str, port: int, sock: socket.socket | None = None
    ) -> None:
        sock = sock or _bind(host, port)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            loop="none",
            timeout_graceful_shutdown=30,
            server_header=False,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-{name}")
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"{name} listener on {host}:{port} did not start")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        address = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        self.addresses[name] = address
        self._http.append(_HttpListener(name, server, task, address))

    def _retention_pass(self) -> None:
        assert self.store is not None
        assert self.registry is not None
        now = self.clock()
        cfg = self.config
        enforce_log_retention(self.store, self.registry, cfg.log_retention_days, now)
        # Day-partitioned metric tables only: standard-resolution raw rows and the 1-minute
        # rollup live as long as one-minute data; the weekly and monthly partitions of the
        # coarser rollups expire by TTL.
        minute_days = -(-cfg.metric_retention.minute // 86400)
        expire_metric_rollups(self.store, cfg.metric_retention, now)
        drop_expired_partitions(
            self.store,
            {
                "metrics": minute_days,
                "metric_rollup_1m": minute_days,
                "spans": cfg.trace_retention_days,
                "trace_summary": cfg.trace_retention_days,
                "xray_in_progress": cfg.trace_retention_days,
                "service_graph": cfg.trace_retention_days,
            },
            now,
        )

    async def _retention_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._retention_pass)
                self.metrics.retention_deleted.inc()
            except Exception:
                log.exception("log retention pass failed")
            await asyncio.sleep(self.config.retention_interval)

    async def stop(self) -> None:
        # 1. not ready
        self.ready = False
        # 2. listeners: stop accepting, let in-flight requests finish
        for listener in self._http:
            listener.server.should_exit = True
        grpc_stop = self._grpc.stop(grace=10) if self._grpc is not None else None
        for listener in self._http:
            with contextlib.suppress(Exception):
                await listener.task
        if grpc_stop is not None:
            await grpc_stop
        if self._xray_daemon is not None:
            await self._xray_daemon.stop()
        # 3. background tasks
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.queries is not None:
            await self.queries.close()
        # 4. writer drains its queue
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        # 5. state and store
        if self.state is not None:
            self.state.dispose()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    def listening_line(self) -> str:
        return "vigil listening " + " ".join(f"{k}={v}" for k, v in self.addresses.items())


async def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    runtime = Runtime(config)
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
    await stop.wait()
    log.info("shutting down")
    await runtime.stop()
    return 0
