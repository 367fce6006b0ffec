"""``span_blocks`` recorded per day of span start, not per insert.

An insert block's time range is the hull of its spans: one span stamped years ago beside
today's made a block whose catch-up walked every minute between them (issue 18 item 5).
Grouping the view by the day a span starts gives such an insert two small blocks; an
ordinary insert, whose spans started within seconds of each other, still gives one (two
around midnight). The view is replaced in one step each way (drop, create): an insert
running between the two statements records no block, and its minutes are recomputed by
the next block that touches them, or by a read of the window (a read recomputes every
minute some pending block still needs, and the upgrade is at start-up, before listeners).
"""

from vigil.store.migrations import Migration

SPAN_BLOCKS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS span_blocks_mv TO span_blocks AS
SELECT tenant, generateUUIDv4() AS id, min(start_time) AS lo,
       greatest(max(end_time), max(start_time)) AS hi, count() AS spans,
       toUInt8(0) AS done, now() AS marked
FROM spans GROUP BY tenant, toDate(start_time)
"""

MIGRATION = Migration(
    id="0305",
    description="span blocks per day of span start (a stray old span walks no decades)",
    statements=("DROP VIEW IF EXISTS span_blocks_mv", SPAN_BLOCKS_MV),
)
