"""Per-trace summaries kept as spans arrive, and in-progress X-Ray segments.

``trace_summary`` holds one partial row per (tenant, hour of the spans, trace) and insert
block; readers merge them with ``GROUP BY trace_id`` (min/max/sum/union), which is what
GetTraceSummaries and the filter expressions read instead of scanning every span.
``entry`` is the trace's entry point: the minimum of (rank, start, …) where rank is 0 for a
root segment, 1 for another segment and 2 for a subsegment, so that merging keeps the root.

``xray_in_progress`` keeps segments sent with ``in_progress: true`` (latest per id) until
the completed document arrives in ``spans``.
"""

from vigil.store.migrations import Migration

_ZERO_SPAN = "unhex('0000000000000000')"

ENTRY = (
    "Tuple(rank UInt8, start DateTime64(9), service String, origin String, name String,"
    " duration UInt64, method String, url String, status UInt16, user_agent String,"
    " client_ip String)"
)

TRACE_SUMMARY = f"""
CREATE TABLE IF NOT EXISTS trace_summary (
    tenant LowCardinality(String),
    hour DateTime,
    trace_id FixedString(16),
    start SimpleAggregateFunction(min, DateTime64(9)),
    end SimpleAggregateFunction(max, DateTime64(9)),
    spans SimpleAggregateFunction(sum, UInt64),
    segments SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    faults SimpleAggregateFunction(sum, UInt64),
    throttles SimpleAggregateFunction(sum, UInt64),
    nodes SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, String))),
    annotations SimpleAggregateFunction(groupUniqArrayArray,
        Array(Tuple(String, String, UInt8, String))),
    users SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    entry SimpleAggregateFunction(min, {ENTRY})
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(hour)
ORDER BY (tenant, hour, trace_id)
SETTINGS ttl_only_drop_parts = 1
"""

TRACE_SUMMARY_MV = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_summary_mv TO trace_summary AS
SELECT tenant, toStartOfHour(start_time) AS hour, trace_id,
       min(start_time) AS start, max(end_time) AS end, count() AS spans,
       sum(segment) AS segments, sum(error) AS errors, sum(fault) AS faults,
       sum(throttle) AS throttles,
       arrayDistinct(arrayConcat(
           groupArrayIf((toString(service), toString(origin)), segment = 1 AND service != ''),
           groupArrayIf((toString(remote_service), toString(remote_type)),
                        remote_service != ''))) AS nodes,
       groupUniqArrayArray(arrayMap((k, v) -> (toString(k), v,
           toUInt8(has(attributes_typed, k)), toString(service)),
           mapKeys(annotations), mapValues(annotations))) AS annotations,
       groupUniqArrayIf(user, user != '') AS users,
       min(CAST((if(segment = 1, toUInt8(parent_span_id != {_ZERO_SPAN}), 2), start_time,
                 toString(service), toString(origin), toString(name), duration_ns,
                 toString(http_method), http_url, http_status, http_user_agent,
                 http_client_ip), '{ENTRY}')) AS entry
FROM spans GROUP BY tenant, hour, trace_id
"""

IN_PROGRESS = """
CREATE TABLE IF NOT EXISTS xray_in_progress (
    tenant LowCardinality(String),
    trace_id FixedString(16),
    span_id FixedString(8),
    parent_span_id FixedString(8),
    service LowCardinality(String),
    name String,
    start_time DateTime64(9),
    received DateTime64(3) DEFAULT now64(3),
    document String CODEC(ZSTD(3))
) ENGINE = ReplacingMergeTree(received)
PARTITION BY toDate(start_time)
ORDER BY (tenant, trace_id, span_id)
SETTINGS ttl_only_drop_parts = 1
"""

MIGRATION = Migration(
    id="0301",
    description="trace summaries (filter expressions) and in-progress X-Ray segments",
    statements=(TRACE_SUMMARY, TRACE_SUMMARY_MV, IN_PROGRESS),
)
