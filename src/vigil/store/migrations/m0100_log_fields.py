"""Logs pillar: fields discovered in messages at ingest, for Logs Insights and filters.

``fields`` holds a JSON message flattened to ``a.b`` / ``a.0`` keys (see ingest.logfields),
so that queries read one map instead of parsing every message again. The token index on
its values lets ``level = "ERROR"`` skip granules the way the body index does for terms.
"""

from vigil.store.migrations import Migration

MIGRATION = Migration(
    id="0100",
    description="logs.fields: fields discovered in JSON messages",
    statements=(
        "ALTER TABLE logs ADD COLUMN IF NOT EXISTS fields"
        " Map(LowCardinality(String), String) CODEC(ZSTD(1)) AFTER service",
    ),
)
