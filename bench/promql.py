"""PromQL: ``sum by (job) (rate(x[5m]))`` over N series × H hours of 1-minute samples,
as a range query at a 1-minute step, in vigil (``/prometheus/api/v1/query_range``) and in
a real Prometheus 2.42 holding the same samples, in the same run.

    .venv/bin/python bench/promql.py --series 10000 --hours 24 [--jobs 10] [--rounds 3]

Prints the best of ``rounds`` for each and the ratio vigil / Prometheus. Loading is not
timed (vigil: its writer; Prometheus: promtool blocks from OpenMetrics text).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.promql_peer import PrometheusPeer
from tests.runtime import InProcessVigil

from vigil.model.metrics import METRIC_SCHEMA, PointKind
from vigil.store.interface import Overloaded


def batch(first: int, last: int, jobs: int, stamps: np.ndarray, values: np.ndarray) -> pa.Table:
    """Series first..last-1 as one Arrow batch of the metrics schema (the writer's input)."""
    n_series, n_points = last - first, len(stamps)
    rows = n_series * n_points
    dims = [[("instance", f"i{i}"), ("job", f"job{i % jobs}")] for i in range(first, last)]
    columns = {
        "tenant": pa.array(["default"] * rows),
        "namespace": pa.array(["prometheus"] * rows),
        "name": pa.array(["bench_requests_total"] * rows),
        "dimensions": pa.array(
            [d for d in dims for _ in range(n_points)], METRIC_SCHEMA.field("dimensions").type
        ),
        "unit": pa.array(["None"] * rows),
        "timestamp": pa.array(np.tile(stamps * 10**9, n_series), pa.timestamp("ns")),
        "start_time": pa.array(np.zeros(rows, dtype=np.int64), pa.timestamp("ns")),
        "resolution": pa.array(np.full(rows, 60, dtype=np.uint8)),
        "kind": pa.array(np.full(rows, int(PointKind.SAMPLE), dtype=np.uint8)),
        "value": pa.array(values[first:last].reshape(-1)),
        "count": pa.array(np.ones(rows)),
        "min": pa.array(np.zeros(rows)),
        "max": pa.array(np.zeros(rows)),
        "bounds": pa.array([[]] * rows, pa.list_(pa.float64())),
        "buckets": pa.array([[]] * rows, pa.list_(pa.uint64())),
        "metric_type": pa.array(["counter"] * rows),
        "stream_id": pa.array(np.zeros(rows, dtype=np.uint64)),
        "cumulative": pa.array(np.zeros(rows)),
    }
    return pa.Table.from_pydict(columns, schema=METRIC_SCHEMA)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    minutes = a.hours * 60
    end = int(time.time()) // 60 * 60 - 600
    start = end - minutes * 60
    rng = np.random.default_rng(1)
    increments = rng.integers(0, 50, size=(a.series, minutes + 1)).cumsum(axis=1).astype(float)
    stamps = start + 60 * np.arange(minutes + 1)
    query = "sum by (job) (rate(bench_requests_total[5m]))"
    params = {"query": query, "start": start + 3600, "end": end, "step": 60}

    with tempfile.TemporaryDirectory() as d:
        vigil = InProcessVigil(Path(d), "--max-queue-rows", "50000000").start()
        try:
            t = time.perf_counter()
            for lo in range(0, a.series, 500):
                data = batch(lo, min(lo + 500, a.series), a.jobs, stamps, increments)

                async def write(runtime: Any, data: pa.Table = data) -> None:
                    await runtime.core.writer.write({"metrics": data})

                while True:
                    try:
                        vigil.call(write, timeout=600)
                        break
                    except Overloaded:  # the writer's queue is bounded: wait, as clients do
                        time.sleep(1)

            # Acknowledged is durable; visible to reads once the store has inserted it
            # (a read waits for that at most 10 s): wait until all of it is there.
            async def count(runtime: Any) -> int:
                rows = await runtime.core.store.query(
                    "SELECT count() FROM metrics WHERE name = 'bench_requests_total'", {}
                )
                return int(rows.rows[0][0])

            while vigil.call(count) < a.series * (minutes + 1):
                time.sleep(1)
            took = time.perf_counter() - t
            print(f"loaded vigil: {a.series * (minutes + 1):,} samples in {took:.0f} s", flush=True)
            t = time.perf_counter()
            peer = PrometheusPeer(
                (
                    "bench_requests_total",
                    {"instance": f"i{i}", "job": f"job{i % a.jobs}"},
                    list(zip(stamps.tolist(), increments[i].tolist(), strict=True)),
                )
                for i in range(a.series)
            ).start(timeout=600)
            print(f"loaded Prometheus in {time.perf_counter() - t:.0f} s", flush=True)
            try:
                url = vigil.url + "/prometheus/api/v1/query_range"
                mine, theirs = [], []
                for _ in range(a.rounds):
                    t = time.perf_counter()
                    r = httpx.post(url, data=params, timeout=600)
                    mine.append(time.perf_counter() - t)
                    assert r.json()["status"] == "success", r.text[:300]
                    t = time.perf_counter()
                    p = httpx.post(peer.url + "/api/v1/query_range", data=params, timeout=600)
                    theirs.append(time.perf_counter() - t)
                    assert p.json()["status"] == "success", p.text[:300]
                series = len(r.json()["data"]["result"])
                rounds = {
                    k: ", ".join(f"{x:.2f}" for x in v) for k, v in (("v", mine), ("p", theirs))
                }
                print(
                    f"{query}: {a.series:,} series x {a.hours} h, step 1m, {series} result series\n"
                    f"  vigil      best {min(mine):.3f} s  (rounds {rounds['v']})\n"
                    f"  Prometheus best {min(theirs):.3f} s  (rounds {rounds['p']})\n"
                    f"  ratio vigil/Prometheus {min(mine) / min(theirs):.2f}",
                    flush=True,
                )
            finally:
                peer.stop()
        finally:
            vigil.stop()


if __name__ == "__main__":
    main()
