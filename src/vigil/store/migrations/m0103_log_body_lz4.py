"""Logs pillar: ``logs.body`` compressed with LZ4 instead of ZSTD(1).

Searches that cannot use the token index (a substring in every granule, a regex) read
and decompress every message. Measured on 2M realistic lines (bench/logs_codec.py):
reading every message 1.8–2.6x faster, a substring count 1.2–1.8x, for 1.7x the bytes
of the body column on disk (26.9 → 45.2 B per line). Existing parts keep ZSTD until
merges rewrite them.
"""

from vigil.store.migrations import Migration

MIGRATION = Migration(
    id="0103",
    description="logs.body: LZ4 (faster full-text scans)",
    statements=("ALTER TABLE logs MODIFY COLUMN body String CODEC(LZ4)",),
)
