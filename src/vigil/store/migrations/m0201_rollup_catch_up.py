"""Metric rollups and the series table maintained by catch-up instead of per-insert views.

Migration 0200 (and the core's ``metric_series_mv``) computed the rollups inside every
insert into ``metrics``: four materialized views, each analysed and run per insert. That
tripled the cost of an insert (and much more for small ones: ~50 ms of fixed cost per
view). From here on inserts into ``metrics`` run no view; ``vigil.store.metric_rollups``
brings the derived tables up to date in batches, by ingestion order:

* ``metrics`` keeps each row's insert block number (``_block_number``, table-wide and
  increasing in commit order); a catch-up takes the blocks committed since the last one;
* ``metric_rollup_feed`` (Null engine) receives one row per series, unit and 5-minute
  bucket of those blocks; its views fill ``metric_rollup_5m``, ``metric_rollup_1h`` and the
  series' activity in ``metric_series``. The 1-minute rollup of high-resolution points is a
  separate statement of the same catch-up;
* ``metric_series.dimensions`` merges with ``max`` (the empty map of an activity row never
  wins over the series' dimensions), so the dimensions are read from raw rows only for
  series not seen before;
* ``metric_rollup_progress`` records each catch-up's block range before (``done`` = 0) and
  after (``done`` = 1) it runs (the row with the highest ``seq`` is the state); the
  catch-up's inserts carry deduplication tokens, so that finishing an interrupted
  catch-up after a crash cannot count its rows twice.

Everything up to now was rolled up by the old views: the progress starts at the current
last block (migrations run before the server accepts writes).
"""

from vigil.store.migrations import Migration

_ROLLUPS = ("metric_rollup_1m", "metric_rollup_5m", "metric_rollup_1h", "metric_series")

FEED = """
CREATE TABLE IF NOT EXISTS metric_rollup_feed (
    tenant LowCardinality(String),
    namespace LowCardinality(String),
    name LowCardinality(String),
    series_id UInt64,
    unit LowCardinality(String),
    timestamp DateTime,
    count Float64,
    sum Float64,
    min Float64,
    max Float64,
    sketch Tuple(Array(Int32), Array(Float64)),
    first_seen DateTime64(9),
    last_seen DateTime64(9),
    points UInt64
) ENGINE = Null
"""

FEED_5M = """
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_rollup_feed_5m TO metric_rollup_5m AS
SELECT tenant, namespace, name, series_id, unit, timestamp, count, sum, min, max, sketch
FROM metric_rollup_feed
"""

FEED_1H = """
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_rollup_feed_1h TO metric_rollup_1h AS
SELECT tenant, namespace, name, series_id, unit,
       toStartOfHour(metric_rollup_feed.timestamp) AS timestamp,
       sum(metric_rollup_feed.count) AS count, sum(metric_rollup_feed.sum) AS sum,
       min(metric_rollup_feed.min) AS min, max(metric_rollup_feed.max) AS max,
       sumMap(metric_rollup_feed.sketch) AS sketch
FROM metric_rollup_feed
GROUP BY tenant, namespace, name, series_id, unit, timestamp
"""

FEED_SERIES = """
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_rollup_feed_series TO metric_series AS
SELECT tenant, namespace, name, series_id, CAST(map(), 'Map(String, String)') AS dimensions,
       groupUniqArray(toString(unit)) AS units,
       min(metric_rollup_feed.first_seen) AS first_seen,
       max(metric_rollup_feed.last_seen) AS last_seen, sum(metric_rollup_feed.points) AS points
FROM metric_rollup_feed
GROUP BY tenant, namespace, name, series_id
"""

PROGRESS = """
CREATE TABLE IF NOT EXISTS metric_rollup_progress (
    source LowCardinality(String),
    seq UInt64,
    from_block UInt64,
    to_block UInt64,
    done UInt8,
    at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(seq)
ORDER BY source
"""

MIGRATION = Migration(
    id="0201",
    description="metric rollups and series by catch-up (no views on metrics inserts)",
    statements=(
        "ALTER TABLE metrics MODIFY SETTING enable_block_number_column = 1",
        "DROP VIEW IF EXISTS metric_rollup_1m_mv",
        "DROP VIEW IF EXISTS metric_rollup_5m_mv",
        "DROP VIEW IF EXISTS metric_rollup_1h_mv",
        "DROP VIEW IF EXISTS metric_series_mv",
        "ALTER TABLE metric_series MODIFY COLUMN dimensions"
        " SimpleAggregateFunction(max, Map(String, String))",
        *(
            f"ALTER TABLE {table} MODIFY SETTING non_replicated_deduplication_window = 1000"
            for table in _ROLLUPS
        ),
        FEED,
        FEED_5M,
        FEED_1H,
        FEED_SERIES,
        PROGRESS,
        # Re-running this after a crash inserts the same block number again: harmless.
        "INSERT INTO metric_rollup_progress (source, seq, from_block, to_block, done)"
        " SELECT 'metrics', 1, 0, max(max_block_number), 1 FROM system.parts"
        " WHERE database = currentDatabase() AND table = 'metrics' AND active",
    ),
)
