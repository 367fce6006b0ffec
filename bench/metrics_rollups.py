"""Cost of keeping the metric rollups: inserts with the rollup views against without.

The same PutMetricData rows (a fleet of SERIES series reporting once a minute, decoded by
the native decoder) are inserted in-process into two fresh chDB stores in the writer's
flush batches (250,000 rows): ``views`` (every migration: the 1 m/5 m/1 h rollup views and
the series view run inside each insert) and ``raw`` (the same tables, those four views
dropped: the floor). Prints rows/s of each and the ratio to ``views`` from the same run.

(Commit b03e459 of this script also measured a catch-up mode: rollups maintained by a
periodic INSERT … SELECT over the newly inserted blocks instead of views; see
bench/RESULTS.md, metrics section, for why it was dropped.)

    .venv/bin/python bench/metrics_rollups.py [--series 20000] [--minutes 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.ingest._putmetricdata import decode
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

FLUSH_ROWS = 250_000


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


VIEWS = ("metric_rollup_1m_mv", "metric_rollup_5m_mv", "metric_rollup_1h_mv", "metric_series_mv")


def run(mode: str, table: pa.Table) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(tmp)
        try:
            migrate(store)
            if mode == "raw":
                for view in VIEWS:
                    store.command(f"DROP VIEW IF EXISTS {view}")
            batches = [table.slice(i, FLUSH_ROWS) for i in range(0, table.num_rows, FLUSH_ROWS)]
            started = time.perf_counter()
            for i, batch in enumerate(batches):
                store.insert("metrics", batch, dedup_token=f"bench-{i}")
            elapsed = time.perf_counter() - started
            count = store.query_sync("SELECT sum(count) FROM metric_rollup_5m").rows[0][0]
            assert count == (table.num_rows if mode == "views" else 0), (mode, count)
            return float(table.num_rows / elapsed)
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--minutes", type=int, default=50)
    args = parser.parse_args()
    table = rows(args.series, args.minutes, time.time())
    print(f"{table.num_rows:,} rows, {args.series:,} series, batches of {FLUSH_ROWS:,}")
    rates = {mode: run(mode, table) for mode in ("views", "raw")}
    for mode, rate in rates.items():
        print(f"{mode:<9} {rate:>10,.0f} rows/s   ratio to views {rate / rates['views']:5.2f}")


if __name__ == "__main__":
    main()
