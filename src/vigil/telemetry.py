"""vigil's own counters, served at ``/metrics`` in the Prometheus text format.

One ``SelfMetrics`` per server, on a private registry, so that tests and embedded runtimes
never share counters. Components receive it at construction.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SelfMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.ingest_items = Counter(
            "vigil_ingest_items",
            "Telemetry items received, by protocol, signal and outcome (accepted/rejected).",
            ["protocol", "signal", "outcome"],
            registry=r,
        )
        self.ingest_requests = Counter(
            "vigil_ingest_requests",
            "Ingest requests, by protocol, signal and answer code.",
            ["protocol", "signal", "code"],
            registry=r,
        )
        self.queue_rows = Gauge(
            "vigil_writer_queue_rows", "Rows accepted but not yet committed.", registry=r
        )
        self.commit_seconds = Histogram(
            "vigil_writer_commit_seconds",
            "Time to append one group of batches to the write-ahead log (the acknowledgement).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.flush_seconds = Histogram(
            "vigil_writer_flush_seconds",
            "Time to insert one flush of the write-ahead log into the store.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.quarantined = Counter(
            "vigil_writer_quarantined_records",
            "WAL records the store refused even alone, kept aside in wal/quarantine/.",
            registry=r,
        )
        self.committed_rows = Counter(
            "vigil_writer_committed_rows", "Rows committed, by table.", ["table"], registry=r
        )
        self.commit_failures = Counter(
            "vigil_writer_commit_failures", "Group commits that failed.", registry=r
        )
        self.writer_overloaded = Counter(
            "vigil_writer_overloaded", "Writes refused because the queue was full.", registry=r
        )
        self.barrier_timeouts = Counter(
            "vigil_writer_read_barrier_timeouts",
            "Reads answered before every acknowledged write was in the store (the read"
            " barrier timed out: the store is failing or far behind).",
            registry=r,
        )
        self.query_seconds = Histogram(
            "vigil_query_seconds",
            "Read API query time, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_refused = Counter(
            "vigil_ingest_refused",
            "Ingest batches refused by the writer (overloaded: queue full; unavailable: the"
            " store failed), by protocol and signal.",
            ["protocol", "signal", "reason"],
            registry=r,
        )
        self.aws_requests = Counter(
            "vigil_aws_requests",
            "AWS API calls, by service (botocore model), operation and outcome (ok or the"
            " error code answered).",
            ["service", "operation", "outcome"],
            registry=r,
        )
        # Every user expression (Insights, metric math, filter patterns, X-Ray filters, the
        # logs API's regex) runs under a time bound (issue 18): how long each took, and how
        # often one hit its bound (answered as a limit error or a partial page).
        self.expression_seconds = Histogram(
            "vigil_user_expression_seconds",
            "Time a user expression took to run, by language.",
            ["language"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.expression_overruns = Counter(
            "vigil_user_expression_overruns",
            "User expressions stopped at their time bound, by language.",
            ["language"],
            registry=r,
        )
        self.retention_deleted = Counter(
            "vigil_retention_runs", "Retention passes run over log groups.", registry=r
        )
        # The periodic-task runner (vigil.tasks), by task name.
        self.task_runs = Counter(
            "vigil_task_runs",
            "Periodic task passes, by task and outcome (ok/failed).",
            ["task", "outcome"],
            registry=r,
        )
        self.task_seconds = Histogram(
            "vigil_task_seconds",
            "Time one periodic task pass took, by task.",
            ["task"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.task_failing = Gauge(
            "vigil_task_consecutive_failures",
            "Passes of a periodic task that failed in a row (0: its last pass succeeded).",
            ["task"],
            registry=r,
        )

    def count_items(self, protocol: str, signal: str, accepted: int, rejected: int) -> None:
        if accepted:
            self.ingest_items.labels(protocol, signal, "accepted").inc(accepted)
        if rejected:
            self.ingest_items.labels(protocol, signal, "rejected").inc(rejected)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))

    def expression(self, language: str) -> ExpressionTimer:
        """A timer for one user expression of ``language`` (see ``ExpressionTimer``)."""
        return ExpressionTimer(self, language)


class ExpressionTimer:
    """``with metrics.expression("metric-math") as run: …; run.overran()`` — times one user
    expression into ``vigil_user_expression_seconds``; ``overran`` counts a hit bound."""

    def __init__(self, metrics: SelfMetrics, language: str) -> None:
        self._metrics = metrics
        self._language = language
        self._started = 0.0

    def __enter__(self) -> ExpressionTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        elapsed = time.perf_counter() - self._started
        self._metrics.expression_seconds.labels(self._language).observe(elapsed)

    def overran(self) -> None:
        self._metrics.expression_overruns.labels(self._language).inc()
