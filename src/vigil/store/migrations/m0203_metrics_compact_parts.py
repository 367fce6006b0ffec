"""Metrics pillar: the writer's ``metrics`` parts stay Compact up to 64 MB, not 10 MB.

A flush of 100,000 remote-write rows is a ~12 MB part: past the default 10 MB it was
written Wide, two files per column and per Map substream (~50 files), and creating files
is what an insert spends most of its CPU on here (ext4 inode allocation: `perf` on chDB's
inserts). Compact, one data file and one marks file: −25-35 % CPU per flush of 100,000
rows (bench/RESULTS.md, remote write). Merges still make Wide parts once they pass 64 MB,
so the big parts reads scan keep their per-column files.
"""

from vigil.store.migrations import Migration

MIGRATION = Migration(
    id="0203",
    description="metrics: Compact parts up to 64 MB (cheaper inserts of the writer's flushes)",
    statements=("ALTER TABLE metrics MODIFY SETTING min_bytes_for_wide_part = 67108864",),
)
