"""Cost of keeping the metric rollups: pre-aggregated batches against views, and the floor.

The same PutMetricData rows (a fleet of SERIES series reporting once a minute, decoded by
the native decoder) are inserted in-process into fresh chDB stores in the writer's
flush batches (250,000 rows):

* ``views``: m0200's design, the baseline — the 1 m/5 m/1 h rollup views and the series
  view on ``metrics`` run inside each insert (recreated here, the store's own batch
  rollups switched off by dropping the views of ``metric_rollup_input``);
* ``batches``: the store as it is (m0201) — each insert's rows pre-aggregated in numpy
  (``vigil.store.rollups``) and inserted into ``metric_rollup_input``;
* ``raw``: no rollups at all (the floor).

Prints rows/s of each and the ratio to ``views`` from the same run; checks that both
rollup modes hold every point.

(Commit b03e459 of this script also measured a catch-up mode: rollups maintained by a
periodic INSERT … SELECT over the newly inserted blocks instead of views; see
bench/RESULTS.md, metrics section, for why it was dropped.)

    .venv/bin/python bench/metrics_rollups.py [--shape fleet|requests] [--batch 250000]
        [--rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.feather as feather

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.metrics_ingest import put_metric_data_bodies
from vigil.ingest._putmetricdata import decode
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.migrations.m0001_core import METRIC_SERIES_MV
from vigil.store.migrations.m0200_metric_rollups import _cascade, _view

FLUSH_ROWS = 250_000
DATA = Path("/tmp/bench-metrics")


def rows(series: int, minutes: int, now: float) -> pa.Table:
    tables = []
    for m in range(minutes):
        for first in range(0, series, 1000):
            body = orjson.dumps(
                {
                    "Namespace": "Bench",
                    "MetricData": [
                        {
                            "MetricName": "CPUUtilization",
                            "Dimensions": [
                                {"Name": "InstanceId", "Value": f"i-{i:06d}"},
                                {"Name": "AutoScalingGroup", "Value": f"asg-{i % 50}"},
                            ],
                            "Timestamp": now - (minutes - m) * 60,
                            "Value": round(20 + (i * 7 + m) % 600 / 10, 1),
                            "Unit": "Percent",
                        }
                        for i in range(first, min(first + 1000, series))
                    ],
                }
            )
            decoded = decode(body, "default", time.time_ns())
            assert decoded is not None
            tables.append(decoded.to_arrow())
    return pa.concat_tables(tables).combine_chunks()


INPUT_VIEWS = tuple(f"metric_rollup_input_{v}_mv" for v in ("1m", "5m", "1h", "series"))
M0200_VIEWS = (
    _view("1m", 60, "WHERE resolution = 1"),
    _view("5m", 300),
    _cascade("1h", 3600, "metric_rollup_5m"),
    METRIC_SERIES_MV,
)


def requests(count: int) -> pa.Table:
    """The rows of ``bench/metrics_ingest.py``'s request bodies (1,000 series × one value,
    timestamps within a minute), ``count`` requests."""
    bodies = put_metric_data_bodies(50)
    tables = []
    for i in range(count):
        decoded = decode(bodies[i % len(bodies)], "default", time.time_ns())
        assert decoded is not None
        tables.append(decoded.to_arrow())
    return pa.concat_tables(tables).combine_chunks()


def run(mode: str, table: pa.Table, batch_rows: int) -> tuple[float, float]:
    """(rows/s, CPU µs per row of the whole process: ClickHouse's threads included)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            migrate(store)
            if mode != "batches":
                for view in INPUT_VIEWS:
                    store.command(f"DROP VIEW IF EXISTS {view}")
            if mode == "views":
                for sql in M0200_VIEWS:
                    store.command(sql)
            batches = [table.slice(i, batch_rows) for i in range(0, table.num_rows, batch_rows)]
            started, cpu = time.perf_counter(), time.process_time()
            for i, batch in enumerate(batches):
                store.insert("metrics", batch, dedup_token=f"bench-{i}")
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            count = store.query_sync("SELECT sum(count) FROM metric_rollup_5m").rows[0][0]
            assert count == (0 if mode == "raw" else table.num_rows), (mode, count)
            return table.num_rows / elapsed, cpu / table.num_rows * 1e6
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("fleet", "requests"), default="fleet")
    parser.add_argument("--series", type=int, default=20_000, help="fleet: series")
    parser.add_argument("--minutes", type=int, default=50, help="fleet: minutes")
    parser.add_argument("--requests", type=int, default=2000, help="requests: how many")
    parser.add_argument("--batch", type=int, default=FLUSH_ROWS, help="rows per insert")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternated")
    args = parser.parse_args()
    # Generated once and kept (the lead re-runs on the same rows); timestamps are relative
    # to the generation, so the file is only reused for a day (rollup TTLs drop old rows).
    if args.shape == "fleet":
        cached = DATA / f"fleet-{args.series}x{args.minutes}.arrow"
    else:
        cached = DATA / f"requests-{args.requests}.arrow"
    if cached.exists() and time.time() - cached.stat().st_mtime < 86400:
        table = feather.read_table(cached)
    else:
        if args.shape == "fleet":
            table = rows(args.series, args.minutes, time.time())
        else:
            table = requests(args.requests)
        DATA.mkdir(parents=True, exist_ok=True)
        feather.write_feather(table, cached)
    print(f"{table.num_rows:,} rows ({args.shape}), batches of {args.batch:,}")
    modes = ("views", "batches", "raw")
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            results[mode].append(run(mode, table, args.batch))
    base = statistics.median(r for r, _ in results["views"])
    base_cpu = statistics.median(c for _, c in results["views"])
    for mode in modes:
        rate = statistics.median(r for r, _ in results[mode])
        cpu = statistics.median(c for _, c in results[mode])
        print(
            f"{mode:<9} {rate:>10,.0f} rows/s  ratio {rate / base:5.2f}   "
            f"CPU {cpu:5.2f} µs/row  ratio {cpu / base_cpu:5.2f}"
        )


if __name__ == "__main__":
    main()
