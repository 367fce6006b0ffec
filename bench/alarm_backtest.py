"""An alarm's backtest ("what would it have done over the last N days") against the naive
way: the real engine ticked at every evaluation time over the same data.

    .venv/bin/python bench/alarm_backtest.py [--days 7] [--baseline-hours 24] [--rounds 3]

Data (PutMetricData's decoder into a real embedded store): one series, one point a minute
for ``--days`` days, a daily cycle with noise and a few spikes. Alarms: Average over 60 s,
3 of 5 above a threshold near the daily peak (it flaps there); and Sum over 300 s,
1 of 1 (five period grids).

Printed per alarm: the engine ticked every minute over ``--baseline-hours`` (the baseline:
one store read per tick), the backtest over the same hours (best of ``--rounds``), their
ratio per evaluation, and the backtest over all ``--days`` days; the transitions of the
engine and of the backtest over the baseline hours are checked equal.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.api.aws import alarm_params
from vigil.ingest.cloudwatch_metrics import decode_put_metric_data
from vigil.rules.alarms import backtest
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent
from vigil.rules.alarms.model import MetricAlarm
from vigil.rules.alarms.spec import metric_alarm
from vigil.state.alarms import AlarmStore
from vigil.state.db import open_state
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention

NOW = 1_796_601_600 + 12 * 3600  # 2026-12-07 12:00 UTC
ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:"


def feed(store: ClickHouseStore, days: int) -> None:
    rng = random.Random(1)
    data: list[dict[str, Any]] = []
    start = NOW - days * 86400
    for t in range(start, NOW, 60):
        value = 100 + 30 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0, 5)
        if rng.random() < 0.004:
            value += 200
        data.append({"MetricName": "Latency", "Timestamp": t + 1, "Value": value})
    for i in range(0, len(data), 1000):
        params = {"Namespace": "Bench/Backtest", "MetricData": data[i : i + 1000]}
        store.insert("metrics", decode_put_metric_data(params, "default", NOW * 10**9).to_arrow())


ALARMS = {
    "avg-60s-3-of-5": {
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": 125.0,
    },
    "sum-300s": {"Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 640.0},
}


def spec(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    params = {
        "AlarmName": name,
        "Namespace": "Bench/Backtest",
        "MetricName": "Latency",
        "ComparisonOperator": "GreaterThanThreshold",
        **extra,
    }
    return alarm_params.metric_alarm(params, ARN + name)


async def engine_replay(
    store: ClickHouseStore, state_path: Path, s: dict[str, Any], start: int, end: int
) -> list[tuple[int, str]]:
    state = open_state(str(state_path))
    now = {"t": start}
    events: list[AlarmEvent] = []
    engine = AlarmEngine(
        AlarmStore(state),
        MetricReader(store, MetricRetention(), lambda: now["t"]),
        lambda: now["t"] * 10**9,
        sink=events.append,
    )
    await engine.put("default", "MetricAlarm", s)
    alarm = metric_alarm("default", s)
    for t in backtest.times(alarm.period, start, end):
        now["t"] = t
        await engine.tick(t)
    state.dispose()
    return [(e.timestamp_ms // 1000, e.new_state) for e in events]


async def run_backtest(
    store: ClickHouseStore, alarm: MetricAlarm, start: int, end: int
) -> backtest.Replay:
    reader = MetricReader(store, MetricRetention(), lambda: end)
    query = await backtest.load(reader, alarm, start, end)
    return backtest.replay(alarm, start, end, query)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore("chdb://" + str(Path(tmp) / "ch"))
        migrate(store)
        feed(store, args.days)
        base_start = NOW - args.baseline_hours * 3600
        print(f"{args.days} days of 1-minute points; baseline over {args.baseline_hours} h")
        print("alarm | engine ticked (s) | backtest same hours (s) | ratio | backtest all days (s)")
        for name, extra in ALARMS.items():
            s = spec(name, extra)
            alarm = metric_alarm("default", s)
            t0 = time.perf_counter()
            engine = await engine_replay(store, Path(tmp) / f"{name}.db", s, base_start, NOW)
            engine_s = time.perf_counter() - t0
            best = math.inf
            result = None
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                result = await run_backtest(store, alarm, base_start, NOW)
                best = min(best, time.perf_counter() - t0)
            assert result is not None
            got = [(c.at, c.new) for c in result.changes]
            assert got == engine, f"{name}: backtest {got[:5]} != engine {engine[:5]}"
            whole = math.inf
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                full = await run_backtest(store, alarm, NOW - args.days * 86400, NOW)
                whole = min(whole, time.perf_counter() - t0)
            print(
                f"{name} | {engine_s:.2f} ({result.evaluations} ticks) | {best:.3f}"
                f" | {best / engine_s:.4f} | {whole:.3f} ({full.evaluations} evaluations,"
                f" {len(full.changes)} changes)"
            )
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--baseline-hours", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
