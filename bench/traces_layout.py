"""The layout of ``spans`` (migration 0304) in one process: reads and inserts, alternating.

    .venv/bin/python bench/traces_layout.py --data DIR [--rounds 3]

DIR is a store made by bench/traces_query.py (work on a copy: this adds a table). A copy of
``spans`` with the other layout (8,192-row granules and default compression blocks when
``spans`` has 1,024-row granules, and the reverse) is made once as ``spans_other`` and both
are merged to one part; each round then swaps the two names with ``EXCHANGE TABLES`` and
times, with the same code, best of 3: filtered and unfiltered GetTraceSummaries
(``query.xray.search_summaries``), BatchGetTraces (``batch_get``) and trace by id
(``query.traces.get_trace``). Then the insert CPU of this process per span row into empty
tables of each layout (no views), the same 200k-row batches alternating. Prints the
median over rounds per layout and the ratio 1,024 / 8,192.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traces_compare import best
from bench.traces_data import MIDDLE, span_table
from vigil.query import traces as xq
from vigil.query.traces import lookup as tq
from vigil.query.xrayfilter import compile_filter, parse
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations.m0304_spans_small_granules import SETTINGS as SMALL

LAYOUT = "ENGINE = MergeTree PARTITION BY toDate(start_time) ORDER BY (tenant, service, start_time)"
LARGE = "ttl_only_drop_parts = 1"
EXPR = 'service("{}") AND annotation.status = "error" AND duration > 1'


def granules(store: ClickHouseStore, table: str = "spans") -> str:
    engine = store.query_sync(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase()"
        " AND name = {t:String}",
        {"t": table},
    ).rows[0][0]
    return "1024" if "index_granularity = 1024" in str(engine) else "8192"


def prepare(store: ClickHouseStore) -> None:
    if store.query_sync("EXISTS TABLE spans_other").rows[0][0]:
        return
    other = LARGE if granules(store) == "1024" else SMALL
    store.command(f"CREATE TABLE spans_other AS spans {LAYOUT} SETTINGS {other}")
    store.command("INSERT INTO spans_other SELECT * FROM spans")
    for table in ("spans", "spans_other"):
        store.command(f"OPTIMIZE TABLE {table} FINAL")


def reads(store: ClickHouseStore, meta: dict[str, Any]) -> dict[str, Callable[[], Awaitable[Any]]]:
    lo, hi = meta["lo"] - 10**9, meta["hi"] + 10**9
    services = iter(MIDDLE * 1000)
    ids = iter(meta["samples"] * 1000)

    def filtered() -> Awaitable[Any]:
        f = compile_filter(parse(EXPR.format(next(services))))
        return xq.search_summaries(store, xq.SummarySearch("default", lo, hi, filter=f))

    return {
        "GetTraceSummaries, filtered": filtered,
        "GetTraceSummaries, no filter": lambda: xq.search_summaries(
            store, xq.SummarySearch("default", lo, hi)
        ),
        "BatchGetTraces, one trace": lambda: xq.batch_get(
            store, "default", [bytes.fromhex(next(ids))]
        ),
        "trace by id (get_trace)": lambda: tq.get_trace(store, "default", next(ids)),
    }


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def inserts(store: ClickHouseStore, rounds: int) -> dict[str, float]:
    """CPU µs per row into empty tables of each layout, the same batches alternating."""
    tables = {"1024": f"bench_ins_{1024}", "8192": f"bench_ins_{8192}"}
    for size, table in tables.items():
        settings = SMALL if size == "1024" else LARGE
        store.command(f"DROP TABLE IF EXISTS {table}")
        store.command(f"CREATE TABLE {table} AS spans {LAYOUT} SETTINGS {settings}")
    now = time.time_ns()
    rng = np.random.default_rng(5)
    batches = [span_table(rng, 20_000, now - 600 * 10**9, now) for _ in range(rounds + 1)]
    spent: dict[str, list[float]] = {size: [] for size in tables}
    for i, batch in enumerate(batches):
        for size, table in tables.items():
            c0 = cpu()
            store.insert(table, batch)
            if i:  # the first round warms up
                spent[size].append((cpu() - c0) / batch.num_rows * 1e6)
    for table in tables.values():
        store.command(f"DROP TABLE {table}")
    return {size: statistics.median(v) for size, v in spent.items()}


async def compare(store: ClickHouseStore, meta: dict[str, Any], rounds: int) -> None:
    cases = reads(store, meta)
    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for _ in range(2):  # each layout once per round
            size = granules(store)
            for label, fn in cases.items():
                timings.setdefault((label, size), []).append(await best(fn, 3))
            store.command("EXCHANGE TABLES spans AND spans_other")
    for label in cases:
        small = statistics.median(timings[(label, "1024")])
        large = statistics.median(timings[(label, "8192")])
        print(
            f"{label:32s} 1,024: {small:7.1f} ms  8,192: {large:7.1f} ms"
            f"  ratio {small / large:5.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    meta = orjson.loads((args.data / "bench.json").read_bytes())
    store = ClickHouseStore("chdb://" + str(args.data / "clickhouse"))
    try:
        prepare(store)
        asyncio.run(compare(store, meta, args.rounds))
        cost = inserts(store, args.rounds)
        print(
            f"{'insert CPU per span row (no views)':32s} 1,024: {cost['1024']:5.2f} µs"
            f"  8,192: {cost['8192']:5.2f} µs  ratio {cost['1024'] / cost['8192']:5.2f}"
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
