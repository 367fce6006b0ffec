"""The service graph kept per minute, recomputed from the spans of the minutes new spans
touch (vigil.query.traces.servicegraph has the catch-up and explains the semantics).

``span_blocks`` records each insert block of ``spans`` (its tenant and time range) through a
materialized view, so the catch-up knows what is new without a column on ``spans``; it
marks a block done (``done`` = 1 replaces the row) once the minutes it touched are
recomputed. The view rides on the insert: a WAL replay that ClickHouse deduplicates adds no
block, and a block recorded twice only costs a second, identical recomputation.

``service_graph`` holds one row per (tenant, minute, kind, caller, callee, root, other
minute) and generation: a recomputation of a minute writes all its rows with a new ``gen``
(and a ``gen`` row, so that a minute with nothing left still has a newest generation);
reads keep the newest generation of each minute. Merges keep the newest row per key.

The last statement registers the spans already stored (an upgraded data directory) as one
block per tenant, so the first catch-up builds their graph.
"""

from vigil.store.migrations import Migration

SPAN_BLOCKS = """
CREATE TABLE IF NOT EXISTS span_blocks (
    tenant LowCardinality(String),
    id UUID,
    lo DateTime64(9),
    hi DateTime64(9),
    spans UInt64,
    done UInt8 DEFAULT 0,
    marked DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(done)
ORDER BY (tenant, id)
TTL marked + INTERVAL 1 HOUR DELETE WHERE done = 1
"""

SPAN_BLOCKS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS span_blocks_mv TO span_blocks AS
SELECT tenant, generateUUIDv4() AS id, min(start_time) AS lo,
       greatest(max(end_time), max(start_time)) AS hi, count() AS spans,
       toUInt8(0) AS done, now() AS marked
FROM spans GROUP BY tenant
"""

SERVICE_GRAPH = """
CREATE TABLE IF NOT EXISTS service_graph (
    tenant LowCardinality(String),
    minute DateTime,
    other DateTime,
    kind Enum8('gen' = 0, 'node' = 1, 'edge' = 2, 'remote' = 3),
    src LowCardinality(String),
    src_type LowCardinality(String),
    dst LowCardinality(String),
    dst_type LowCardinality(String),
    root UInt8,
    gen UInt64,
    requests UInt64,
    errors UInt64,
    faults UInt64,
    throttles UInt64,
    total_ns UInt64,
    buckets Array(Float64),
    counts Array(UInt64),
    first DateTime64(9),
    last DateTime64(9)
) ENGINE = ReplacingMergeTree(gen)
PARTITION BY toDate(minute)
ORDER BY (tenant, minute, kind, src, src_type, dst, dst_type, root, other)
SETTINGS ttl_only_drop_parts = 1
"""

BACKFILL = """
INSERT INTO span_blocks (tenant, id, lo, hi, spans)
SELECT tenant, generateUUIDv4(), min(start_time), greatest(max(end_time), max(start_time)),
       count()
FROM spans GROUP BY tenant
"""

MIGRATION = Migration(
    id="0303",
    description="service graph kept per minute by a catch-up over new span blocks",
    statements=(SPAN_BLOCKS, SPAN_BLOCKS_MV, SERVICE_GRAPH, BACKFILL),
)
