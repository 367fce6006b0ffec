"""vigil watches itself: its own counters (what ``/metrics`` shows) as metrics in
namespace ``vigil``, and a built-in ``vigil`` dashboard over them.

This is vigil's only self-monitoring path: the same data serves the CloudWatch reader
(the dashboard, GetMetricData, alarms) and the Prometheus one (PromQL, Grafana's
Prometheus data source: ``rate(IngestItems{cloudwatch_namespace="vigil"}[5m])``), so it
is stored once (issues 13 and 15; there is no separate self-scrape into ``prometheus``).

Each pass (``SelfWatch.pass_once``, every ``interval`` seconds) reads the ``SelfMetrics``
registry and writes one point per series through the ingest pipeline: a counter as its
increase since the last pass (so ``Sum`` over a period is the count in it) stored as a
converted cumulative sum — it keeps the counter's own value beside the increase, which is
what PromQL reads, so ``rate()`` and ``increase()`` work and see a restart as a counter
reset —, a gauge as its value, a histogram as the mean of its observations since the last
pass (``Seconds``). Labels become dimensions (``protocol`` → ``Protocol``). The first
pass (at start-up) writes nothing: it only remembers where the counters stand (log lines
wait for the second). Names: ``vigil_ingest_items`` → ``IngestItems``,
``vigil_writer_commit_seconds`` → ``WriterCommitSeconds``. Off with ``--no-self-metrics``.
``pass_once`` takes the time; the loop owns the sleeping.

Idle: a pass that finds the store untouched since its own last write (``activity``, the
store's count of calls) and no log line to write keeps its points in memory instead of
writing them, up to ``IDLE_FLUSH_NS`` (then they are written, and the store is quiet
again); the first pass after anything else touched the store writes what was kept. So an
idle server's engine is not woken every minute to store zeros (vigil.memory: its code pages
stay out), while no point is lost and each keeps its own time.

vigil's own log lines (the ``vigil`` loggers, INFO and above) go the same way into log
group ``/vigil/server`` as JSON (``level``, ``logger``, ``message``, ``exception``): a
handler keeps at most ``MAX_LOG_LINES`` between two passes (it counts what it drops and
says so in the next pass) and never blocks the code that logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.ingest.interface import Decoded
from vigil.ingest.pipeline import IngestPipeline
from vigil.model.common import DEFAULT_TENANT
from vigil.model.metrics import MetricColumns, PointKind
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

NAMESPACE = "vigil"
DASHBOARD = "vigil"
LOG_GROUP = "/vigil/server"
MAX_LOG_LINES = 10_000
_MAX_EVENTS = 10_000  # PutLogEvents' limit per batch


_BUFFER: LogBuffer | None = None


def log_buffer() -> LogBuffer:
    """The process's buffer of vigil's log lines, on the ``vigil`` logger from the first
    call (the server calls it before opening the store, so start-up lines are kept)."""
    global _BUFFER
    if _BUFFER is None:
        _BUFFER = LogBuffer()
        logging.getLogger("vigil").addHandler(_BUFFER)
    return _BUFFER


def drop_log_buffer() -> None:
    global _BUFFER
    if _BUFFER is not None:
        logging.getLogger("vigil").removeHandler(_BUFFER)
        _BUFFER = None


class LogBuffer(logging.Handler):
    """Keeps vigil's log records for the next pass (thread-safe, bounded, never blocks)."""

    def __init__(self, capacity: int = MAX_LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self._lines: deque[tuple[int, str]] = deque()
        self._capacity = capacity
        self._dropped = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = logging.Formatter().formatException(record.exc_info)
        with self._guard:
            if len(self._lines) >= self._capacity:
                self._dropped += 1
                return
            self._lines.append((int(record.created * 1000), json.dumps(line)))

    def drain(self) -> list[dict[str, Any]]:
        """The kept lines as PutLogEvents events (in time order), and the drop notice."""
        with self._guard:
            lines, self._lines = list(self._lines), deque()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            notice = {
                "level": "WARNING",
                "logger": __name__,
                "message": f"{dropped} log lines dropped: more than {self._capacity}"
                " between two self-metrics passes",
            }
            lines.append((lines[-1][0] if lines else 0, json.dumps(notice)))
        lines.sort(key=lambda x: x[0])
        return [{"timestamp": ts, "message": text} for ts, text in lines if ts > 0]


# The longest an idle server keeps its own points before writing them anyway.
IDLE_FLUSH_NS = 900 * 10**9


def metric_name(family: str) -> str:
    base = family.removeprefix("vigil_")
    return "".join(part.capitalize() for part in base.split("_"))


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class SelfWatch:
    def __init__(
        self,
        metrics: SelfMetrics,
        pipeline: IngestPipeline,
        clock: Callable[[], int],
        logs: LogBuffer | None = None,
        *,
        activity: Callable[[], int] | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``activity``: the store's count of calls (None: write every pass); ``settle``
        waits until what was written is in the store (the writer's barrier), so that the
        count taken after it includes this pass's own inserts."""
        self._metrics = metrics
        self._pipeline = pipeline
        self._clock = clock
        self._last: dict[SeriesKey, float] | None = None
        self._logs = logs
        self._activity = activity
        self._settle = settle
        self._quiet_at: int | None = None  # activity right after the last write
        self._held = MetricColumns()
        self._held_since = 0
        self.stream = f"{socket.gethostname()}-{os.getpid()}"

    def data(self) -> list[dict[str, Any]]:
        """The data of one pass (and remember the counters for the next)."""
        now: dict[SeriesKey, float] = {}
        out: list[dict[str, Any]] = []
        previous = self._last
        for family in self._metrics.registry.collect():
            name = metric_name(family.name)
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                key = (sample.name, labels)
                now[key] = sample.value
                dims = [{"Name": k.capitalize(), "Value": v} for k, v in labels if v]
                if family.type == "gauge":
                    if previous is not None:
                        out.append(_datum(name, sample.value, "None", dims))
                elif family.type == "counter" and sample.name.endswith("_total"):
                    if previous is not None:
                        delta = sample.value - previous.get(key, 0.0)
                        datum = _datum(name, max(delta, 0.0), "Count", dims)
                        datum["Cumulative"] = sample.value
                        out.append(datum)
                elif family.type == "histogram" and sample.name.endswith("_count"):
                    total_key = (sample.name.removesuffix("_count") + "_sum", labels)
                    total = next(
                        (s.value for s in family.samples if (s.name, labels) == total_key), 0.0
                    )
                    now[total_key] = total
                    if previous is None:
                        continue
                    count = sample.value - previous.get(key, 0.0)
                    if count > 0:
                        mean = (total - previous.get(total_key, 0.0)) / count
                        out.append(_datum(name, mean, "Seconds", dims))
        self._last = now
        return out

    async def pass_once(self) -> int:
        """One pass; returns the points written (0 when they were kept, being idle)."""
        if self._last is None:
            # Start-up: only remember where the counters stand; the lines logged so far
            # wait for the next pass (nothing of vigil's own competes with the first
            # clients for the write queue).
            self.data()
            return 0
        events = self._logs.drain() if self._logs is not None else []
        now = self._clock()
        if not self._held:
            self._held_since = now
        _add_points(self._held, self.data(), now)
        quiet = (
            not events
            and self._activity is not None
            and self._activity() == self._quiet_at
            and now - self._held_since < IDLE_FLUSH_NS
        )
        if quiet:
            return 0
        now_ms = now // 10**6
        for i in range(0, len(events), _MAX_EVENTS):
            put = decode_put_log_events(
                events[i : i + _MAX_EVENTS],
                tenant=DEFAULT_TENANT,
                group=LOG_GROUP,
                stream=self.stream,
                now_ms=now_ms,
                retention_days=None,
            )
            await self._pipeline.accept(put.decoded)
        points = self._held
        if points:
            # Kept until accepted: a refused write (queue full) is retried by the next pass.
            await self._pipeline.accept(Decoded(signal="metrics", metrics=points))
        self._held = MetricColumns()
        if self._activity is not None:
            if self._settle is not None:
                await self._settle()
            self._quiet_at = self._activity()
        return len(points)


def _add_points(out: MetricColumns, data: list[dict[str, Any]], now: int) -> None:
    """The data of one pass as rows of namespace ``vigil`` at ``now``; a counter's row is a
    converted cumulative sum (``metric_type`` sum, a stream id, the counter's value), as
    the OTLP path stores one, so PromQL reads the counter and CloudWatch the increase."""
    for datum in data:
        if not math.isfinite(datum["Value"]):
            continue  # the store refuses non-finite values (rollups are sums)
        dims = sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions", []))
        counter = "Cumulative" in datum
        out.add(
            tenant=DEFAULT_TENANT,
            namespace=NAMESPACE,
            name=datum["MetricName"],
            dimensions=dims,
            unit=datum["Unit"],
            timestamp=now,
            kind=PointKind.SAMPLE,
            value=datum["Value"],
            metric_type="sum" if counter else "gauge",
            stream_id=_stream_id(datum["MetricName"], dims) if counter else 0,
            cumulative=float(datum["Cumulative"]) if counter else 0.0,
        )


def _stream_id(name: str, dims: list[tuple[str, str]]) -> int:
    key = json.dumps([NAMESPACE, name, dims]).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") or 1


def _datum(name: str, value: float, unit: str, dims: list[dict[str, str]]) -> dict[str, Any]:
    datum: dict[str, Any] = {"MetricName": name, "Value": float(value), "Unit": unit}
    if dims:
        datum["Dimensions"] = dims
    return datum


def dashboard_body() -> str:
    """The built-in ``vigil`` dashboard: ingest rates per signal, queue depth, WAL and
    store latency, rejected items, query latency."""

    def metric(title: str, x: int, y: int, metrics: list[Any], **props: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {"title": title, "view": "timeSeries", "metrics": metrics, **props},
        }

    accepted = [
        [
            {
                "expression": 'SEARCH(\'{vigil,Outcome,Protocol,Signal} MetricName="IngestItems"'
                " Outcome=\"accepted\"', 'Sum', 60)",
                "id": "ingest",
            }
        ]
    ]
    rejected = [
        [
            {
                "expression": 'SEARCH(\'{vigil,Outcome,Protocol,Signal} MetricName="IngestItems"'
                " Outcome=\"rejected\"', 'Sum', 60)",
                "id": "rejected",
            }
        ],
        [NAMESPACE, "WriterOverloaded", {"stat": "Sum", "label": "Refused: queue full"}],
    ]
    queries = [
        [
            {
                "expression": "SEARCH('{vigil,Endpoint} MetricName=\"QuerySeconds\"',"
                " 'Average', 60)",
                "id": "queries",
            }
        ]
    ]
    body = {
        "start": "-PT1H",
        "widgets": [
            metric("Ingest rate per signal (items/min)", 0, 0, accepted),
            metric(
                "Write queue depth",
                12,
                0,
                [[NAMESPACE, "WriterQueueRows", {"stat": "Maximum", "label": "Queued rows"}]],
                yAxis={"left": {"label": "Rows", "min": 0}},
            ),
            metric(
                "WAL and store latency",
                0,
                6,
                [
                    [NAMESPACE, "WriterCommitSeconds", {"stat": "Average", "label": "WAL commit"}],
                    [
                        NAMESPACE,
                        "WriterFlushSeconds",
                        {"stat": "Average", "label": "Store insert", "yAxis": "right"},
                    ],
                ],
                yAxis={"left": {"label": "WAL (s)"}, "right": {"label": "Store (s)"}},
            ),
            metric("Rejected items", 12, 6, rejected),
            {
                "type": "log",
                "x": 12,
                "y": 12,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Warnings and errors",
                    "query": f"SOURCE '{LOG_GROUP}' | fields @timestamp, level, message"
                    " | filter level != 'INFO' | sort @timestamp desc | limit 50",
                },
            },
            metric(
                "Query latency by endpoint",
                0,
                12,
                queries,
                yAxis={"left": {"label": "Seconds"}},
            ),
        ],
    }
    return json.dumps(body)
