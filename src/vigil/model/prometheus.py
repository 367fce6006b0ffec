"""Prometheus series in vigil's metrics model, and the two tables beside it.

The mapping (shared by remote write, scraping and the PromQL API; README "Prometheus"):
a series ``{__name__=N, l1=v1, …}`` is a metrics row with namespace ``prometheus``,
name ``N`` and every other label as a dimension, label names unchanged (``job`` and
``instance`` are ordinary dimensions). Values are stored as sent: a counter's raw
cumulative value, so ``rate()`` works on it; a classic histogram is its ``_bucket{le}``,
``_sum`` and ``_count`` series; a native histogram is expanded into the same classic
series (``vigil.ingest.prom.histograms``). Rows are ``SAMPLE`` points, resolution 60
(standard: raw points are kept as long as one-minute data), ``metric_type``
``prometheus``.

``prom_metadata``: one row per (tenant, metric family) and change: type, help, unit as
the sender or the scraped target last described them (read by ``vigil.store.prometheus``).
``prom_exemplars``: exemplars as sent (remote write 2.0 and 1.0), keyed by series.
"""

from __future__ import annotations

import pyarrow as pa

from vigil.model.common import ATTR_MAP, TIMESTAMP

NAMESPACE = "prometheus"
METRIC_TYPE = "prometheus"
RESOLUTION = 60
UNIT = "None"

METADATA_TABLE = "prom_metadata"
EXEMPLARS_TABLE = "prom_exemplars"

# Prometheus' metric types, as its /api/v1/metadata names them.
TYPES = (
    "unknown",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
)

METADATA_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("metric", pa.string()),
        ("type", pa.string()),
        ("help", pa.string()),
        ("unit", pa.string()),
        ("updated", TIMESTAMP),
    ]
)

EXEMPLAR_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("name", pa.string()),
        ("dimensions", ATTR_MAP),
        ("labels", ATTR_MAP),
        ("timestamp", TIMESTAMP),
        ("value", pa.float64()),
    ]
)


def family_name(name: str, metric_type: str) -> str:
    """The metric family of a series name: ``x_bucket``/``x_sum``/``x_count`` of a
    histogram or summary belong to ``x`` (Prometheus' metadata is per family)."""
    if metric_type in ("histogram", "gaugehistogram", "summary"):
        for suffix in ("_bucket", "_sum", "_count", "_created", "_gsum", "_gcount"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
    return name
