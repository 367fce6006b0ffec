"""Where PutLogEvents ingest goes in the store: insert CPU per log line of realistic
PutLogEvents rows into a fresh store with every migration (so the `fields` JSON column and
the materialized views), against the same rows whose messages are made non-JSON (the
baseline, measured in the same run), and ClickHouse's cost of casting a message to the
JSON type on its own. CPU time of this process (chDB runs in it), best of 3.

    .venv/bin/python bench/logs_insert.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

import pyarrow as pa
import pyarrow.compute as pc

from bench.logs_data import message
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

BATCH = 50_000


def put_rows(rows: int) -> pa.Table:
    rng = random.Random(1)
    now = int(time.time() * 1000)
    events = [{"timestamp": now - 60_000, "message": message(rng, now)} for _ in range(rows)]
    tables = []
    for i in range(0, rows, 2000):  # PutLogEvents' 1 MB limit
        decoded = decode_put_log_events(
            events[i : i + 2000],
            tenant="default",
            group="/bench/insert",
            stream="s",
            now_ms=now,
            retention_days=None,
        ).decoded
        assert decoded.logs is not None
        tables.append(decoded.logs.to_arrow())
    return pa.concat_tables(tables).combine_chunks()


def insert_cpu(table: pa.Table) -> float:
    """CPU µs per row of inserting ``table`` in 50k-row batches into a fresh store."""
    best = float("inf")
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            store = ClickHouseStore(tmp)
            try:
                migrate(store)
                store.insert("logs", table.slice(0, 1000))  # warm-up
                began = time.process_time()
                for i in range(0, table.num_rows, BATCH):
                    store.insert("logs", table.slice(i, BATCH))
                best = min(best, time.process_time() - began)
            finally:
                store.close()
    return best / int(table.num_rows) * 1e6


def cast_cpu(table: pa.Table) -> dict[str, float]:
    """CPU µs per row of ClickHouse functions over the messages, outside any insert."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            store.command("CREATE TABLE src (body String) ENGINE = Memory")
            store.insert("src", table.select(["body"]))
            message = "if(startsWith(body, '{'), body, '{}')"
            queries = {
                "CAST(message AS JSON)": f"sum(length(JSONAllPaths(CAST({message}, 'JSON'))))",
                "isValidJSON(message)": "countIf(isValidJSON(body))",
                "JSONExtractKeysAndValuesRaw": "sum(length(JSONExtractKeysAndValuesRaw(body)))",
            }
            for label, expr in queries.items():
                best = float("inf")
                for _ in range(3):
                    began = time.process_time()
                    store.query_sync(f"SELECT {expr} FROM src")
                    best = min(best, time.process_time() - began)
                out[label] = best / int(table.num_rows) * 1e6
        finally:
            store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    table = put_rows(args.rows)
    body = table.column("body")
    plain = table.set_column(
        table.schema.get_field_index("body"),
        "body",
        pc.binary_replace_slice(body, 0, 1, "X").cast(pa.string()),  # "{…" → "X…": not JSON
    )
    json_share = pc.mean(pc.starts_with(body, "{")).as_py()
    base = insert_cpu(plain)
    full = insert_cpu(table)
    print(f"{args.rows:,} PutLogEvents rows, {json_share:.0%} with a JSON message")
    print(f"insert, messages made non-JSON (baseline) {base:6.1f} µs CPU/row")
    print(
        f"insert, as sent                           {full:6.1f} µs CPU/row  ratio {full / base:.2f}"
    )
    for label, cost in cast_cpu(table).items():
        print(f"  {label:40s} {cost:6.2f} µs CPU/row")


if __name__ == "__main__":
    main()
