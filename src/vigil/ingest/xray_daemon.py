"""The built-in X-Ray daemon: UDP segment datagrams and, on TCP, the sampling calls.

UDP (what ``aws_xray_sdk`` and every X-Ray SDK emit): each datagram is the header line
``{"format": "json", "version": 1}``, a newline, and one segment or subsegment document.
A thread reads the socket in batches and hands documents to the event loop, which decodes
them (natively, on a worker thread) and commits them in batches (up to ``batch_docs``
documents or ``flush_interval`` seconds). UDP has no answer and no back-pressure, so what
cannot be taken is dropped: by the kernel when the socket's receive buffer is full
(``vigil_xray_kernel_dropped_datagrams_total``), else counted in
``vigil_xray_datagrams_total{outcome}``: ``malformed``
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
import threading
import time
from collections.abc import Callable, Iterator

import orjson
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from vigil.ingest.overload import submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.xray import ServiceNames
from vigil.ingest.xray_native import NativeReceiver, decode_documents
from vigil.model.common import DEFAULT_TENANT
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
# What the socket may hold while the process is busy: ~1 s of 100k spans/s of typical
# datagrams (the kernel counts ~2x the payload). Linux caps SO_RCVBUF at net.core.rmem_max
# (often 208 KiB: a few milliseconds); SO_RCVBUFFORCE passes the cap with CAP_NET_ADMIN.
RECEIVE_BUFFER = 16 * 1024 * 1024
DROP_CHECK_INTERVAL = 5.0  # seconds between reads of the kernel's drop count while busy


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
        # Not a warning at every start: a host that sends few segments never fills even a
        # small buffer. KernelDrops.check warns, once, when the kernel does drop datagrams.
        log.info(
            "X-Ray daemon: UDP receive buffer %d KiB (asked %d KiB; capped by"
            " net.core.rmem_max); bursts beyond it are dropped by the kernel",
            given // 1024,
            wanted // 1024,
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
        self.warned = False

    def check(self) -> None:
        """Warn, once per process and with the fix, when the kernel has dropped datagrams."""
        if self.warned:
            return
        dropped = self.drops()
        if not dropped:
            return
        self.warned = True
        log.warning(
            "X-Ray daemon: the kernel dropped %d datagrams because the UDP receive buffer"
            " (%d KiB) was full. Fix: sysctl -w net.core.rmem_max=%d (and the same line in"
            " /etc/sysctl.d/), or run vigil with CAP_NET_ADMIN; then restart vigil."
            " vigil_xray_kernel_dropped_datagrams_total on /metrics counts them.",
            dropped,
            self._buffer // 1024,
            RECEIVE_BUFFER,
        )

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


class XRayDaemon:
    """Receives on a thread of its own: it waits for datagrams and reads them in batches
    (``recvmmsg``) without holding the GIL, splits off the header lines, and hands batches of
    documents to the event loop, which decodes them on a worker thread and commits them.
    Per-datagram work on the event loop (a callback, a system call and a header parse each)
    was what bounded small datagrams; the thread also keeps draining the socket while the
    loop is busy."""

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
        self._inflight: set[asyncio.Task[None]] = set()
        # Batches handed to the loop and not yet committed: bounded, so that a stalled
        # loop costs dropped (counted) datagrams, not memory.
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._drops: KernelDrops | None = None
        self.datagrams = Counter(
            "vigil_xray_datagrams",
            "X-Ray daemon datagrams, by outcome (accepted, malformed, rejected, overloaded,"
            " failed).",
            ["outcome"],
            registry=metrics.registry,
        )

    async def start(self, sock: socket.socket) -> None:
        self._drops = KernelDrops(sock)
        self._metrics.registry.register(self._drops)
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._thread = threading.Thread(
            target=self._receive, args=(_receiver(sock),), name="vigil-xray-daemon", daemon=True
        )
        self._thread.start()

    def _receive(self, receive: Callable[[int], tuple[list[bytes], list[bytes]]]) -> None:
        """The receiver thread: batches of documents to the loop, by count or age."""
        batch: list[bytes] = []
        due = 0.0
        next_drop_check = 0.0
        while not self._stopping.is_set():
            wait = 0.1 if not batch else max(0.0, due - time.monotonic())
            try:
                bodies, others = receive(int(wait * 1000))
            except OSError as exc:
                log.warning("X-Ray daemon socket error: %s", exc)
                time.sleep(0.1)
                continue
            except Exception:  # pragma: no cover - a bug must not stop the listener
                log.exception("X-Ray daemon: receiving failed")
                time.sleep(0.1)
                continue
            if others:
                bodies.extend(self._check_headers(others))
            if bodies:
                if not batch:
                    due = time.monotonic() + self.flush_interval
                batch.extend(bodies)
                # Only while datagrams arrive: drops happen in bursts, and idle is free.
                now = time.monotonic()
                if now >= next_drop_check and self._drops is not None:
                    next_drop_check = now + DROP_CHECK_INTERVAL
                    self._drops.check()
            if batch and (len(batch) >= self.batch_docs or time.monotonic() >= due):
                self._hand_over(batch)
                batch = []
        if batch:
            self._hand_over(batch)

    def _check_headers(self, datagrams: list[bytes]) -> list[bytes]:
        """Documents of datagrams whose header is valid but written another way."""
        bodies = []
        for data in datagrams:
            header, sep, body = data.partition(b"\n")
            if sep and _valid_header(header):
                bodies.append(body)
            else:
                self.datagrams.labels("malformed").inc()
        return bodies

    def _hand_over(self, docs: list[bytes]) -> None:
        """From the receiver thread: the batch goes to the loop, or is counted overloaded."""
        assert self._loop is not None
        if not self._slots.acquire(blocking=False):
            self.datagrams.labels("overloaded").inc(len(docs))
            return
        try:
            self._loop.call_soon_threadsafe(self._flush, docs)
        except RuntimeError:  # the loop is closed
            self._slots.release()

    def _flush(self, docs: list[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(self._commit(docs))
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _commit(self, docs: list[bytes]) -> None:
        # Decoding on a worker thread keeps the event loop, which also serves the HTTP
        # APIs, free meanwhile.
        result = await asyncio.to_thread(
            decode_documents, docs, DEFAULT_TENANT, self._clock(), self._names
        )
        decoded = result.decoded
        rejected = len(result.failures)
        refused = await submit(self._pipeline.accept, decoded, self._metrics, "xray_udp", "traces")
        if refused is not None:
            # UDP has no answer: the refusal is a datagram outcome.
            if not refused.overloaded:
                log.error("X-Ray daemon: %d documents: %s", len(docs), refused.message)
            outcome = "overloaded" if refused.overloaded else "failed"
            self.datagrams.labels(outcome).inc(len(docs) - rejected)
        else:
            self.datagrams.labels("accepted").inc(len(docs) - rejected)
            count = decoded.rejected.count
            self._metrics.count_items("xray_udp", "traces", decoded.accepted, count)
        if rejected:
            self.datagrams.labels("rejected").inc(rejected)
            log.debug("X-Ray daemon refused documents: %s", decoded.rejected.text())

    async def stop(self) -> None:
        """Commit what was received, then close the socket."""
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        # The receiver's last batch was handed over with call_soon_threadsafe: let it run.
        await asyncio.sleep(0)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()


def _receiver(sock: socket.socket) -> Callable[[int], tuple[list[bytes], list[bytes]]]:
    """``receive(timeout_ms) -> (documents, other datagrams)``: native batched reads, or one
    ``recv`` at a time without the extension."""
    if NativeReceiver is not None:
        return NativeReceiver(sock.fileno()).receive
    sock.setblocking(True)

    def receive(timeout_ms: int) -> tuple[list[bytes], list[bytes]]:
        sock.settimeout(timeout_ms / 1000)
        try:
            return [], [sock.recv(MAX_DATAGRAM)]
        except TimeoutError:
            return [], []

    return receive


def _valid_header(line: bytes) -> bool:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(header, dict) and header.get("format") == "json"
