"""Skip indexes on ``logs.body``: insert cost, size and search times, one table per choice.

    .venv/bin/python bench/indexes.py [--rows 2000000]

The same generated log lines (bench/query.py's generator, plus three lines carrying a unique
request id) go into copies of the ``logs`` table that differ only in the body index: none,
``tokenbf_v1`` (the current one), ``ngrambf_v1`` with 3- and 4-grams, and ClickHouse's
``text`` index. For each: insert CPU per row, bytes per row after merge (and of the index),
and the time of the searches a user runs for an id: as the read API does it
(``positionCaseInsensitiveUTF8``), case-sensitive ``position``, ``LIKE``, ``ILIKE`` and
``hasToken``; and a frequent phrase. The table without an index is the baseline.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.query import DAY_NS, NEEDLE, log_chunk, with_needles
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations.m0001_core import LOGS

TOKENBF = "tokenbf_v1(32768, 3, 0)"
VARIANTS = {
    "none": re.sub(r"\n    INDEX idx_body[^\n]*", "", LOGS),
    "tokenbf_v1": LOGS,
    "ngrambf_v1(3)": LOGS.replace(TOKENBF, "ngrambf_v1(3, 65536, 2, 0)"),
    "ngrambf_v1(4)": LOGS.replace(TOKENBF, "ngrambf_v1(4, 65536, 2, 0)"),
    "text": LOGS.replace(
        f"TYPE {TOKENBF} GRANULARITY 1", "TYPE text(tokenizer = 'splitByNonAlpha') GRANULARITY 64"
    ),
}
LOWER = NEEDLE.lower()
TOKEN = NEEDLE.split("-")[1]
SEARCHES = {
    "read API (positionCaseInsensitiveUTF8)": f"positionCaseInsensitiveUTF8(body, '{LOWER}') > 0",
    "position (case-sensitive)": f"position(body, '{NEEDLE}') > 0",
    "LIKE '%id%'": f"body LIKE '%{NEEDLE}%'",
    "ILIKE '%id%'": f"body ILIKE '%{NEEDLE}%'",
    "hasToken": f"hasToken(body, '{TOKEN}')",
    "frequent phrase (read API)": "positionCaseInsensitiveUTF8(body, 'insufficient funds') > 0",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    day = (time.time_ns() // DAY_NS - 1) * DAY_NS
    chunk_rows = 500_000
    chunks = [log_chunk(rng, chunk_rows, day) for _ in range(args.rows // chunk_rows)]
    chunks[1] = with_needles(chunks[1])
    rows = chunk_rows * len(chunks)
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            for name, ddl in VARIANTS.items():
                table = "logs_" + re.sub(r"\W", "", name)
                store.command(ddl.replace("IF NOT EXISTS logs", f"IF NOT EXISTS {table}"))
                cpu = time.process_time()
                for chunk in chunks:
                    store.insert(table, chunk)
                cpu_per_row = (time.process_time() - cpu) / rows * 1e6
                store.command(f"OPTIMIZE TABLE {table} FINAL")
                size, index = store.query_sync(
                    "SELECT sum(bytes_on_disk), sum(secondary_indices_compressed_bytes)"
                    " FROM system.parts WHERE active AND table = {t:String}",
                    {"t": table},
                ).rows[0]
                print(
                    f"{name:14s} insert {cpu_per_row:5.2f} us CPU/row;"
                    f" {size / rows:5.1f} B/row of which index {index / rows:5.2f}"
                )
                for label, condition in SEARCHES.items():
                    sql = (
                        f"SELECT count() FROM {table} WHERE tenant = 'default' AND {condition}"
                        " SETTINGS use_query_condition_cache = 0"
                    )
                    found = store.query_sync(sql).rows[0][0]
                    best = float("inf")
                    for _ in range(3):
                        t0 = time.perf_counter()
                        store.query_sync(sql)
                        best = min(best, time.perf_counter() - t0)
                    print(f"    {label:40s} {best * 1000:7.1f} ms  ({found} rows)")
        finally:
            store.close()


if __name__ == "__main__":
    main()
