"""Logs pillar: ``logs.timestamp`` and ``logs.body_size`` compressed with LZ4 instead of ZSTD(1).

Every Logs Insights query reads both over its whole time range: the range filter reads
each row's timestamp, and the statistics (recordsScanned, bytesScanned) sum ``body_size``
over the range. Decompressing them was most of that statistics query: measured on 10M
lines (bench/RESULTS.md, Logs), ``count(), sum(body_size)`` over a day took 0.38 of the
time with LZ4, for 0.54x the timestamp bytes (Delta makes regular timestamps small either
way) and 1.33x the body_size bytes (~1.1 B per row). Existing parts keep ZSTD until merges
rewrite them.
"""

from vigil.store.migrations import Migration

MIGRATION = Migration(
    id="0106",
    description="logs.timestamp, logs.body_size: LZ4 (faster range filters and statistics)",
    statements=(
        "ALTER TABLE logs MODIFY COLUMN timestamp DateTime64(9) CODEC(Delta, LZ4)",
        "ALTER TABLE logs MODIFY COLUMN body_size UInt32 DEFAULT length(body) CODEC(T64, LZ4)",
    ),
)
