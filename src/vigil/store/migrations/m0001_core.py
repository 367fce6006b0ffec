"""The three signal tables and their lookup tables (see vigil.model for the columns)."""

from vigil.store.migrations import Migration

_ATTRS = """
    attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    attributes_typed Array(LowCardinality(String)),
    resource Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_typed Array(LowCardinality(String)),
    scope_name LowCardinality(String),
    scope_version LowCardinality(String),"""

LOGS = f"""
CREATE TABLE IF NOT EXISTS logs (
    tenant LowCardinality(String),
    log_group LowCardinality(String),
    log_stream LowCardinality(String),
    timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    observed_timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    ingestion_time DateTime64(3) DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    severity_number UInt8,
    severity_text LowCardinality(String),
    body String CODEC(ZSTD(1)),{_ATTRS}
    trace_id FixedString(16) CODEC(ZSTD(1)),
    span_id FixedString(8) CODEC(ZSTD(1)),
    flags UInt32,
    service LowCardinality(String),
    INDEX idx_body body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1,
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_stream log_stream TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (tenant, log_group, timestamp)
SETTINGS ttl_only_drop_parts = 1
"""

# Per-stream summary kept as data arrives: DescribeLogStreams and the UI read this instead
# of scanning logs.
LOG_STREAMS = """
CREATE TABLE IF NOT EXISTS log_streams (
    tenant LowCardinality(String),
    log_group LowCardinality(String),
    log_stream String,
    first_event SimpleAggregateFunction(min, DateTime64(9)),
    last_event SimpleAggregateFunction(max, DateTime64(9)),
    last_ingestion SimpleAggregateFunction(max, DateTime64(3)),
    events SimpleAggregateFunction(sum, UInt64),
    bytes SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, log_group, log_stream)
"""

LOG_STREAMS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS log_streams_mv TO log_streams AS
SELECT tenant, log_group, toString(log_stream) AS log_stream,
       min(timestamp) AS first_event, max(timestamp) AS last_event,
       max(ingestion_time) AS last_ingestion, count() AS events,
       sum(length(body)) AS bytes
FROM logs GROUP BY tenant, log_group, log_stream
"""

SPANS = f"""
CREATE TABLE IF NOT EXISTS spans (
    tenant LowCardinality(String),
    trace_id FixedString(16) CODEC(ZSTD(1)),
    span_id FixedString(8) CODEC(ZSTD(1)),
    parent_span_id FixedString(8) CODEC(ZSTD(1)),
    trace_state String CODEC(ZSTD(1)),
    name LowCardinality(String),
    kind UInt8,
    service LowCardinality(String),
    start_time DateTime64(9) CODEC(Delta, ZSTD(1)),
    end_time DateTime64(9) CODEC(Delta, ZSTD(1)),
    duration_ns UInt64 DEFAULT toUInt64(greatest(0,
        toUnixTimestamp64Nano(end_time) - toUnixTimestamp64Nano(start_time))) CODEC(ZSTD(1)),
    status_code UInt8,
    status_message String CODEC(ZSTD(1)),{_ATTRS}
    events Array(Tuple(
        time DateTime64(9), name String,
        attributes Map(LowCardinality(String), String),
        attributes_typed Array(LowCardinality(String)))) CODEC(ZSTD(1)),
    links Array(Tuple(
        trace_id FixedString(16), span_id FixedString(8), trace_state String,
        attributes Map(LowCardinality(String), String),
        attributes_typed Array(LowCardinality(String)))) CODEC(ZSTD(1)),
    INDEX idx_trace trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_duration duration_ns TYPE minmax GRANULARITY 1,
    INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(start_time)
ORDER BY (tenant, service, start_time)
SETTINGS ttl_only_drop_parts = 1
"""

# Trace id -> time range, so a lookup by id reads one day's partitions, not all.
TRACE_INDEX = """
CREATE TABLE IF NOT EXISTS trace_index (
    tenant LowCardinality(String),
    trace_id FixedString(16),
    start SimpleAggregateFunction(min, DateTime64(9)),
    end SimpleAggregateFunction(max, DateTime64(9)),
    spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, trace_id)
"""

TRACE_INDEX_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_index_mv TO trace_index AS
SELECT tenant, trace_id, min(start_time) AS start, max(end_time) AS end, count() AS spans
FROM spans GROUP BY tenant, trace_id
"""

METRICS = """
CREATE TABLE IF NOT EXISTS metrics (
    tenant LowCardinality(String),
    namespace LowCardinality(String),
    name LowCardinality(String),
    dimensions Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    series_id UInt64 DEFAULT cityHash64(tenant, namespace, name,
        mapKeys(dimensions), mapValues(dimensions)),
    unit LowCardinality(String),
    timestamp DateTime64(9) CODEC(DoubleDelta, ZSTD(1)),
    start_time DateTime64(9) CODEC(Delta, ZSTD(1)),
    resolution UInt8,
    kind UInt8,
    value Float64 CODEC(Gorilla, ZSTD(1)),
    count Float64 CODEC(Gorilla, ZSTD(1)),
    min Float64 CODEC(Gorilla, ZSTD(1)),
    max Float64 CODEC(Gorilla, ZSTD(1)),
    bounds Array(Float64) CODEC(ZSTD(1)),
    buckets Array(UInt64) CODEC(ZSTD(1)),
    metric_type LowCardinality(String),
    stream_id UInt64 CODEC(ZSTD(1)),
    cumulative Float64 CODEC(Gorilla, ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (tenant, namespace, name, series_id, timestamp)
SETTINGS ttl_only_drop_parts = 1
"""

# One row per series, so that listing series never scans points.
METRIC_SERIES = """
CREATE TABLE IF NOT EXISTS metric_series (
    tenant LowCardinality(String),
    namespace LowCardinality(String),
    name LowCardinality(String),
    series_id UInt64,
    dimensions SimpleAggregateFunction(any, Map(String, String)),
    units SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    first_seen SimpleAggregateFunction(min, DateTime64(9)),
    last_seen SimpleAggregateFunction(max, DateTime64(9)),
    points SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (tenant, namespace, name, series_id)
"""

METRIC_SERIES_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS metric_series_mv TO metric_series AS
SELECT tenant, namespace, name, series_id, any(dimensions) AS dimensions,
       groupUniqArray(toString(unit)) AS units, min(timestamp) AS first_seen,
       max(timestamp) AS last_seen, count() AS points
FROM metrics GROUP BY tenant, namespace, name, series_id
"""

MIGRATION = Migration(
    id="0001",
    description="logs, spans and metrics tables with their lookup tables",
    statements=(
        LOGS,
        LOG_STREAMS,
        LOG_STREAMS_MV,
        SPANS,
        TRACE_INDEX,
        TRACE_INDEX_MV,
        METRICS,
        METRIC_SERIES,
        METRIC_SERIES_MV,
    ),
)
