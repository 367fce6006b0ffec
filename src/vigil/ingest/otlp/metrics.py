"""OTLP metrics → ``MetricColumns`` (+ cumulative points for the pipeline to convert).

Pure: no I/O, no clock. Mapping (README "Model and mapping"): namespace = resource
``service.namespace`` else ``service.name`` else ``default``; name = the OTLP name;
dimensions = the point's attributes, sorted; unit mapped to CloudWatch names where obvious.

* Gauge, and non-monotonic or unspecified-temporality Sum: one sample per point.
* Delta Sum: one sample per point (the delta).
* Cumulative monotonic Sum, cumulative Histogram/ExponentialHistogram, Summary: handed to
  the pipeline as ``CumulativePoint`` (per-stream conversion to deltas needs state).
* Delta Histogram and ExponentialHistogram: one histogram row (count, sum, min, max,
  explicit bounds and bucket counts; exponential buckets are converted to explicit bounds,
  ``exponential.layout``; a cumulative one also keeps its own buckets for the converter).
Refused: zero time, time (or start time) more than 2 h ahead, NaN or infinite values, bucket
counts that do not match the bounds. Points flagged "no recorded value" are skipped silently.
"""

from __future__ import annotations

import hashlib
import itertools
import math

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from vigil.ingest.interface import CumulativePoint, Decoded, ItemRejected
from vigil.ingest.otlp.common import Pairs, attributes
from vigil.ingest.otlp.exponential import Exponential, layout
from vigil.model.common import MAX_FUTURE_NS
from vigil.model.metrics import MetricColumns, PointKind

NO_RECORDED_VALUE = 1

_UNITS = {
    "s": "Seconds",
    "ms": "Milliseconds",
    "us": "Microseconds",
    "By": "Bytes",
    "kBy": "Kilobytes",
    "KBy": "Kilobytes",
    "MBy": "Megabytes",
    "GBy": "Gigabytes",
    "TBy": "Terabytes",
    "KiBy": "Kilobytes",
    "MiBy": "Megabytes",
    "GiBy": "Gigabytes",
    "TiBy": "Terabytes",
    "bit": "Bits",
    "kbit": "Kilobits",
    "Mbit": "Megabits",
    "Gbit": "Gigabits",
    "Tbit": "Terabits",
    "%": "Percent",
    "1": "None",
    "": "None",
}


def cloudwatch_unit(unit: str) -> str:
    """UCUM (OTLP) unit → CloudWatch unit name; unknown units are kept as they are."""
    if unit in _UNITS:
        return _UNITS[unit]
    if unit.startswith("{") and unit.endswith("}"):
        return "Count"
    if unit.endswith("/s"):
        base = cloudwatch_unit(unit[:-2])
        if base in ("Count", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes") or (
            base.endswith("bits") or base == "Bits"
        ):
            return base + "/Second"
    return unit


def _stream_id(resource_key: bytes, scope: str, name: str, dims: Pairs) -> int:
    h = hashlib.blake2b(resource_key, digest_size=8)
    h.update(b"\x00" + scope.encode() + b"\x00" + name.encode())
    for k, v in dims:
        h.update(b"\x00" + k.encode() + b"\x01" + v.encode())
    return int.from_bytes(h.digest(), "little") or 1


class _MetricContext:
    """Per-metric fields every point of it shares."""

    __slots__ = ("name", "namespace", "resource_key", "scope", "tenant", "unit")

    def __init__(
        self, tenant: str, namespace: str, name: str, unit: str, resource_key: bytes, scope: str
    ) -> None:
        self.tenant, self.namespace, self.name = tenant, namespace, name
        self.unit, self.resource_key, self.scope = unit, resource_key, scope


