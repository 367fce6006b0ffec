"""Logs Insights over 10M log lines: the monitoring design's three queries, a regex
count by 5-minute bins and a count by level, each run through vigil's Insights runner on
embedded ClickHouse. Prints each query's median time (of ``--rounds`` runs), the bytes it
scanned, and its ratio to a baseline measured in the same rounds (a hand-written ClickHouse
substring count over the same rows). With ``--before``, each query also runs as the runner did
before the field catalog and the level/message columns (attribute keys probed over the
rows in range, every JSON path read through a cast of all its types), and the ratio of the
two is printed.

    .venv/bin/python bench/logs_query.py [--rows 10000000] [--dir bench/out/logs-query] [--before]

The data is generated once (200k distinct events through the PutLogEvents decoder, repeated
over 24 hours) and kept in ``--dir`` for later runs.

``--groups 3`` measures instead row queries in time order over that many log groups (the
group copied, its timestamps shifted so that the groups interleave; ``--rows`` lines each)
with the newest-window pass (query/insights/newest.py) against the runner without it
(``log_group IN``, every timestamp of the range read), alternating in each round: time to
the rows (the runner's partial answer) and to Complete (with the counts), best and median,
the ratio after / before, and whether both answered the same rows; then the same over
the first group alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from bench.logs_data import message
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.query.insights import fields, newest, parse_query, runner
from vigil.query.insights.compiler import Base
from vigil.query.insights.runner import QueryRequest, execute
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

QUERIES = [
    'fields @timestamp, level, message, error_type, error_message | filter level = "ERROR"'
    " | stats count() by error_type | sort count desc",
    "fields @timestamp, message, duration, pipeline | filter message like /processing completed/"
    " | stats avg(duration), max(duration), min(duration) by pipeline",
    "fields @timestamp, message, record_count, success_rate, pipeline"
    " | filter message like /batch processing completed/"
    " | stats sum(record_count), avg(success_rate) by pipeline",
    "filter @message like /timeout/ | stats count() by bin(5m)",
    "stats count() by level",
]
DISTINCT = 200_000
DAY_MS = 86_400_000
GROUP = "/bench/etl"


def generate(store: ClickHouseStore, rows: int, start_ms: int) -> None:
    rng = random.Random(42)
    spacing = DAY_MS / rows
    base_events = []
    for i in range(DISTINCT):
        ts = start_ms + int(i * spacing)
        base_events.append({"timestamp": ts, "message": message(rng, ts)})
    tables = []
    for chunk in range(0, DISTINCT, 4000):
        part = base_events[chunk : chunk + 4000]
        decoded = decode_put_log_events(
            part,
            tenant="default",
            group=GROUP,
            stream=f"worker-{chunk // 4000 % 24}",
            now_ms=start_ms + DAY_MS,
            retention_days=None,
        ).decoded
        assert decoded.logs is not None
        tables.append(decoded.logs.to_arrow())
    base = pa.concat_tables(tables)
    copies = rows // DISTINCT
    step_ns = int(DISTINCT * spacing) * 1_000_000
    for copy in range(copies):
        shifted = base.set_column(
            base.schema.get_field_index("timestamp"),
            "timestamp",
            pc.add(base.column("timestamp").cast(pa.int64()), copy * step_ns).cast(
                pa.timestamp("ns")
            ),
        )
        store.insert("logs", shifted)
        print(f"\rloaded {(copy + 1) * DISTINCT:,} rows", end="", flush=True)
    print()


async def once(store: ClickHouseStore, query: str, start_ms: int) -> tuple[float, dict[str, float]]:
    req = QueryRequest("default", query, parse_query(query), [GROUP], start_ms, start_ms + DAY_MS)
    began = time.perf_counter()
    result = await execute(store, req, timeout=60)
    return time.perf_counter() - began, result.statistics


async def rows_probe(
    store: runner.Reader, base: Base, keys: set[str], timeout: float | None
) -> runner.Catalog:
    """``runner.field_catalog`` as before the catalog: the map keys probed over the rows in
    range, the JSON paths' types unknown (every read casts the whole path)."""
    ordered = sorted(keys)
    checks = [
        f"max(has(attributes.keys, {{mk{i}:String}}) OR has(resource.keys, {{mk{i}:String}}))"
        for i in range(len(ordered))
    ]
    params: dict[str, object] = {**base.params, **{f"mk{i}": k for i, k in enumerate(ordered)}}
    found: frozenset[str] = frozenset()
    if ordered:
        rows = await store.query(
            f"SELECT {', '.join(checks)} FROM {base.source} WHERE " + " AND ".join(base.where),
            params,
            timeout=timeout,
        )
        found = frozenset(k for k, hit in zip(ordered, rows.rows[0], strict=True) if hit)
    return runner.Catalog(found, None)


