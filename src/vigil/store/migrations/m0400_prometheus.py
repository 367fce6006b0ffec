"""Prometheus metadata (type, help, unit per metric family) and exemplars
(``vigil.model.prometheus``). Metadata keeps the newest row per (tenant, metric); reads
use ``argMax`` so that they are right before merges too."""

from vigil.store.migrations import Migration

PROM_METADATA = """
CREATE TABLE IF NOT EXISTS prom_metadata (
    tenant LowCardinality(String),
    metric String,
    type LowCardinality(String),
    help String,
    unit LowCardinality(String),
    updated DateTime64(9)
) ENGINE = ReplacingMergeTree(updated)
ORDER BY (tenant, metric)
"""

PROM_EXEMPLARS = """
CREATE TABLE IF NOT EXISTS prom_exemplars (
    tenant LowCardinality(String),
    name LowCardinality(String),
    dimensions Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    labels Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    timestamp DateTime64(9) CODEC(DoubleDelta, ZSTD(1)),
    value Float64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (tenant, name, timestamp)
TTL toDateTime(timestamp) + INTERVAL 15 DAY
SETTINGS ttl_only_drop_parts = 1
"""

MIGRATION = Migration(
    id="0400_prometheus",
    description="Prometheus metadata and exemplars",
    statements=(PROM_METADATA, PROM_EXEMPLARS),
)
