"""The built-in X-Ray daemon: UDP segment datagrams and, on TCP, the sampling calls.

UDP (what ``aws_xray_sdk`` and every X-Ray SDK emit): each datagram is the header line
``{"format": "json", "version": 1}``, a newline, and one segment or subsegment document.
Datagrams are decoded and committed in batches (up to ``batch_docs`` documents or
``flush_interval`` seconds). UDP has no answer and no back-pressure, so what cannot be
taken is dropped and counted in ``vigil_xray_datagrams_total{outcome}``: ``malformed``
(no or bad header), ``rejected`` (the document was refused, see ingest/xray), ``overloaded``
(too many batches waiting for the writer, or the writer's queue is full), ``failed`` (the
store failed). A bad datagram never stops the listener.

TCP, same port number: ``POST /GetSamplingRules`` and ``POST /SamplingTargets``, the calls
the SDKs make to the daemon (which X-Ray's daemon would forward to the service), answered
by vigil's sampling rules. Like X-Ray's daemon, neither side authenticates: the data goes
to the ``default`` tenant, and the port binds where ``--host`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import cast

import orjson
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.xray import ServiceNames
from vigil.ingest.xray_native import decode_documents
from vigil.model.common import DEFAULT_TENANT
from vigil.store.interface import Overloaded, StoreUnavailable
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
# What the socket may hold while the process is busy: ~1 s of 100k spans/s of typical
# datagrams (the kernel counts ~2x the payload). Linux caps SO_RCVBUF at net.core.rmem_max
# (often 208 KiB: a few milliseconds); SO_RCVBUFFORCE passes the cap with CAP_NET_ADMIN.
RECEIVE_BUFFER = 16 * 1024 * 1024


def bind_pair(host: str, port: int, attempts: int = 50) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port (port 0: a free number both can take)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last: OSError | None = None
    for _ in range(attempts if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.bind((host, port))
            chosen = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, chosen))
            except OSError as exc:
                tcp.close()
                raise exc
        except OSError as exc:
            udp.close()
            last = exc
            continue
        size_receive_buffer(udp, RECEIVE_BUFFER)
        udp.setblocking(False)
        tcp.set_inheritable(True)
        return udp, tcp
    raise OSError(f"cannot bind the X-Ray daemon port {host}:{port}: {last}")


def size_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Asks for a receive buffer of ``wanted`` bytes; returns what the kernel gave (Linux
    reports double the size asked, its bookkeeping share) and warns when it is less."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in (force, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, wanted)
        except OSError:
            continue
        break
    given = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if given < wanted:
        log.warning(
            "X-Ray daemon: the UDP receive buffer is %d KiB, not the %d KiB asked for; bursts"
            " beyond it are dropped by the kernel. Raise the limit (Linux: sysctl -w"
            " net.core.rmem_max=%d) or run vigil with CAP_NET_ADMIN.",
            given // 1024,
            wanted // 1024,
            wanted,
        )
    return given


class KernelDrops:
    """``/metrics`` collector: datagrams the kernel dropped on the daemon's socket because
    its receive buffer was full (Linux ``/proc/net/udp*`` ``drops``), and that buffer's size.
    UDP has no back-pressure: these are the losses the daemon's own counters cannot see."""

    def __init__(self, sock: socket.socket) -> None:
        self._inode = os.fstat(sock.fileno()).st_ino
        self._buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._tables = ("/proc/net/udp6",) if sock.family == socket.AF_INET6 else ("/proc/net/udp",)

    def drops(self) -> int | None:
        for table in self._tables:
            with contextlib.suppress(OSError), open(table) as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == str(self._inode):
                        return int(fields[12])
        return None

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "vigil_xray_receive_buffer_bytes",
            "Size of the X-Ray daemon's UDP receive buffer (as the kernel reports it).",
            value=self._buffer,
        )
        dropped = self.drops()
        if dropped is not None:
            yield CounterMetricFamily(
                "vigil_xray_kernel_dropped_datagrams",
                "Datagrams the kernel dropped because the X-Ray daemon's receive buffer was full.",
                value=dropped,
            )


class XRayDaemon(asyncio.DatagramProtocol):
    def __init__(
        self,
        pipeline: IngestPipeline,
        metrics: SelfMetrics,
        names: ServiceNames,
        clock: Callable[[], int] = time.time_ns,
        *,
        batch_docs: int = 2000,
        flush_interval: float = 0.05,
        max_inflight: int = 8,
    ) -> None:
        self._pipeline = pipeline
        self._metrics = metrics
        self._names = names
        self._clock = clock
        self.batch_docs = batch_docs
        self.flush_interval = flush_interval
        self.max_inflight = max_inflight
        self._buffer: list[bytes] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self.datagrams = Counter(
            "vigil_xray_datagrams",
            "X-Ray daemon datagrams, by outcome (accepted, malformed, rejected, overloaded,"
            " failed).",
            ["outcome"],
            registry=metrics.registry,
        )

    async def start(self, sock: socket.socket) -> None:
        self._metrics.registry.register(KernelDrops(sock))
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...] | object) -> None:
        header, sep, body = data.partition(b"\n")
        if not sep or not _valid_header(header):
            self.datagrams.labels("malformed").inc()
            return
        self._buffer.append(body)
        if len(self._buffer) >= self.batch_docs:
            self._flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_interval, self._flush)

    def error_received(self, exc: Exception) -> None:
        log.warning("X-Ray daemon socket error: %s", exc)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        docs, self._buffer = self._buffer, []
        if len(self._inflight) >= self.max_inflight:
            self.datagrams.labels("overloaded").inc(len(docs))
            return
        task = asyncio.get_running_loop().create_task(self._commit(docs))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _commit(self, docs: list[bytes]) -> None:
        # Decoding a full batch takes ~0.5 s (~25 us a span, in Python): on a worker thread
        # it no longer stalls the event loop, which also serves the HTTP APIs and drains
        # the socket. (It does not raise the daemon's throughput: the GIL is shared.)
        result = await asyncio.to_thread(
            decode_documents, docs, DEFAULT_TENANT, self._clock(), self._names
        )
        decoded = result.decoded
        rejected = len(result.failures)
        try:
            await self._pipeline.accept(decoded)
        except Overloaded:
            self.datagrams.labels("overloaded").inc(len(docs) - rejected)
            self._metrics.count_items("xray_udp", "traces", 0, decoded.accepted)
        except StoreUnavailable as exc:
            log.error("X-Ray daemon: could not store %d documents: %s", len(docs), exc)
            self.datagrams.labels("failed").inc(len(docs) - rejected)
        else:
            self.datagrams.labels("accepted").inc(len(docs) - rejected)
            self._metrics.count_items("xray_udp", "traces", decoded.accepted, 0)
        if rejected:
            self.datagrams.labels("rejected").inc(rejected)
            self._metrics.count_items("xray_udp", "traces", 0, decoded.rejected.count)
            log.debug("X-Ray daemon refused documents: %s", decoded.rejected.text())

    async def stop(self) -> None:
        """Commit what was received, then close the socket."""
        if self._transport is not None:
            self._transport.close()
        self._flush()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)


def _valid_header(line: bytes) -> bool:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(header, dict) and header.get("format") == "json"