async def baseline(store: ClickHouseStore) -> float:
    began = time.perf_counter()
    await store.query(
        "SELECT count() FROM logs WHERE tenant = 'default' AND log_group = {g:String}"
        " AND position(body, 'timeout') > 0",
        {"g": GROUP},
    )
    return time.perf_counter() - began


GROUP_QUERIES = [
    "fields @timestamp, @message | sort @timestamp desc | limit 100",
    "fields @timestamp, @message | sort @timestamp desc | limit 10000",
    'filter level = "ERROR" | fields @timestamp, @message | sort @timestamp desc | limit 100',
    "fields @timestamp, @message | limit 100",
]


def add_groups(store: ClickHouseStore, groups: int, rows: int, start_ms: int) -> list[str]:
    """``GROUP`` and ``groups - 1`` copies of it, the k-th shifted by k/groups of the spacing
    of its lines (the groups' lines interleave)."""
    names = [GROUP] + [f"{GROUP}-{k + 1}" for k in range(1, groups)]
    spacing_ns = DAY_MS * 1_000_000 // rows
    for k, name in enumerate(names[1:], start=1):
        have = store.query_sync(
            "SELECT count() FROM logs WHERE log_group = {g:String}", {"g": name}
        ).rows[0][0]
        if have == rows:
            continue
        store.command("ALTER TABLE logs DELETE WHERE log_group = {g:String}", {"g": name})
        began = time.perf_counter()
        # From a subquery: an alias named log_group would be read by the WHERE otherwise.
        store.command(
            "INSERT INTO logs SELECT * REPLACE ({g:String} AS log_group,"
            " timestamp + toIntervalNanosecond({shift:Int64}) AS timestamp)"
            " FROM (SELECT * FROM logs WHERE log_group = {src:String})",
            {"g": name, "shift": spacing_ns * k // groups, "src": GROUP},
        )
        print(f"group {name}: {rows:,} lines copied in {time.perf_counter() - began:.0f} s")
    return names


async def timed(
    store: ClickHouseStore, query: str, groups: list[str], start_ms: int
) -> tuple[float, float, list[runner.Row]]:
    """(seconds to the rows, seconds to Complete, the rows)."""
    req = QueryRequest("default", query, parse_query(query), groups, start_ms, start_ms + DAY_MS)
    first: list[float] = []
    began = time.perf_counter()

    def partial(_: runner.QueryResult) -> None:
        if not first:
            first.append(time.perf_counter() - began)

    result = await execute(store, req, timeout=120, partial=partial)
    return first[0], time.perf_counter() - began, result.rows


async def groups_bench(
    store: ClickHouseStore, groups: list[str], start_ms: int, rounds: int
) -> None:
    eligible = newest.eligible
    print(f"{len(groups)} groups, load {os.getloadavg()}")
    for query in GROUP_QUERIES:
        before: list[tuple[float, float]] = []
        after: list[tuple[float, float]] = []
        same = True
        for _ in range(rounds):
            newest.eligible = lambda *_: None  # the runner before
            try:
                rows_b, done_b, answer_b = await timed(store, query, groups, start_ms)
            finally:
                newest.eligible = eligible
            rows_a, done_a, answer_a = await timed(store, query, groups, start_ms)
            before.append((rows_b, done_b))
            after.append((rows_a, done_a))
            same = same and answer_a == answer_b
        for what, i in (("rows", 0), ("Complete", 1)):
            b = [x[i] * 1000 for x in before]
            a = [x[i] * 1000 for x in after]
            print(
                f"  to {what:8}: before {min(b):6.0f} / {statistics.median(b):6.0f} ms"
                f"  after {min(a):6.0f} / {statistics.median(a):6.0f} ms (best / median)"
                f"  ratio {min(a) / min(b):.3f} / {statistics.median(a) / statistics.median(b):.3f}"
            )
        print(f"  same rows: {same}  load {os.getloadavg()[0]:.1f}  | {query}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("bench/out/logs-query"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--before", action="store_true", help="compare with the runner before the catalog"
    )
    parser.add_argument(
        "--groups",
        type=int,
        default=1,
        help="row queries over this many groups, with and without the newest-window pass",
    )
    args = parser.parse_args()
    store = ClickHouseStore("chdb://" + str(args.dir.resolve()), query_timeout=120)
    began = time.perf_counter()
    applied = migrate(store)
    if applied:
        print(f"migrations {', '.join(applied)} applied in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        store.command("OPTIMIZE TABLE logs FINAL")  # every part with today's codecs and columns
        print(f"parts rewritten in {time.perf_counter() - began:.1f} s")
    start_ms = 1_795_000_000_000
    have = store.query_sync(
        "SELECT count() FROM logs WHERE log_group = {g:String}", {"g": GROUP}
    ).rows[0][0]
    if have != args.rows:
        store.command("TRUNCATE TABLE logs")
        generate(store, args.rows, start_ms)
        store.command("OPTIMIZE TABLE logs FINAL")
    if args.groups > 1:
        names = add_groups(store, args.groups, args.rows, start_ms)
        asyncio.run(groups_bench(store, names, start_ms, args.rounds))
        # One group takes the same pass now (two statements instead of one): its cost.
        asyncio.run(groups_bench(store, names[:1], start_ms, args.rounds))
        store.close()
        return

    async def run() -> None:
        catalog, text_columns = runner.field_catalog, fields._TEXT_COLUMNS
        print(f"load {os.getloadavg()[0]:.1f}")
        for query in QUERIES:
            # Rounds alternate baseline, query (and the query as before), so that the load
            # of a shared machine weighs on all of them alike; medians of the rounds.
            base, now, before = [], [], []
            stats: dict[str, float] = {}
            for _ in range(args.rounds):
                base.append(await baseline(store))
                seconds, stats = await once(store, query, start_ms)
                now.append(seconds)
                if args.before:
                    runner.field_catalog = rows_probe
                    fields._TEXT_COLUMNS = {}
                    before.append((await once(store, query, start_ms))[0])
                    runner.field_catalog, fields._TEXT_COLUMNS = catalog, text_columns
            b, n = statistics.median(base), statistics.median(now)
            print(
                f"{n * 1000:7.0f} ms  baseline {b * 1000:5.0f} ms  ratio {n / b:5.2f}"
                f"  scanned {int(stats['recordsScanned']):,} records"
                f" / {stats['bytesScanned'] / 1e9:.2f} GB, matched"
                f" {int(stats['recordsMatched']):,}  | {query}"
            )
            if before:
                then = statistics.median(before)
                print(
                    f"{then * 1000:7.0f} ms  as before (ratio {then / b:5.2f}):"
                    f" now {n / then:.2f} of that"
                )
        print(f"load {os.getloadavg()[0]:.1f}")

    asyncio.run(run())
    store.close()


if __name__ == "__main__":
    main()
