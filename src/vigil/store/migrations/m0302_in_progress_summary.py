"""In-progress segments count in trace summaries, so that a trace whose segments have only
started is found (``partial``) before any of them completes. They rank last (3) for the
entry point, below any completed segment, and add no span or error counts."""

from vigil.store.migrations import Migration
from vigil.store.migrations.m0301_trace_summary import ENTRY

IN_PROGRESS_SUMMARY_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_summary_in_progress_mv TO trace_summary AS
SELECT tenant, toStartOfHour(start_time) AS hour, trace_id,
       min(start_time) AS start, max(start_time) AS end, toUInt64(0) AS spans,
       toUInt64(0) AS segments, toUInt64(0) AS errors, toUInt64(0) AS faults,
       toUInt64(0) AS throttles,
       groupUniqArray((toString(service), '')) AS nodes,
       CAST([], 'Array(Tuple(String, String, UInt8, String))') AS annotations,
       CAST([], 'Array(String)') AS users,
       min(CAST((3, start_time, toString(service), '', name, toUInt64(0), '', '',
                 toUInt16(0), '', ''), '{ENTRY}')) AS entry
FROM xray_in_progress GROUP BY tenant, hour, trace_id
"""

MIGRATION = Migration(
    id="0302",
    description="in-progress X-Ray segments in trace summaries",
    statements=(IN_PROGRESS_SUMMARY_MV,),
)
