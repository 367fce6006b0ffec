"""Prometheus series → vigil metric rows (the mapping in ``vigil.model.prometheus``).

``SeriesBatch`` is what the remote-write decoders and the scraper fill: one ``add`` per
series (its name, its other labels, its samples' millisecond timestamps and values), plus
metadata and exemplars; ``decoded(now_ns)`` checks the samples as one vector and returns
the ``Decoded`` the pipeline takes, with the metadata and exemplar tables as extras.

Per sample, vectorised: a value that is not finite (NaN, ±Inf, and so Prometheus' stale
markers) is *skipped*, not stored: rollups and CloudWatch statistics are sums, which one
NaN would spoil; such samples are counted in ``skipped`` (not an error). A timestamp more
than 2 hours ahead or more than 14 days back (PutMetricData's window) is *rejected*
(counted with a reason; the handler answers 400 once the rest is stored).
Pure: no I/O, no clock (``now_ns`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from vigil.ingest.interface import Decoded, Rejections
from vigil.model.common import MAX_FUTURE_NS, constant_column, empty_lists
from vigil.model.metrics import METRIC_SCHEMA, MetricColumns, PointKind
from vigil.model.prometheus import (
    EXEMPLAR_SCHEMA,
    EXEMPLARS_TABLE,
    METRIC_TYPE,
    NAMESPACE,
    RESOLUTION,
    UNIT,
)

MAX_PAST_NS = 14 * 86400 * 10**9
MS = 1_000_000

Labels = list[tuple[str, str]]

FLOAT, HISTOGRAM, HISTOGRAM_COUNT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Metadata:
    family: str
    type: str
    help: str
    unit: str


@dataclass(slots=True)
class SeriesBatch:
    tenant: str
    names: list[str] = field(default_factory=list)
    dims: list[Labels] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # FLOAT, HISTOGRAM or HISTOGRAM_COUNT
    timestamps: list[int] = field(default_factory=list)  # ms
    values: list[float] = field(default_factory=list)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    rejected: Rejections = field(default_factory=Rejections)
    # exemplars: series name, series dims, exemplar labels, timestamp ms, value
    exemplars: list[tuple[str, Labels, Labels, int, float]] = field(default_factory=list)
    # Rows a native decoder built (``_remotewrite``), with its counts; the lists are then
    # empty (but ``exemplars``, which 2.0's native decoder fills too).
    native: pa.Table | None = None
    native_samples: int = 0
    native_skipped: int = 0
    # after ``decoded``:
    samples: int = 0  # float samples that will be stored
    histograms: int = 0  # native histogram samples that will be stored (expanded)
    skipped: int = 0  # not finite (NaN, stale markers, ±Inf): not stored
    exemplars_stored: int = 0

    def add(
        self,
        name: str,
        dims: Labels,
        timestamps: list[int],
        values: list[float],
        origin: int = 0,
    ) -> None:
        """One series; ``dims`` sorted by name, without ``__name__``. ``origin``: float
        samples (FLOAT) or rows of an expanded native histogram (HISTOGRAM, and
        HISTOGRAM_COUNT for its ``_count`` row, one per histogram sample)."""
        if not timestamps:
            return
        self.origins.append(origin)
        self.names.append(name)
        self.dims.append(dims)
        self.lengths.append(len(timestamps))
        self.timestamps.extend(timestamps)
        self.values.extend(values)

    def decoded(self, now_ns: int) -> Decoded:
        out = Decoded(signal="metrics", rejected=self.rejected)
        # int64 ns covers 1677..2262; a timestamp outside it is out of the window anyway.
        ts_ms_max = (now_ns + MAX_FUTURE_NS) // MS
        ts_ms_min = (now_ns - MAX_PAST_NS) // MS
        if self.native is not None or self.native_samples or self.native_skipped:
            self.samples, self.skipped = self.native_samples, self.native_skipped
            if self.native is not None:
                out.metrics = MetricColumns(arrow=self.native)
            self._store_exemplars(out, ts_ms_min, ts_ms_max)
            return out
        n = len(self.timestamps)
        ts = np.fromiter(self.timestamps, dtype=np.int64, count=n)
        values = np.fromiter(self.values, dtype=np.float64, count=n)
        finite = np.isfinite(values)
        in_window = (ts <= ts_ms_max) & (ts >= ts_ms_min)
        late = int(np.count_nonzero(ts < ts_ms_min))
        early = int(np.count_nonzero(ts > ts_ms_max))
        if late:
            self.rejected.add("sample timestamps must be within the past 14 days", late)
        if early:
            self.rejected.add("sample timestamps must be at most 2 hours ahead", early)
        keep = finite & in_window
        self.skipped = int(np.count_nonzero(~finite & in_window))
        origin = np.repeat(np.array(self.origins, dtype=np.int8), self.lengths)
        self.samples = int(np.count_nonzero(keep & (origin == FLOAT)))
        self.histograms = int(np.count_nonzero(keep & (origin == HISTOGRAM_COUNT)))
        if keep.any():
            table = self._table(ts, values)
            if not keep.all():
                table = table.filter(pa.array(keep))
            out.metrics = MetricColumns(arrow=table)
        self._store_exemplars(out, ts_ms_min, ts_ms_max)
        return out

    def _store_exemplars(self, out: Decoded, ts_min: int, ts_max: int) -> None:
        if self.exemplars:
            exemplars = self._exemplars(ts_min, ts_max)
            self.exemplars_stored = exemplars.num_rows
            if exemplars.num_rows:
                out.extra[EXEMPLARS_TABLE] = exemplars

    def _table(self, ts: np.ndarray, values: np.ndarray) -> pa.Table:
        n = len(ts)
        index = pa.array(np.repeat(np.arange(len(self.names), dtype=np.int64), self.lengths))
        columns: dict[str, pa.Array] = {
            "tenant": constant_column(self.tenant, pa.string(), n),
            "namespace": constant_column(NAMESPACE, pa.string(), n),
            "name": pa.array(self.names, pa.string()).take(index),
            "dimensions": map_array(self.dims).take(index),
            "unit": constant_column(UNIT, pa.string(), n),
            "timestamp": pa.array(ts * MS, pa.timestamp("ns")),
            "start_time": pa.array(np.zeros(n, np.int64), pa.timestamp("ns")),
            "resolution": constant_column(RESOLUTION, pa.uint8(), n),
            "kind": constant_column(int(PointKind.SAMPLE), pa.uint8(), n),
            "value": pa.array(values, pa.float64()),
            "count": pa.array(np.ones(n), pa.float64()),
            "min": pa.array(np.zeros(n), pa.float64()),
            "max": pa.array(np.zeros(n), pa.float64()),
            "bounds": empty_lists(pa.list_(pa.float64()), n),
            "buckets": empty_lists(pa.list_(pa.uint64()), n),
            "metric_type": constant_column(METRIC_TYPE, pa.string(), n),
            "stream_id": constant_column(0, pa.uint64(), n),
            "cumulative": pa.array(np.zeros(n), pa.float64()),
        }
        return pa.Table.from_arrays([columns[c] for c in METRIC_SCHEMA.names], schema=METRIC_SCHEMA)

    def _exemplars(self, ts_min: int, ts_max: int) -> pa.Table:
        rows = [e for e in self.exemplars if ts_min <= e[3] <= ts_max and np.isfinite(e[4])]
        return pa.Table.from_arrays(
            [
                constant_column(self.tenant, pa.string(), len(rows)),
                pa.array([r[0] for r in rows], pa.string()),
                map_array([r[1] for r in rows]),
                map_array([r[2] for r in rows]),
                pa.array([r[3] * MS for r in rows], pa.timestamp("ns")),
                pa.array([r[4] for r in rows], pa.float64()),
            ],
            schema=EXEMPLAR_SCHEMA,
        )


def map_array(rows: list[Labels]) -> pa.MapArray:
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
