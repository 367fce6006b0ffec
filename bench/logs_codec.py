"""The codec of ``logs.body`` side by side: the same log lines copied into two tables that
differ only in the body's codec (ZSTD(1), the baseline, and LZ4, what migration 0103
sets), then the body's size on disk and the time of a full read and of a substring count
(what `filter @message like /timeout/` runs), best of 3, in the same run.

    .venv/bin/python bench/logs_codec.py [--rows 2000000] [--dir bench/out/logs-query]

Reads its lines from the store `bench/logs_query.py` generated (run that first).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vigil.store.clickhouse import ClickHouseStore

CODECS = {"zstd": "ZSTD(1)", "lz4": "LZ4"}
QUERIES = {
    "read every message": "SELECT sum(cityHash64(body)) FROM {t}",
    "substring count": "SELECT count() FROM {t} WHERE position(body, 'timeout') > 0",
}


def best(store: ClickHouseStore, sql: str) -> float:
    times = []
    for _ in range(3):
        began = time.perf_counter()
        store.query_sync(sql)
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=Path("bench/out/logs-query"))
    args = parser.parse_args()
    store = ClickHouseStore("chdb://" + str(args.dir.resolve()), query_timeout=600)
    try:
        for name, codec in CODECS.items():
            store.command(f"DROP TABLE IF EXISTS bench_body_{name}")
            store.command(
                f"CREATE TABLE bench_body_{name} (timestamp DateTime64(9),"
                f" body String CODEC({codec})) ENGINE = MergeTree ORDER BY timestamp"
            )
            store.command(
                f"INSERT INTO bench_body_{name} SELECT timestamp, body FROM logs"
                f" ORDER BY timestamp LIMIT {args.rows}"
            )
            store.command(f"OPTIMIZE TABLE bench_body_{name} FINAL")
        sizes: dict[str, int] = {
            str(table): int(size)
            for table, size in store.query_sync(
                "SELECT table, sum(column_data_compressed_bytes) FROM system.parts_columns"
                " WHERE active AND table LIKE 'bench_body_%' AND column = 'body' GROUP BY table"
            ).rows
        }
        base = sizes["bench_body_zstd"]
        for name in CODECS:
            size = sizes[f"bench_body_{name}"]
            print(f"{name:5s} body on disk {size / args.rows:6.1f} B/line  ratio {size / base:.2f}")
        for label, sql in QUERIES.items():
            zstd = best(store, sql.format(t="bench_body_zstd"))
            lz4 = best(store, sql.format(t="bench_body_lz4"))
            print(
                f"{label:20s} zstd {zstd * 1000:6.0f} ms  lz4 {lz4 * 1000:6.0f} ms"
                f"  ratio {lz4 / zstd:.2f}"
            )
    finally:
        for name in CODECS:
            store.command(f"DROP TABLE IF EXISTS bench_body_{name}")
        store.close()


if __name__ == "__main__":
    main()
