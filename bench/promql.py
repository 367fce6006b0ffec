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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.prometheus_peer import PrometheusPeer  # noqa: E402
from tests.runtime import InProcessVigil  # noqa: E402
from vigil.model.metrics import MetricColumns, PointKind  # noqa: E402


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
                cols = MetricColumns()
                for i in range(lo, min(lo + 500, a.series)):
                    dims = [("instance", f"i{i}"), ("job", f"job{i % a.jobs}")]
                    for ts, v in zip(stamps.tolist(), increments[i].tolist(), strict=True):
                        cols.add(
                            tenant="default",
                            namespace="prometheus",
                            name="bench_requests_total",
                            dimensions=dims,
                            unit="None",
                            timestamp=ts * 10**9,
                            kind=PointKind.SAMPLE,
                            value=v,
                            metric_type="counter",
                        )
                batch = cols.to_arrow()

                async def write(runtime: Any, batch: Any = batch) -> None:
                    await runtime.core.writer.write({"metrics": batch})

                vigil.call(write, timeout=600)
            print(
                f"loaded vigil: {a.series * (minutes + 1):,} samples in {time.perf_counter() - t:.0f} s"
            )
            t = time.perf_counter()
            peer = PrometheusPeer(
                (
                    "bench_requests_total",
                    {"instance": f"i{i}", "job": f"job{i % a.jobs}"},
                    list(zip(stamps.tolist(), increments[i].tolist(), strict=True)),
                )
                for i in range(a.series)
            ).start(timeout=600)
            print(f"loaded Prometheus in {time.perf_counter() - t:.0f} s")
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
                print(
                    f"{query}: {a.series:,} series x {a.hours} h, step 1m, {series} result series\n"
                    f"  vigil      best {min(mine):.3f} s  (rounds {', '.join(f'{x:.2f}' for x in mine)})\n"
                    f"  Prometheus best {min(theirs):.3f} s  (rounds {', '.join(f'{x:.2f}' for x in theirs)})\n"
                    f"  ratio vigil/Prometheus {min(mine) / min(theirs):.2f}"
                )
            finally:
                peer.stop()
        finally:
            vigil.stop()


if __name__ == "__main__":
    main()
