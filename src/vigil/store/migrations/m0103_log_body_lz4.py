"""Logs pillar: ``logs.body`` compressed with LZ4 instead of ZSTD(1).

Searches that cannot use the token index (a substring in every granule, a regex) read
and decompress every message, and decompression was most of their time. Measured on
2M realistic lines (bench/RESULTS.md, Logs): a substring count 1.8x faster, inserts
cheaper, for 1.7x the bytes of the body column on disk (26 → 43 B per line). Existing
parts keep ZSTD until merges rewrite them.
"""

from vigil.store.migrations import Migration

MIGRATION = Migration(
    id="0103",
    description="logs.body: LZ4 (faster full-text scans)",
    statements=("ALTER TABLE logs MODIFY COLUMN body String CODEC(LZ4)",),
)
