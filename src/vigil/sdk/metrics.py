"""Application metrics for vigil: ``MetricsCollector`` and ``BusinessMetricsTracker``.

The API of the monitoring design (``put_metric``, ``record_processing_time``,
``record_data_quality_score``, ``record_business_metric``; ``track_revenue_impact``,
``track_cost_efficiency``), but unlike a plain ``put_metric_data`` per call it:

* **aggregates**: values are counted per series (name, unit, dimensions) and time bucket
  (the minute, or the second with ``storage_resolution=1``) as CloudWatch ``Values`` /
  ``Counts``, so statistics and percentiles stay exact while a hot path costs one dict
  update;
* **never blocks**: ``put_metric`` only takes a short lock; a background thread flushes
  every ``flush_interval`` seconds, at most 1,000 data per request;
* **is bounded**: while vigil is unreachable, unsent values are kept up to
  ``max_buffered_values`` distinct values; past that new ones are dropped and counted in
  ``dropped`` (also rejected batches are counted there), never queued without bound.

It sends through vigil's CloudWatch endpoint (PutMetricData via botocore; ``endpoint_url``
or ``AWS_ENDPOINT_URL_CLOUDWATCH``) or its OTLP/HTTP endpoint (``transport="otlp"``:
delta histograms whose buckets are the distinct values, so counts, sums, minimum and
maximum are exact and percentiles are bucket-interpolated).

Thread-safe: any thread may record; ``flush`` and ``close`` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

log = logging.getLogger(__name__)

MAX_DATA_PER_REQUEST = 1000
MAX_VALUES_PER_DATUM = 150
Transport = Literal["cloudwatch", "otlp"]
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...], int]  # name, unit, dims, bucket

_UCUM = {
    "Seconds": "s",
    "Milliseconds": "ms",
    "Microseconds": "us",
    "Bytes": "By",
    "Kilobytes": "kBy",
    "Megabytes": "MBy",
    "Gigabytes": "GBy",
    "Terabytes": "TBy",
    "Bits": "bit",
    "Percent": "%",
    "Count": "{count}",
    "None": "1",
}


@dataclass(frozen=True, slots=True)
class Stats:
    sent: int  # values acknowledged by vigil
    dropped: int  # values dropped: buffer full, or refused by vigil
    pending: int  # distinct values waiting to be sent
    failures: int  # flushes that could not reach vigil


class MetricsCollector:
    def __init__(
        self,
        namespace: str = "Application/DataPipeline",
        *,
        endpoint_url: str | None = None,
        transport: Transport = "cloudwatch",
        flush_interval: float = 10.0,
        max_buffered_values: int = 100_000,
        storage_resolution: int = 60,
        api_key: str | None = None,
        tenant: str | None = None,
        region: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        start: bool = True,
    ) -> None:
        if storage_resolution not in (1, 60):
            raise ValueError("storage_resolution must be 1 or 60")
        self.namespace = namespace
        self._transport = transport
        self._interval = flush_interval
        self._max_values = max_buffered_values
        self._resolution = storage_resolution
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffer: dict[SeriesKey, dict[float, float]] = {}
        self._values = 0
        self._sent = self._dropped = self._failures = 0
        self._stop = threading.Event()
        headers = {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if tenant:
            headers["X-Vigil-Tenant"] = tenant
        self._sender: _CloudWatchSender | _OtlpSender
        if transport == "cloudwatch":
            self._sender = _CloudWatchSender(namespace, endpoint_url, region, headers, timeout)
        elif transport == "otlp":
            url = endpoint_url or os.environ.get(
                "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"
            )
            self._sender = _OtlpSender(namespace, url, headers, timeout)
        else:
            raise ValueError(f"unknown transport {transport!r}")
        self._send = self._sender.send
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="vigil-metrics", daemon=True)
            self._thread.start()

    # --- the design's API -------------------------------------------------------------

    def put_metric(
        self,
        metric_name: str,
        value: float,
        unit: str = "Count",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """Record one value; returns at once (never waits for the network)."""
        value = float(value)
        if not math.isfinite(value):
            with self._lock:
                self._dropped += 1
            return
        now = self._clock()
        bucket = int(now // self._resolution * self._resolution)
        dims = tuple(sorted((str(k), str(v)) for k, v in (dimensions or {}).items()))
        key = (metric_name, unit, dims, bucket)
        with self._lock:
            counts = self._buffer.get(key)
            if counts is None:
                counts = self._buffer[key] = {}
            if value in counts:
                counts[value] += 1
            elif self._values < self._max_values:
                counts[value] = 1
                self._values += 1
            else:
                self._dropped += 1

    def record_processing_time(self, pipeline_name: str, duration: float) -> None:
        self.put_metric("ProcessingDuration", duration, "Seconds", {"Pipeline": pipeline_name})

    def record_data_quality_score(self, pipeline_name: str, score: float) -> None:
        self.put_metric("DataQualityScore", score, "Percent", {"Pipeline": pipeline_name})

    def record_business_metric(self, metric_name: str, value: float, business_unit: str) -> None:
        self.put_metric(metric_name, value, "Count", {"BusinessUnit": business_unit})

    # --- delivery --------------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        with self._lock:
            return Stats(self._sent, self._dropped, self._values, self._failures)

    @property
    def dropped(self) -> int:
        return self.stats.dropped

    def flush(self) -> bool:
        """Send everything recorded so far; True when vigil took it all."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer, self._values = self._buffer, {}, 0
            if not batch:
                return True
            data = list(self._data(batch))
            ok = True
            for start in range(0, len(data), MAX_DATA_PER_REQUEST):
                chunk = data[start : start + MAX_DATA_PER_REQUEST]
                count = sum(int(sum(d["Counts"])) for d in chunk)
                try:
                    self._send(chunk)
                except _Refused as exc:
                    log.warning("vigil refused %d metric values: %s", count, exc)
                    with self._lock:
                        self._dropped += count
                except Exception as exc:  # unreachable, overloaded, 5xx: keep and retry
                    log.debug("metrics flush failed: %s", exc)
                    ok = False
                    self._requeue(chunk)
                else:
                    with self._lock:
                        self._sent += count
            if not ok:
                with self._lock:
                    self._failures += 1
            return ok

    def close(self) -> None:
        """Stop the background thread, send what is left (once) and release the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        finally:
            self._sender.close()

    def __enter__(self) -> MetricsCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self.flush()

    def _data(self, batch: dict[SeriesKey, dict[float, float]]) -> Iterator[dict[str, Any]]:
        for (name, unit, dims, bucket), counts in batch.items():
            items = sorted(counts.items())
            for i in range(0, len(items), MAX_VALUES_PER_DATUM):
                part = items[i : i + MAX_VALUES_PER_DATUM]
                yield {
                    "MetricName": name,
                    "Unit": unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                    "Timestamp": datetime.fromtimestamp(bucket, UTC),
                    "Values": [v for v, _ in part],
                    "Counts": [c for _, c in part],
                    "StorageResolution": self._resolution,
                }

    def _requeue(self, data: list[dict[str, Any]]) -> None:
        with self._lock:
            for datum in data:
                dims = tuple((d["Name"], d["Value"]) for d in datum["Dimensions"])
                bucket = int(datum["Timestamp"].timestamp())
                key = (datum["MetricName"], datum["Unit"], dims, bucket)
                counts = self._buffer.setdefault(key, {})
                for value, count in zip(datum["Values"], datum["Counts"], strict=True):
                    if value in counts:
                        counts[value] += count
                    elif self._values < self._max_values:
                        counts[value] = count
                        self._values += 1
                    else:
                        self._dropped += int(count)


class BusinessMetricsTracker:
    """Business KPIs on top of a ``MetricsCollector`` (the design's second class)."""

    def __init__(self, metrics: MetricsCollector | None = None) -> None:
        self.metrics = metrics or MetricsCollector()

    def track_revenue_impact(self, pipeline_name: str, revenue_impact: float) -> None:
        self.metrics.put_metric(
            "RevenueImpact", revenue_impact, "None", {"Pipeline": pipeline_name}
        )

    def track_cost_efficiency(
        self, pipeline_name: str, records_processed: int, cost: float
    ) -> None:
        per_record = cost / records_processed if records_processed > 0 else 0.0
        dims = {"Pipeline": pipeline_name}
        self.metrics.put_metric("CostPerRecord", per_record, "None", dims)
        self.metrics.put_metric("ProcessingCost", cost, "None", dims)


class _Refused(Exception):
    """vigil refused the data itself (a 4xx other than throttling): retrying cannot help."""


class _CloudWatchSender:
    def __init__(
        self,
        namespace: str,
        endpoint_url: str | None,
        region: str | None,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        import botocore.config
        import botocore.session

        self.namespace = namespace
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        config = botocore.config.Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
        )
        self._client = session.create_client(
            "cloudwatch",
            endpoint_url=endpoint_url,
            region_name=region or session.get_config_variable("region") or "us-east-1",
            aws_access_key_id=None if credentials else "vigil",
            aws_secret_access_key=None if credentials else "vigil",
            config=config,
        )

        def add_headers(request: Any, **_: Any) -> None:
            for key, value in headers.items():
                request.headers[key] = value

        if headers:
            self._client.meta.events.register("before-send.cloudwatch.PutMetricData", add_headers)

    def close(self) -> None:
        self._client.close()

    def send(self, data: list[dict[str, Any]]) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.put_metric_data(Namespace=self.namespace, MetricData=data)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            code = exc.response.get("Error", {}).get("Code", "")
            if 400 <= status < 500 and code not in ("Throttling", "ThrottlingException"):
                raise _Refused(str(exc)) from exc
            raise


class _OtlpSender:
    def __init__(self, namespace: str, url: str, headers: dict[str, str], timeout: float) -> None:
        self._namespace = namespace
        self._url = url.rstrip("/") + (
            "" if url.rstrip("/").endswith("/v1/metrics") else "/v1/metrics"
        )
        self._client = httpx.Client(
            timeout=timeout, headers={**headers, "Content-Type": "application/x-protobuf"}
        )

    def close(self) -> None:
        self._client.close()

    def send(self, data: list[dict[str, Any]]) -> None:
        response = self._client.post(self._url, content=_otlp_request(self._namespace, data))
        if response.status_code in (429, 502, 503, 504) or response.status_code >= 500:
            raise RuntimeError(f"vigil answered {response.status_code}")
        if response.status_code >= 400:
            raise _Refused(f"vigil answered {response.status_code}: {response.text[:200]}")


def _otlp_request(namespace: str, data: list[dict[str, Any]]) -> bytes:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA

    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.namespace", namespace
    scope = rm.scope_metrics.add()
    scope.scope.name = "vigil.sdk.metrics"
    for datum in data:
        metric = scope.metrics.add()
        metric.name = datum["MetricName"]
        metric.unit = _UCUM.get(datum["Unit"], datum["Unit"])
        metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
        point = metric.histogram.data_points.add()
        for dim in datum["Dimensions"]:
            a = point.attributes.add()
            a.key, a.value.string_value = dim["Name"], dim["Value"]
        ts = int(datum["Timestamp"].timestamp()) * 10**9
        point.start_time_unix_nano = ts
        point.time_unix_nano = ts
        values, counts = datum["Values"], [int(c) for c in datum["Counts"]]
        point.count = sum(counts)
        point.sum = sum(v * c for v, c in zip(values, counts, strict=True))
        point.min, point.max = min(values), max(values)
        point.explicit_bounds.extend(values[:-1])
        point.bucket_counts.extend(counts)
    return bytes(request.SerializeToString())
