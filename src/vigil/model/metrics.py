"""Metric data points: one row per point of one series.

A series is (tenant, namespace, name, dimensions); dimensions are sorted by key. A row is
one of three kinds:
  SAMPLE     ``value`` observed ``count`` times (count is 1 for a plain value; PutMetricData
             Values/Counts give other weights). min/max are unused (0).
  STATS      a statistic set: ``value`` is the sum, plus count, min, max.
  HISTOGRAM  value = sum, count, min, max (NaN when unknown) and explicit ``bounds`` with
             ``buckets`` (len(buckets) == len(bounds) + 1); exponential histograms are
             converted to explicit bounds at ingest.
``resolution`` is the storage resolution in seconds (1 = high resolution, 60 = standard).
``metric_type`` says where the point came from (gauge, sum, histogram, summary, cloudwatch).
Converted cumulative sums keep the stream id (hash of resource, scope, name and attributes)
and the cumulative value they were converted from, so that conversion resumes exactly after
a restart. The store derives ``series_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import pyarrow as pa

from vigil.model.common import ATTR_MAP, TIMESTAMP

METRICS_TABLE = "metrics"

# The unit names CloudWatch accepts (PutMetricData, metric filters, EMF).
CLOUDWATCH_UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)


class PointKind(IntEnum):
    SAMPLE = 0
    STATS = 1
    HISTOGRAM = 2


METRIC_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("namespace", pa.string()),
        ("name", pa.string()),
        ("dimensions", ATTR_MAP),
        ("unit", pa.string()),
        ("timestamp", TIMESTAMP),
        ("start_time", TIMESTAMP),
        ("resolution", pa.uint8()),
        ("kind", pa.uint8()),
        ("value", pa.float64()),
        ("count", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("bounds", pa.list_(pa.float64())),
        ("buckets", pa.list_(pa.uint64())),
        ("metric_type", pa.string()),
        ("stream_id", pa.uint64()),
        ("cumulative", pa.float64()),
    ]
)


@dataclass(slots=True)
class MetricColumns:
    """Column lists a decoder appends to; ``to_arrow`` makes the batch.

    ``arrow`` holds rows a native decoder built directly as Arrow (``METRIC_SCHEMA``); they
    come before the rows in the lists.
    """

    arrow: pa.Table | None = None

    tenant: list[str] = field(default_factory=list)
    namespace: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    dimensions: list[list[tuple[str, str]]] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    timestamp: list[int] = field(default_factory=list)
    start_time: list[int] = field(default_factory=list)
    resolution: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    count: list[float] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)
    bounds: list[list[float]] = field(default_factory=list)
    buckets: list[list[int]] = field(default_factory=list)
    metric_type: list[str] = field(default_factory=list)
    stream_id: list[int] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.timestamp) + (self.arrow.num_rows if self.arrow is not None else 0)

    def add(
        self,
        *,
        tenant: str,
        namespace: str,
        name: str,
        dimensions: list[tuple[str, str]],
        unit: str,
        timestamp: int,
        kind: PointKind,
        value: float,
        count: float = 1.0,
        min: float = 0.0,
        max: float = 0.0,
        start_time: int = 0,
        resolution: int = 60,
        bounds: list[float] | None = None,
        buckets: list[int] | None = None,
        metric_type: str = "gauge",
        stream_id: int = 0,
        cumulative: float = 0.0,
    ) -> None:
        self.tenant.append(tenant)
        self.namespace.append(namespace)
        self.name.append(name)
        self.dimensions.append(dimensions)
        self.unit.append(unit)
        self.timestamp.append(timestamp)
        self.start_time.append(start_time)
        self.resolution.append(resolution)
        self.kind.append(int(kind))
        self.value.append(value)
        self.count.append(count)
        self.min.append(min)
        self.max.append(max)
        self.bounds.append(bounds or [])
        self.buckets.append(buckets or [])
        self.metric_type.append(metric_type)
        self.stream_id.append(stream_id)
        self.cumulative.append(cumulative)

    def to_arrow(self) -> pa.Table:
        if self.arrow is not None and not self.timestamp:
            return self.arrow
        arrays = [
            _map_array(self.dimensions)
            if name == "dimensions"
            else pa.array(getattr(self, name), type=METRIC_SCHEMA.field(name).type)
            for name in METRIC_SCHEMA.names
        ]
        table = pa.Table.from_arrays(arrays, schema=METRIC_SCHEMA)
        return table if self.arrow is None else pa.concat_tables([self.arrow, table])


def _map_array(rows: list[list[tuple[str, str]]]) -> pa.MapArray:
    """Dimension lists as a map column, built from flat arrays (much faster than from
    Python tuples)."""
    offsets = [0]
    keys: list[str] = []
    values: list[str] = []
    for row in rows:
        for key, value in row:
            keys.append(key)
            values.append(value)
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(
        pa.array(offsets, type=pa.int32()),
        pa.array(keys, type=pa.string()),
        pa.array(values, type=pa.string()),
    )
