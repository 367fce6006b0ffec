"""Bench-only loader: a log group of millions of realistic lines written straight into a data
directory's store, without the HTTP API (10M lines through PutLogEvents take ~8 minutes
here; this takes a fraction of that, bounded by ClickHouse's per-row insert work: the JSON
``fields`` column, the level/message columns, the views).

The rows are what PutLogEvents would store: ``DISTINCT`` lines of ``bench.logs_data``
(StructuredLogger JSON and plain access lines) go through the PutLogEvents decoder once,
then the same Arrow batch is inserted again and again through the store's own insert path
(``ClickHouseStore.insert``, as the writer does), each copy shifted later in time, so the
group holds ``rows`` lines at an even spacing over ``[start_ms, start_ms + span_ms)``.
Views (log streams, field catalog) are fed by those inserts as by any other.

Never used by the server or the tests: the log group must still be created through the API
(the state database knows the groups), and the data directory must not be open in a server
while this runs (one chDB path per process)::

    .venv/bin/python -m bench.logs_bulk DATA_DIR GROUP ROWS START_MS SPAN_MS
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pyarrow as pa

from bench.logs_data import message
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

DISTINCT = 200_000
STREAMS = 24


def distinct_batch(group: str, rows: int, start_ms: int, span_ms: int) -> pa.Table:
    """``min(rows, DISTINCT)`` decoded lines spaced as ``rows`` lines over the span."""
    rng = random.Random(42)
    spacing = span_ms / rows
    n = min(rows, DISTINCT)
    events = []
    for i in range(n):
        ts = start_ms + int(i * spacing)
        events.append({"timestamp": ts, "message": message(rng, ts)})
    tables = []
    for chunk in range(0, n, 4000):
        decoded = decode_put_log_events(
            events[chunk : chunk + 4000],
            tenant="default",
            group=group,
            stream=f"worker-{chunk // 4000 % STREAMS}",
            now_ms=start_ms + span_ms,
            retention_days=None,
        ).decoded
        assert decoded.logs is not None
        tables.append(decoded.logs.to_arrow())
    return pa.concat_tables(tables)


def insert_lines(
    store: ClickHouseStore, group: str, rows: int, start_ms: int, span_ms: int
) -> None:
    """Insert ``rows`` lines of ``group``: one decoded batch through ``store.insert``, then
    copies of its stored rows shifted in time by ``INSERT … SELECT`` within the store (the
    copies carry the stored ``fields`` column, so ClickHouse does not parse each JSON
    message again: ~5 µs per row instead of ~25 µs here)."""
    base = distinct_batch(group, rows, start_ms, span_ms)
    store.insert("logs", base)
    n = base.num_rows
    if rows <= n:
        return
    step_ns = int(n * span_ms / rows) * 1_000_000
    columns = [
        r[0]
        for r in store.query_sync(
            "SELECT name FROM system.columns WHERE database = currentDatabase()"
            " AND table = 'logs' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')"
        ).rows
    ]
    shifted = ", ".join(
        "timestamp + toIntervalNanosecond(k * {step:Int64})" if c == "timestamp" else c
        for c in columns
    )
    first = (
        "SELECT {shifted} FROM logs ARRAY JOIN range({lo:UInt64}, {hi:UInt64}) AS k"
        " WHERE tenant = 'default' AND log_group = {group:String}"
        " AND timestamp < fromUnixTimestamp64Milli({end_ms:Int64})"
    ).replace("{shifted}", shifted)
    params = {"step": step_ns, "group": group, "end_ms": start_ms + step_ns // 1_000_000}
    insert = f"INSERT INTO logs ({', '.join(columns)}) "
    settings = " SETTINGS max_threads = 2, max_insert_threads = 2"
    full, rest = divmod(rows, n)
    store.command(insert + first + settings, {**params, "lo": 1, "hi": full})
    if rest:
        store.command(
            insert + first + f" ORDER BY timestamp LIMIT {rest}" + settings,
            {**params, "lo": full, "hi": full + 1},
        )


def main() -> None:
    data_dir, group, rows, start_ms, span_ms = sys.argv[1:6]
    began = time.perf_counter()
    store = ClickHouseStore("chdb://" + str((Path(data_dir) / "clickhouse").resolve()))
    try:
        migrate(store)
        insert_lines(store, group, int(rows), int(start_ms), int(span_ms))
    finally:
        store.close()
    print(f"{int(rows):,} lines in {time.perf_counter() - began:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
