"""Metrics Insights latency over a fleet: 10,000 series (host × zone) of 1-minute points
over the last 3 hours (1.8M samples, inserted through the store's ``insert`` as the
writer does), queried in-process through ``get_metric_data`` (the engine GetMetricData
and ``/api/v1`` call):

* ``SELECT AVG(CPU) FROM SCHEMA(Bench, host, zone) GROUP BY zone`` — 10 groups of 1,000
  series, 180 periods;
* ``SELECT MAX(CPU) FROM Bench GROUP BY host ORDER BY MAX() DESC LIMIT 10`` — top 10 of
  10,000 groups (the documented 10,000-metric limit, reached exactly);
* ``SELECT SUM(CPU) FROM Bench WHERE zone IN ('z1', 'z2') AND host LIKE 'h1%'`` — a
  filtered aggregate, one series;
* baseline, same run: one series, Average, 3 h at 60 s (MetricStat).

Each query runs 5 times; the median is printed with its ratio to the baseline.

    .venv/bin/python bench/metrics_insights.py [--series 10000] [--hours 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.query.metrics import Fetch, MetricQuery, MetricSpec, get_metric_data
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

COLUMNS = (
    "tenant, namespace, name, dimensions, unit, timestamp, resolution, kind, value, count,"
    " min, max, metric_type"
)
CPU = f"""
SELECT {COLUMNS} FROM (
SELECT 'default' AS tenant, 'Bench' AS namespace, 'CPU' AS name,
       map('host', concat('h', toString(number % {{series:UInt32}})),
           'zone', concat('z', toString(number % {{series:UInt32}} % 10))) AS dimensions,
       'Percent' AS unit,
       fromUnixTimestamp64Nano(({{t0:Int64}} + intDiv(number, {{series:UInt32}}) * 60)
                               * 1000000000) AS timestamp,
       toUInt8(60) AS resolution, toUInt8(0) AS kind,
       round(45 + 25 * sin(intDiv(number, {{series:UInt32}}) / 30 + number % {{series:UInt32}})
             + (cityHash64(number) % 100) / 10, 1) AS value,
       1. AS count, 0. AS min, 0. AS max, 'cloudwatch' AS metric_type
FROM numbers({{rows:UInt64}}))
"""

QUERIES = {
    "GROUP BY zone (10 groups)": "SELECT AVG(CPU) FROM SCHEMA(Bench, host, zone) GROUP BY zone",
    "top 10 hosts of 10,000": (
        "SELECT MAX(CPU) FROM Bench GROUP BY host ORDER BY MAX() DESC LIMIT 10"
    ),
    "WHERE IN + LIKE, one series": (
        "SELECT SUM(CPU) FROM Bench WHERE zone IN ('z1', 'z2') AND host LIKE 'h1%'"
    ),
}


def generate(store: ClickHouseStore, series: int, hours: int, now: int) -> int:
    minutes = hours * 60
    t0 = now - minutes * 60
    per_chunk = max(1, 1_000_000 // series)
    for first in range(0, minutes, per_chunk):
        count = min(per_chunk, minutes - first)
        table = store._query_arrow_sync(
            CPU, {"series": series, "t0": t0 + first * 60, "rows": count * series}, None
        )
        store.insert("metrics", table.cast(table.schema.with_metadata({})))
    return minutes * series


def timed(fn: Any, runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=3)
    args = parser.parse_args()
    now = int(time.time()) // 60 * 60
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore("chdb://" + str(Path(tmp) / "ch"))
        migrate(store)
        started = time.monotonic()
        samples = generate(store, args.series, args.hours, now)
        print(f"generated {samples:,} samples in {time.monotonic() - started:.0f} s")
        fetch = Fetch(store, MetricRetention(), "default", now)
        start = now - args.hours * 3600

        def run(*queries: MetricQuery) -> Any:
            return asyncio.run(get_metric_data(fetch, list(queries), start, now))

        one = MetricQuery(
            id="m",
            metric=MetricSpec("Bench", "CPU", (("host", "h1"), ("zone", "z1"))),
            stat="Average",
            period=60,
        )
        base, results = timed(lambda: run(one))
        assert len(results[0].values) == args.hours * 60, len(results[0].values)
        print(f"{'baseline: 1 series, Average, 3 h at 60 s':<44} {base * 1000:8.0f} ms     1.0x")
        for name, sql in QUERIES.items():
            query = MetricQuery(id="q", expression=sql, period=60)
            took, results = timed(lambda q=query: run(q))
            print(
                f"{name:<44} {took * 1000:8.0f} ms {took / base:6.1f}x"
                f"  ({len(results)} series, {sum(len(r.values) for r in results)} values)"
            )
        store.close()


if __name__ == "__main__":
    main()
