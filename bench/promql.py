"""PromQL: ``sum by (job) (rate(x[5m]))`` over N series × H hours of 1-minute samples,
as a range query at a 1-minute step, in vigil (``/prometheus/api/v1/query_range``) and in
a real Prometheus 2.42 holding the same samples, in the same run.

    .venv/bin/python bench/promql.py --series 10000 --hours 24 [--jobs 10] [--rounds 3]

Prints the best and the median of ``rounds`` for each, the ratio vigil / Prometheus (of
the bests) and the load average. Loading is not timed (vigil: its writer; Prometheus:
promtool blocks from OpenMetrics text).

For development: ``--data DIR`` keeps vigil's data directory and reuses it when it holds
the same data set (``--no-prometheus`` then times vigil alone, without a baseline: not a
figure to record); ``--query`` asks another expression over the same data.

``--select-ab``: the general path's read alone (``sql.select`` of every series over the
query's range, as a range query's selector reads it), with ``sql.value_sql``'s check (read
``value`` alone when every row is a plain sample) against ``VALUE_SQL`` always (the
baseline), alternately, in the same run; no Prometheus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
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


def load_vigil(
    vigil: InProcessVigil, a: argparse.Namespace, stamps: np.ndarray, increments: np.ndarray
) -> None:
    minutes = a.hours * 60
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


def select_ab(vigil: InProcessVigil, a: argparse.Namespace, start_ms: int, end_ms: int) -> None:
    """``sql.select`` of every series, VALUE_SQL always (baseline) vs the shared check."""
    from vigil.query.promql import sql

    shared = sql.value_sql

    async def always(*args: Any, **kwargs: Any) -> str:
        return sql.VALUE_SQL

    matchers = [sql.LabelMatcher("__name__", "=", "bench_requests_total")]

    async def read(runtime: Any) -> int:
        got = await sql.select(
            runtime.core.store, "default", matchers, start_ms, end_ms, 100_000_000
        )
        return sum(len(s.times) for s in got)

    times: dict[str, list[float]] = {"VALUE_SQL always": [], "sql.value_sql": []}
    loads = []
    samples = 0
    for _ in range(a.rounds):
        for label, fn in (("VALUE_SQL always", always), ("sql.value_sql", shared)):
            sql.value_sql = fn
            loads.append(os.getloadavg()[0])
            t = time.perf_counter()
            samples = vigil.call(read, timeout=600)
            times[label].append(time.perf_counter() - t)
    sql.value_sql = shared
    base, mine = times["VALUE_SQL always"], times["sql.value_sql"]
    print(
        f"sql.select of {a.series:,} series x {a.hours - 1} h 5 min ({samples:,} samples)\n"
        f"  load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}\n"
        f"  VALUE_SQL always (baseline) {figures(base)}\n"
        f"  sql.value_sql's check       {figures(mine)}\n"
        f"  ratio {min(mine) / min(base):.2f} (best), "
        f"{statistics.median(mine) / statistics.median(base):.2f} (median)",
        flush=True,
    )


def timed(url: str, params: dict[str, Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    r = httpx.post(url, data=params, timeout=600)
    took = time.perf_counter() - t
    body = r.json()
    assert body["status"] == "success", r.text[:300]
    return took, body


def figures(xs: list[float]) -> str:
    rounds = ", ".join(f"{x:.3f}" for x in xs)
    return f"best {min(xs):.3f} s  median {statistics.median(xs):.3f} s  (rounds {rounds})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", type=Path, help="keep vigil's data here and reuse it")
    ap.add_argument("--no-prometheus", action="store_true", help="vigil alone (development)")
    ap.add_argument("--query", default="sum by (job) (rate(bench_requests_total[5m]))")
    ap.add_argument("--select-ab", action="store_true", help="sql.select: plain check vs not")
    a = ap.parse_args()
    minutes = a.hours * 60
    shape = {"series": a.series, "hours": a.hours, "jobs": a.jobs}
    saved = a.data / "bench.json" if a.data else None
    reuse = saved is not None and saved.exists() and json.loads(saved.read_text())["shape"] == shape
    if reuse:
        assert saved is not None
        end = json.loads(saved.read_text())["end"]
    else:
        end = int(time.time()) // 60 * 60 - 600
    start = end - minutes * 60
    rng = np.random.default_rng(1)
    increments = rng.integers(0, 50, size=(a.series, minutes + 1)).cumsum(axis=1).astype(float)
    stamps = start + 60 * np.arange(minutes + 1)
    query = a.query
    params = {"query": query, "start": start + 3600, "end": end, "step": 60}

    with contextlib.ExitStack() as stack:
        if a.data is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            data_dir = a.data
            if not reuse:
                shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.mkdir(parents=True, exist_ok=True)
        vigil = InProcessVigil(data_dir, "--max-queue-rows", "50000000").start()
        stack.callback(vigil.stop)
        if not reuse:
            load_vigil(vigil, a, stamps, increments)
            if saved is not None:
                saved.write_text(json.dumps({"shape": shape, "end": end}))
        if a.select_ab:
            select_ab(vigil, a, (start + 3600 - 300) * 1000, end * 1000)
            return
        peer = None
        if not a.no_prometheus:
            t = time.perf_counter()
            peer = PrometheusPeer(
                (
                    "bench_requests_total",
                    {"instance": f"i{i}", "job": f"job{i % a.jobs}"},
                    list(zip(stamps.tolist(), increments[i].tolist(), strict=True)),
                )
                for i in range(a.series)
            ).start(timeout=600)
            stack.callback(peer.stop)
            print(f"loaded Prometheus in {time.perf_counter() - t:.0f} s", flush=True)
        url = vigil.url + "/prometheus/api/v1/query_range"
        mine: list[float] = []
        theirs: list[float] = []
        loads = []
        for _ in range(a.rounds):
            loads.append(os.getloadavg()[0])
            took, body = timed(url, params)
            mine.append(took)
            if peer is not None:
                took, other = timed(peer.url + "/api/v1/query_range", params)
                theirs.append(took)
        series = len(body["data"]["result"])
        print(
            f"{query}: {a.series:,} series x {a.hours} h, step 1m, {series} result series\n"
            f"  load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}\n"
            f"  vigil      {figures(mine)}",
            flush=True,
        )
        if theirs:
            print(
                f"  Prometheus {figures(theirs)}\n"
                f"  ratio vigil/Prometheus {min(mine) / min(theirs):.2f} (best),"
                f" {statistics.median(mine) / statistics.median(theirs):.2f} (median)",
                flush=True,
            )
            diff = compare(body["data"]["result"], other["data"]["result"])
            print(f"  answers: {diff}", flush=True)


def compare(mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    """The two answers, value by value (relative tolerance 1e-9)."""
    a = {json.dumps(s["metric"], sort_keys=True): s["values"] for s in mine}
    b = {json.dumps(s["metric"], sort_keys=True): s["values"] for s in theirs}
    if a.keys() != b.keys():
        return f"DIFFERENT series ({len(a)} vs {len(b)})"
    worst = 0.0
    for k, va in a.items():
        vb = b[k]
        if [t for t, _ in va] != [t for t, _ in vb]:
            return f"DIFFERENT steps for {k}"
        for (_, x), (_, y) in zip(va, vb, strict=True):
            x, y = float(x), float(y)
            worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
    return f"{'equal' if worst < 1e-9 else 'DIFFERENT'} (largest relative difference {worst:.1e})"


if __name__ == "__main__":
    main()
