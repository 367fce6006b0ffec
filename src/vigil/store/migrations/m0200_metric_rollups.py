"""Metric rollups: 1-minute, 5-minute and 1-hour aggregates per series, unit and bucket.

Each rollup is an AggregatingMergeTree fed by a materialized view, so it is maintained as
points arrive (in the same insert) and merges keep one row per bucket.

* ``metric_rollup_1m`` summarizes **high-resolution** points only (StorageResolution 1):
  standard-resolution points are already one-minute data, so the raw rows themselves are
  the 1-minute level (kept 15 days; exact, and half the bytes of a rollup row).
* ``metric_rollup_5m`` summarizes every point; ``metric_rollup_1h`` is computed from the
  5-minute rows (a cascade: the points-to-sketch expression runs on raw rows only).

Raw rows expire by resolution: high-resolution ones after the raw retention (3 h),
standard ones after the 1-minute retention (15 days); ``metrics`` therefore drops expired
rows inside parts (``ttl_only_drop_parts = 0``). A row
holds count, sum, min, max (unknown min/max are ±inf so that they merge) and the
percentile sketch (``vigil.model.sketch``). Rows are kept per unit so that a query with a
Unit reads only that unit's data. TTLs are set from the retention ladder at start-up
(``vigil.store.retention``); the ones here are the defaults.
"""

from vigil.model.sketch import sketch_sql
from vigil.store.migrations import Migration

_LEVELS = (
    ("1m", 60, "toDate(timestamp)", 15 * 86400),
    ("5m", 300, "toMonday(timestamp)", 63 * 86400),
    ("1h", 3600, "toYYYYMM(timestamp)", 455 * 86400),
)


def _table(level: str, partition: str, ttl: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS metric_rollup_{level} (
    tenant LowCardinality(String),
    namespace LowCardinality(String),
    name LowCardinality(String),
    series_id UInt64,
    unit LowCardinality(String),
    timestamp DateTime CODEC(DoubleDelta, ZSTD(1)),
    count SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    sketch SimpleAggregateFunction(sumMap, Tuple(Array(Int32), Array(Float64))) CODEC(ZSTD(3))
) ENGINE = AggregatingMergeTree
PARTITION BY {partition}
ORDER BY (tenant, namespace, name, series_id, timestamp, unit)
TTL timestamp + toIntervalSecond({ttl})
SETTINGS ttl_only_drop_parts = 1
"""


def _cascade(level: str, seconds: int, source: str) -> str:
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_rollup_{level}_mv TO metric_rollup_{level} AS
SELECT tenant, namespace, name, series_id, unit,
       toDateTime(intDiv(toUnixTimestamp({source}.timestamp), {seconds}) * {seconds}) AS timestamp,
       sum({source}.count) AS count, sum({source}.sum) AS sum,
       min({source}.min) AS min, max({source}.max) AS max,
       sumMap({source}.sketch) AS sketch
FROM {source}
GROUP BY tenant, namespace, name, series_id, unit, timestamp
"""


def _view(level: str, seconds: int, where: str = "") -> str:
    keys, weights = sketch_sql("metrics.")
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_rollup_{level}_mv TO metric_rollup_{level} AS
SELECT tenant, namespace, name, series_id, unit,
       toDateTime(intDiv(toUnixTimestamp(metrics.timestamp), {seconds}) * {seconds}) AS timestamp,
       sum(metrics.count) AS count,
       sum(if(kind = 0, value * metrics.count, value)) AS sum,
       min(if(kind = 0, value, if(isNaN(metrics.min), inf, metrics.min))) AS min,
       max(if(kind = 0, value, if(isNaN(metrics.max), -inf, metrics.max))) AS max,
       sumMap({keys}, {weights}) AS sketch
FROM metrics {where}
GROUP BY tenant, namespace, name, series_id, unit, timestamp
"""


MIGRATION = Migration(
    id="0200",
    description="metric rollups (1 min, 5 min, 1 h) with percentile sketches",
    statements=(
        *(_table(level, partition, ttl) for level, _, partition, ttl in _LEVELS),
        _view("1m", 60, "WHERE resolution = 1"),
        _view("5m", 300),
        _cascade("1h", 3600, "metric_rollup_5m"),
        "ALTER TABLE metrics MODIFY SETTING ttl_only_drop_parts = 0",
    ),
)
