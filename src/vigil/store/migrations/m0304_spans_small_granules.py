"""``spans`` rebuilt with granules of 1,024 rows and small compression blocks.

A trace lookup by id reads the few granules its bloom filter keeps, of every column: with
8,192-row granules that was most of the time of BatchGetTraces (bench/RESULTS.md, Traces).
1,024-row granules and 16-64 KiB compression blocks halve it; scans and inserts cost about
the same (+4 % insert CPU, +2.5 % disk, measured). ``index_granularity`` cannot be altered
(READONLY_SETTING), so the table is copied and swapped:

1. a leftover copy of an interrupted run is dropped;
2. ``spans_rebuild`` is created with the columns, defaults, codecs and indexes of ``spans``
   (``AS spans``) and the new settings, and everything is copied into it;
3. ``EXCHANGE TABLES`` swaps the two names atomically. Materialized views follow the
   name ``spans`` (checked: ``trace_index_mv``, ``trace_summary_mv`` and ``span_blocks_mv``
   keep receiving inserts), TTL and the deduplication window are set again at start-up;
4. the old table is dropped.

A crash anywhere re-runs the whole sequence safely (after the swap, step 1 drops the old
table and the copy is made again from the rebuilt one). It runs after the WAL replay
(``after_replay``): the rebuilt table's deduplication window is empty, so the range being
inserted when vigil stopped must be in the store before the copy. The copy takes about
as long as inserting the spans again (~25 s for 10M spans here), once, at the start-up
that upgrades.
"""

from vigil.store.migrations import Migration

SETTINGS = (
    "ttl_only_drop_parts = 1, index_granularity = 1024,"
    " min_compress_block_size = 16384, max_compress_block_size = 65536"
)

MIGRATION = Migration(
    id="0304",
    description="spans rebuilt with 1,024-row granules (trace lookups by id)",
    statements=(
        "DROP TABLE IF EXISTS spans_rebuild",
        "CREATE TABLE spans_rebuild AS spans ENGINE = MergeTree"
        " PARTITION BY toDate(start_time) ORDER BY (tenant, service, start_time)"
        f" SETTINGS {SETTINGS}",
        "INSERT INTO spans_rebuild SELECT * FROM spans",
        "EXCHANGE TABLES spans AND spans_rebuild",
        "DROP TABLE spans_rebuild",
    ),
    after_replay=True,
)