def decode_metrics(request: ExportMetricsServiceRequest, tenant: str, now_ns: int) -> Decoded:
    out = Decoded(signal="metrics", metrics=MetricColumns())
    for rm in request.resource_metrics:
        try:
            res_pairs, _ = attributes(rm.resource.attributes, "resource attribute")
        except ItemRejected as exc:
            out.rejected.add(
                str(exc), sum(_count_points(m) for sm in rm.scope_metrics for m in sm.metrics)
            )
            continue
        res = dict(res_pairs)
        namespace = res.get("service.namespace") or res.get("service.name") or "default"
        resource_key = repr(sorted(res_pairs)).encode()
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                ctx = _MetricContext(
                    tenant,
                    namespace,
                    metric.name,
                    cloudwatch_unit(metric.unit),
                    resource_key,
                    sm.scope.name,
                )
                _decode_metric(metric, ctx, now_ns, out)
    return out


def _count_points(metric: Metric) -> int:
    which = metric.WhichOneof("data")
    return len(getattr(metric, which).data_points) if which else 0


def _decode_metric(metric: Metric, ctx: _MetricContext, now_ns: int, out: Decoded) -> None:
    which = metric.WhichOneof("data")
    if not metric.name:
        out.rejected.add("metric name is empty", _count_points(metric))
        return
    if which is None:
        return
    data = getattr(metric, which)
    for point in data.data_points:
        if point.flags & NO_RECORDED_VALUE:
            continue
        try:
            _check_time(point.time_unix_nano, now_ns)
            if point.start_time_unix_nano > now_ns + MAX_FUTURE_NS:
                raise ItemRejected(
                    f"start_time_unix_nano {point.start_time_unix_nano}"
                    " is more than 2 hours in the future"
                )
            dims, _ = attributes(point.attributes)
            dims.sort()
            if which == "gauge":
                _sample(out, ctx, point, dims, "gauge")
            elif which == "sum":
                _sum(out, ctx, point, dims, data.aggregation_temporality, data.is_monotonic)
            elif which == "histogram":
                bounds, buckets = _explicit_buckets(point)
                _histogram(out, ctx, point, dims, data.aggregation_temporality, bounds, buckets)
            elif which == "exponential_histogram":
                exp = _exponential(point)
                bounds, buckets = _exponential_buckets(exp)
                _histogram(
                    out, ctx, point, dims, data.aggregation_temporality, bounds, buckets, exp
                )
            elif which == "summary":
                _cumulative(
                    out, ctx, point, dims, point.sum, count=point.count, bounds=[], buckets=[]
                )
        except ItemRejected as exc:
            out.rejected.add(f"metric {metric.name!r}: {exc}")


def _check_time(ts: int, now_ns: int) -> None:
    if ts == 0:
        raise ItemRejected("time_unix_nano is 0")
    if ts > now_ns + MAX_FUTURE_NS:
        raise ItemRejected(f"time_unix_nano {ts} is more than 2 hours in the future")


def _number(point: NumberDataPoint) -> float:
    value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
    if not math.isfinite(value):
        raise ItemRejected(f"value {value} is not a finite number")
    return value


def _sample(
    out: Decoded, ctx: _MetricContext, point: NumberDataPoint, dims: Pairs, kind: str
) -> None:
    assert out.metrics is not None
    out.metrics.add(
        tenant=ctx.tenant,
        namespace=ctx.namespace,
        name=ctx.name,
        dimensions=dims,
        unit=ctx.unit,
        timestamp=point.time_unix_nano,
        start_time=point.start_time_unix_nano,
        kind=PointKind.SAMPLE,
        value=_number(point),
        metric_type=kind,
    )


def _sum(
    out: Decoded,
    ctx: _MetricContext,
    point: NumberDataPoint,
    dims: Pairs,
    temporality: int,
    monotonic: bool,
) -> None:
    if temporality == AGGREGATION_TEMPORALITY_CUMULATIVE and monotonic:
        _cumulative(out, ctx, point, dims, _number(point))
    elif temporality == AGGREGATION_TEMPORALITY_DELTA:
        _sample(out, ctx, point, dims, "sum")
    else:
        # A non-monotonic cumulative sum (an up-down counter) is a current value: a gauge.
        _sample(out, ctx, point, dims, "gauge")


