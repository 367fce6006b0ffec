"""Alarm evaluation cost: N threshold alarms on N series, one evaluation round a minute.

Data: N series (one per alarm, namespace ``Bench/Alarms``, dimension ``Host``) with one
point a minute for the last 10 minutes, written through the PutMetricData decoder and the
store's insert (as the writer does). Alarms: Average over 60 s, 3 of 5 periods above a
threshold some series cross; a tenth use a p99 with low-sample ``ignore`` (one more
SampleCount query per group).

Measured: process CPU (chDB runs in-process, so the store's query work is counted) and
wall time of evaluation rounds at consecutive minutes (the first round, which also finds
the series ids, is reported apart). Figure: CPU per round as a share of one core's minute
(target < 20 % at 10,000 alarms; 100,000 under one core).
Baseline, same run: the same alarms evaluated one store query per alarm (a sample of
``--sample`` alarms, scaled to N) — the ratio is batched / per-alarm.

    .venv/bin/python bench/alarms.py [--alarms 10000] [--rounds 3] [--sample 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.ingest.cloudwatch_metrics import decode_put_metric_data
from vigil.rules.alarms.batch import Models, prefetch
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.evaluate import evaluate
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.model import AlarmState, MetricAlarm
from vigil.state.alarms import AlarmStore
from vigil.state.db import open_state
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

NOW = 1_796_637_600  # 2026-12-07 10:00 UTC
TENANT = "bench"


def _spec(i: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "AlarmName": f"cpu-{i:06d}",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu-{i:06d}",
        "Namespace": "Bench/Alarms",
        "MetricName": "CPU",
        "Dimensions": [{"Name": "Host", "Value": f"h{i:06d}"}],
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": 90.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:bench"],
    }
    if i % 10 == 0:
        spec["ExtendedStatistic"] = "p99"
        spec["EvaluateLowSampleCountPercentile"] = "ignore"
    else:
        spec["Statistic"] = "Average"
    return spec


def _load(store: ClickHouseStore, count: int) -> None:
    batch: list[dict[str, Any]] = []
    for minute in range(-8, 3):
        for i in range(count):
            value = 95.0 if i % 7 == 0 else 40.0 + (i % 30)
            batch.append(
                {
                    "MetricName": "CPU",
                    "Dimensions": [{"Name": "Host", "Value": f"h{i:06d}"}],
                    "Timestamp": NOW + minute * 60 + 1,
                    "Value": value,
                }
            )
            if len(batch) == 1000:
                _insert(store, batch)
                batch = []
    if batch:
        _insert(store, batch)


def _insert(store: ClickHouseStore, data: list[dict[str, Any]]) -> None:
    columns = decode_put_metric_data(
        {"Namespace": "Bench/Alarms", "MetricData": data}, TENANT, (NOW + 300) * 10**9
    )
    store.insert("metrics", columns.to_arrow())


async def _rounds(engine: AlarmEngine, rounds: int) -> list[tuple[float, float, int]]:
    out = []
    for r in range(rounds + 1):
        cpu, wall = time.process_time(), time.perf_counter()
        before = engine.evaluations
        await engine.tick(NOW + r * 60)
        out.append(
            (time.process_time() - cpu, time.perf_counter() - wall, engine.evaluations - before)
        )
    return out


async def _per_alarm(reader: MetricReader, alarms: list[MetricAlarm]) -> tuple[float, float]:
    """Baseline: one store query per alarm (the unbatched design)."""
    models = Models(reader)
    cpu, wall = time.process_time(), time.perf_counter()
    for alarm in alarms:
        data = await prefetch(reader, models, [alarm], NOW + 60)
        evaluate(alarm, AlarmState(), NOW + 60, data.query)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alarms", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore("chdb://" + str(Path(tmp) / "ch"))
        migrate(store)
        started = time.perf_counter()
        _load(store, args.alarms)
        print(f"loaded {args.alarms * 11:,} points in {time.perf_counter() - started:.1f} s")
        state = open_state(str(Path(tmp) / "state.db"))
        reader = MetricReader(store, MetricRetention(), lambda: NOW)
        engine = AlarmEngine(AlarmStore(state), reader, lambda: NOW * 10**9)
        specs = [_spec(i) for i in range(args.alarms)]
        started = time.perf_counter()
        asyncio.run(engine.put_many(TENANT, "MetricAlarm", specs))
        print(f"defined {args.alarms:,} alarms in {time.perf_counter() - started:.1f} s")
        results = asyncio.run(_rounds(engine, args.rounds))
        first, rest = results[0], results[1:]
        cpu = sorted(r[0] for r in rest)[len(rest) // 2]
        wall = sorted(r[1] for r in rest)[len(rest) // 2]
        states: dict[str, int] = {}
        for entry in engine.entries(TENANT):
            states[entry.state.value] = states.get(entry.state.value, 0) + 1
        print(f"first round: {first[0]:.2f} s CPU, {first[1]:.2f} s wall ({first[2]:,} alarms)")
        print(
            f"rounds: median {cpu:.3f} s CPU, {wall:.3f} s wall for {rest[0][2]:,} alarms"
            f" → {100 * cpu / 60:.1f} % of one core per minute; states {states}"
        )
        sample = [e.alarm for e in engine.entries(TENANT)[: args.sample]]
        sample_alarms = [a for a in sample if isinstance(a, MetricAlarm)]
        base_cpu, base_wall = asyncio.run(_per_alarm(reader, sample_alarms))
        scaled = base_cpu * args.alarms / len(sample_alarms)
        print(
            f"baseline (one query per alarm, {len(sample_alarms)} alarms):"
            f" {base_cpu:.2f} s CPU, {base_wall:.2f} s wall → {scaled:.1f} s CPU for"
            f" {args.alarms:,} ({100 * scaled / 60:.0f} % of a core per minute)"
        )
        print(f"ratio batched / per-alarm CPU: {cpu / scaled:.3f}")
        state.dispose()
        store.close()


if __name__ == "__main__":
    main()
