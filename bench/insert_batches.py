"""Raw chDB inserts by batch size: rows/s, CPU per row and peak memory (the writer's flush size).

    .venv/bin/python bench/insert_batches.py [--signals logs,traces,metrics]
                                             [--sizes 50000,100000,250000] [--copies 18]
                                             [--paths python,infile]

For each signal the bench's realistic OTLP payloads (bench/payloads.py) are decoded once,
repeated ``--copies`` times, and inserted into a fresh store (all migrations, so every
materialized view runs) in batches of each size. Each size runs in its own process, so
its peak RSS is its own; the figure to compare is the ratio to the first size, measured
in the same run. Paths: ``python`` is what the store does (``INSERT … SELECT FROM
Python(table)``, the Arrow buffers read in place), ``infile`` is clickhouse-connect's
``insert_arrow`` (the table serialized to a temporary file, then ``INSERT … FROM INFILE``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import TABLES, build_payloads

COLUMNS = {"logs": "logs", "traces": "spans", "metrics": "metrics"}
INFILE_SETTINGS = {"type_json_skip_duplicated_paths": 1}


def rows(signal: str, copies: int) -> pa.Table:
    from vigil.ingest.otlp.native import decode_protobuf
    from vigil.ingest.otlp.signals import SIGNALS

    tables = []
    for body, _ in [p for c in range(4) for p in build_payloads(signal, c, 12)]:
        decoded = decode_protobuf(SIGNALS[signal], body, "default", time.time_ns())
        tables.append(getattr(decoded, COLUMNS[signal]).to_arrow())
    return pa.concat_tables(tables * copies).combine_chunks()


def one(signal: str, size: int, copies: int, path: str) -> dict[str, float]:
    """Runs in a child process: insert, report rate, CPU per row and peak RSS."""
    from vigil.store.clickhouse import ClickHouseStore
    from vigil.store.migrations import migrate

    whole = rows(signal, copies)
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            migrate(store)
            client = store._thread_client()

            def insert(rows: pa.Table) -> None:
                if path == "python":
                    store.insert(TABLES[signal], rows)
                else:
                    # A token of its own, as the store gives every insert: the data repeats,
                    # and without one ClickHouse would drop a slice identical to an earlier one.
                    token = {"insert_deduplication_token": uuid.uuid4().hex}
                    client.insert_arrow(TABLES[signal], rows, settings=INFILE_SETTINGS | token)

            insert(whole.slice(0, 1_000))  # warm-up
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, whole.num_rows, size):
                insert(whole.slice(start, size))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finally:
            store.close()
    return {
        "rows": whole.num_rows,
        "rate": whole.num_rows / wall,
        "cpu_us": cpu / whole.num_rows * 1e6,
        "peak_mib": peak / 1024,
        "growth_mib": (peak - before) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", default="logs,traces,metrics")
    parser.add_argument("--sizes", default="50000,100000,250000")
    parser.add_argument("--copies", type=int, default=18)
    parser.add_argument("--paths", default="python")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        signal, size, path = args.child
        print(json.dumps(one(signal, int(size), args.copies, path)))
        return
    runs = [(int(s), p) for s in args.sizes.split(",") for p in args.paths.split(",")]
    for signal in args.signals.split(","):
        results = []
        for size, path in runs:
            command = [sys.executable, __file__, "--copies", str(args.copies)]
            command += ["--child", signal, str(size), path]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
        base = results[0]
        for (size, path), r in zip(runs, results, strict=True):
            print(
                f"{signal:8s} {size:8,d}-row batches {path:6s} {r['rate']:9,.0f} rows/s"
                f" ({r['rate'] / base['rate']:4.2f}x)  CPU {r['cpu_us']:5.2f} µs/row"
                f" ({r['cpu_us'] / base['cpu_us']:4.2f}x)  peak RSS {r['peak_mib']:6,.0f} MiB"
                f" (+{r['growth_mib']:,.0f} while inserting)  {r['rows']:,} rows",
                flush=True,
            )


if __name__ == "__main__":
    main()
