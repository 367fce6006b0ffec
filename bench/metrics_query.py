"""GetMetricData latency over months of data, and bytes per stored sample.

Data (written straight into the store, through the same materialized views as ingest):
1,000 series × 30 days of 1-minute points (a CPU-like gauge: a slow wave per series plus
noise, one decimal, in percent) and one latency series × 90 days of 1-minute points
(log-normal-ish milliseconds, two decimals). Then vigil serves that data directory and
boto3 asks:

* ``SUM(SEARCH('{Bench,host} MetricName="CPU"', 'Average', 300))`` — all 1,000 series over
  30 days at a 5-minute period (8,640 values);
* one series' p99 per hour over 90 days (2,160 values, from the 1-hour sketches);
* baseline, same run: one series, Average, 1 hour at 60 s (60 values).

Each query runs 5 times; the median is printed with its ratio to the baseline. Storage is
read from system.parts after merges: raw rows (kept 3 h) and rollups, per sample.

    .venv/bin/python bench/metrics_query.py [--series 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.vigil_process import VigilProcess

from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention, apply_table_ttls

FLEET = "SUM(SEARCH('{Bench,host} MetricName=\"CPU\"', 'Average', 300))"
TABLES = ("metrics", "metric_rollup_1m", "metric_rollup_5m", "metric_rollup_1h")

CPU = """
INSERT INTO metrics (tenant, namespace, name, dimensions, unit, timestamp, resolution, kind,
                     value, count, min, max, metric_type)
SELECT 'default', 'Bench', 'CPU', map('host', concat('h', toString(number % {series:UInt32}))),
       'Percent', fromUnixTimestamp64Nano(({t0:Int64} + intDiv(number, {series:UInt32}) * 60)
                                          * 1000000000),
       60, 0,
       round(45 + 25 * sin(intDiv(number, {series:UInt32}) / 240 + number % {series:UInt32})
             + (cityHash64(number) % 100) / 10, 1),
       1, 0, 0, 'cloudwatch'
FROM numbers({rows:UInt64})
"""

LATENCY = """
INSERT INTO metrics (tenant, namespace, name, dimensions, unit, timestamp, resolution, kind,
                     value, count, min, max, metric_type)
SELECT 'default', 'Bench', 'Latency', map('route', '/checkout'), 'Milliseconds',
       fromUnixTimestamp64Nano(({t0:Int64} + number * 60) * 1000000000), 60, 0,
       round(exp(4 + (cityHash64(number) % 1000) / 1000 * 1.5), 2), 1, 0, 0, 'cloudwatch'
FROM numbers({rows:UInt64})
"""


def generate(data: Path, series: int, days: int, now: int) -> tuple[int, float]:
    store = ClickHouseStore("chdb://" + str(data / "clickhouse"))
    migrate(store)
    started = time.monotonic()
    minutes_per_chunk = max(1, 1_000_000 // series)
    total = days * 1440
    t0 = now - total * 60
    for first in range(0, total, minutes_per_chunk):
        count = min(minutes_per_chunk, total - first)
        store.command(CPU, {"series": series, "t0": t0 + first * 60, "rows": count * series})
    lat_minutes = 90 * 1440
    lat_t0 = now - lat_minutes * 60
    for first in range(0, lat_minutes, 100_000):
        count = min(100_000, lat_minutes - first)
        store.command(LATENCY, {"t0": lat_t0 + first * 60, "rows": count})
    elapsed = time.monotonic() - started
    samples = total * series + lat_minutes
    for table in TABLES[1:]:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    report_storage(store, samples, "after ingest (raw still holds everything)")
    # The retention ladder's raw TTL (3 h) drops the old raw partitions.
    apply_table_ttls(store, MetricRetention(), 30)
    store.command("OPTIMIZE TABLE metrics FINAL")
    report_storage(store, samples, "steady state (raw holds only its last partitions)")
    store.close()
    return samples, elapsed


def report_storage(store: ClickHouseStore, samples: int, when: str) -> None:
    rows = store.query_sync(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts"
        " WHERE active AND database = currentDatabase() AND table IN {t:Array(String)}"
        " GROUP BY table ORDER BY table",
        {"t": list(TABLES)},
    ).rows
    total = sum(int(b) for _, _, b in rows)
    print(f"storage, {when}:")
    for table, count, size in rows:
        print(
            f"  {table:<18} {int(count):>12,} rows {int(size) / 2**20:>9.1f} MiB"
            f" {int(size) / samples:>6.2f} B/sample"
        )
    print(
        f"  {'total':<18} {samples:>12,} samples {total / 2**20:>6.1f} MiB"
        f" {total / samples:>6.2f} B/sample"
    )


def timed(fn: Any, runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    now = int(time.time()) // 3600 * 3600
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        samples, took = generate(data, args.series, args.days, now)
        print(
            f"generated {samples:,} samples in {took:.0f} s ({samples / took:,.0f}/s,"
            " materialized views included)"
        )
        vigil = VigilProcess(data, "--metric-search-limit", str(args.series)).start()
        try:
            cw = boto3.client(
                "cloudwatch",
                endpoint_url=vigil.url,
                region_name="us-east-1",
                aws_access_key_id="a",
                aws_secret_access_key="b",
            )
            end = datetime.fromtimestamp(now, UTC)

            def baseline() -> Any:
                return cw.get_metric_data(
                    MetricDataQueries=[
                        {
                            "Id": "m",
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "Bench",
                                    "MetricName": "CPU",
                                    "Dimensions": [{"Name": "host", "Value": "h1"}],
                                },
                                "Period": 60,
                                "Stat": "Average",
                            },
                        }
                    ],
                    StartTime=end - timedelta(hours=1),
                    EndTime=end,
                )

            def fleet() -> Any:
                return cw.get_metric_data(
                    MetricDataQueries=[{"Id": "all", "Expression": FLEET}],
                    StartTime=end - timedelta(days=args.days),
                    EndTime=end,
                )

            def p99() -> Any:
                return cw.get_metric_data(
                    MetricDataQueries=[
                        {
                            "Id": "p",
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "Bench",
                                    "MetricName": "Latency",
                                    "Dimensions": [{"Name": "route", "Value": "/checkout"}],
                                },
                                "Period": 3600,
                                "Stat": "p99",
                            },
                        }
                    ],
                    StartTime=end - timedelta(days=90),
                    EndTime=end,
                )

            base, answer = timed(baseline)
            assert len(answer["MetricDataResults"][0]["Values"]) == 60
            fleet_t, answer = timed(fleet)
            fleet_n = len(answer["MetricDataResults"][0]["Values"])
            p99_t, answer = timed(p99)
            p99_n = len(answer["MetricDataResults"][0]["Values"])
            cw.close()
        finally:
            vigil.stop()
    print(f"baseline: 1 series, 1 h at 60 s          {base * 1000:>8.0f} ms")
    print(
        f"{args.series} series x {args.days} d at 300 s, SUM(SEARCH)"
        f" {fleet_t * 1000:>8.0f} ms ({fleet_n} values, {fleet_t / base:.1f}x baseline)"
    )
    print(
        f"1 series p99 per hour over 90 d          {p99_t * 1000:>8.0f} ms"
        f" ({p99_n} values, {p99_t / base:.1f}x baseline)"
    )


if __name__ == "__main__":
    main()