def _cumulative(
    out: Decoded,
    ctx: _MetricContext,
    point: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint,
    dims: Pairs,
    value: float,
    *,
    count: float = 0.0,
    bounds: list[float] | None = None,
    buckets: list[int] | None = None,
    exponential: Exponential | None = None,
) -> None:
    if not math.isfinite(value):
        raise ItemRejected(f"value {value} is not a finite number")
    out.cumulative.append(
        CumulativePoint(
            stream_id=_stream_id(ctx.resource_key, ctx.scope, ctx.name, dims),
            tenant=ctx.tenant,
            namespace=ctx.namespace,
            name=ctx.name,
            dimensions=dims,
            unit=ctx.unit,
            start_time=point.start_time_unix_nano,
            timestamp=point.time_unix_nano,
            value=value,
            count=count,
            bounds=bounds,
            buckets=buckets,
            exponential=exponential,
        )
    )


def _histogram(
    out: Decoded,
    ctx: _MetricContext,
    point: HistogramDataPoint | ExponentialHistogramDataPoint,
    dims: Pairs,
    temporality: int,
    bounds: list[float],
    buckets: list[int],
    exponential: Exponential | None = None,
) -> None:
    total = point.sum if point.HasField("sum") else math.nan
    if not math.isnan(total) and not math.isfinite(total):
        raise ItemRejected(f"histogram sum {total} is not a finite number")
    if temporality == AGGREGATION_TEMPORALITY_CUMULATIVE:
        _cumulative(
            out,
            ctx,
            point,
            dims,
            0.0 if math.isnan(total) else total,
            count=point.count,
            bounds=bounds,
            buckets=buckets,
            exponential=exponential,
        )
        return
    assert out.metrics is not None
    out.metrics.add(
        tenant=ctx.tenant,
        namespace=ctx.namespace,
        name=ctx.name,
        dimensions=dims,
        unit=ctx.unit,
        timestamp=point.time_unix_nano,
        start_time=point.start_time_unix_nano,
        kind=PointKind.HISTOGRAM,
        value=total,
        count=float(point.count),
        min=point.min if point.HasField("min") else math.nan,
        max=point.max if point.HasField("max") else math.nan,
        bounds=bounds,
        buckets=buckets,
        metric_type="histogram",
    )


def _explicit_buckets(point: HistogramDataPoint) -> tuple[list[float], list[int]]:
    bounds = list(point.explicit_bounds)
    buckets = list(point.bucket_counts)
    if buckets and len(buckets) != len(bounds) + 1:
        raise ItemRejected(
            f"histogram has {len(buckets)} bucket counts for {len(bounds)} bounds"
            " (expected one more count than bounds)"
        )
    if any(not math.isfinite(b) for b in bounds) or any(
        a >= b for a, b in itertools.pairwise(bounds)
    ):
        raise ItemRejected("histogram bounds must be finite and strictly increasing")
    if buckets and sum(buckets) != point.count:
        raise ItemRejected(
            f"histogram bucket counts add up to {sum(buckets)}, not count {point.count}"
        )
    return bounds, buckets


def _exponential(point: ExponentialHistogramDataPoint) -> Exponential:
    if not -10 <= point.scale <= 20:
        raise ItemRejected(f"exponential histogram scale {point.scale} is not in -10..20")
    exp = Exponential.of(point)
    if exp.zero_count + sum(exp.positive) + sum(exp.negative) != point.count:
        raise ItemRejected("exponential histogram bucket counts do not add up to its count")
    return exp


def _exponential_buckets(exp: Exponential) -> tuple[list[float], list[int]]:
    """Exponential buckets as explicit ones (``exponential.layout``: each cell with both
    edges, the buckets below and above them empty)."""
    try:
        bounds, buckets, _ = layout(exp)
    except OverflowError:
        raise ItemRejected("exponential histogram bucket bounds overflow") from None
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        # A zero threshold reaching past the lowest positive bucket (or above the highest
        # negative one) leaves no order to store the buckets in.
        raise ItemRejected("exponential histogram zero_threshold overlaps its buckets")
    return bounds, buckets
