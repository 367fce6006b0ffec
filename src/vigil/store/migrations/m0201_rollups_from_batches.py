"""Rollups and the series table fed from pre-aggregated batches instead of views on ``metrics``.

The store summarizes every ``metrics`` insert itself (``vigil.store.rollups``) and inserts
those few rows into ``metric_rollup_input`` (a Null table: nothing is kept there). Its views
only add ``series_id`` — the same expression over the same column types as the ``metrics``
DEFAULT, so the hashes match — and route each row to its table by ``level``. The views
m0001/m0200 kept on ``metrics`` (the series view and the three rollup views, which grouped
every inserted row) are dropped. Rollup tables and their data are unchanged.
"""

from vigil.store.migrations import Migration

# Literals, not vigil.store.rollups' constants: a released migration never changes.
INPUT_TABLE = "metric_rollup_input"
LEVELS = ((60, "1m"), (300, "5m"), (3600, "1h"))
SERIES = 0

_SERIES_ID = "cityHash64(tenant, namespace, name, mapKeys(dimensions), mapValues(dimensions))"

_INPUT = f"""
CREATE TABLE IF NOT EXISTS {INPUT_TABLE} (
    level UInt16,
    tenant LowCardinality(String),
    namespace LowCardinality(String),
    name LowCardinality(String),
    dimensions Map(LowCardinality(String), String),
    unit LowCardinality(String),
    timestamp DateTime,
    count Float64,
    sum Float64,
    min Float64,
    max Float64,
    keys Array(Int32),
    weights Array(Float64),
    units Array(String),
    first_seen DateTime64(9),
    last_seen DateTime64(9),
    points UInt64
) ENGINE = Null
"""


def _level_view(seconds: int, level: str) -> str:
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {INPUT_TABLE}_{level}_mv TO metric_rollup_{level} AS
SELECT tenant, namespace, name, {_SERIES_ID} AS series_id, unit, timestamp,
       count, sum, min, max, (keys, weights) AS sketch
FROM {INPUT_TABLE} WHERE level = {seconds}
"""


_SERIES_VIEW = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {INPUT_TABLE}_series_mv TO metric_series AS
SELECT tenant, namespace, name, {_SERIES_ID} AS series_id,
       CAST(dimensions, 'Map(String, String)') AS dimensions, units, first_seen, last_seen, points
FROM {INPUT_TABLE} WHERE level = {SERIES}
"""

MIGRATION = Migration(
    id="0201",
    description="metric rollups and series from pre-aggregated batches, not views on metrics",
    statements=(
        _INPUT,
        *(_level_view(seconds, level) for seconds, level in LEVELS),
        _SERIES_VIEW,
        "DROP VIEW IF EXISTS metric_rollup_1m_mv",
        "DROP VIEW IF EXISTS metric_rollup_5m_mv",
        "DROP VIEW IF EXISTS metric_rollup_1h_mv",
        "DROP VIEW IF EXISTS metric_series_mv",
    ),
)
