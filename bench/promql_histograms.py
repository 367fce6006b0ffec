"""PromQL over OTLP histograms: ``histogram_quantile(0.9, sum by (le, job) (rate(x_bucket[5m])))``
over N histogram series × H hours of one-minute rows with B bounds, as a range query at a
1-minute step, in vigil (the rows stored as an OTLP histogram's are: delta ``HISTOGRAM``
rows, read back as ``_bucket{le}`` counters) and in a real Prometheus 2.42 holding the
same histogram as classic ``_bucket``/``_sum``/``_count`` series, in the same run.

    .venv/bin/python bench/promql_histograms.py --series 100 --hours 24 [--bounds 10] [--rounds 3]
    .venv/bin/python bench/promql_histograms.py --profile   # where vigil's time goes

``--quantile``: ``histogram_quantile`` alone, in memory: ``--series`` groups × the steps of
``--hours`` × ``--bounds`` + 1 buckets, every step at once (``quantiles``) against the
one-step reference per (group, step) (the baseline), in the same run; nothing is loaded.

``--profile``: no Prometheus; the evaluator runs once in this thread under cProfile (its
store reads on vigil's event loop, as the API runs them) and the top functions print.

Prints the best and the median of ``rounds`` for each, the ratio vigil / Prometheus (of
the bests), whether the answers agree, and the load average. Loading is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.promql_peer import PrometheusPeer
from tests.runtime import InProcessVigil

from bench.promql import compare, figures, timed
from vigil.model.metrics import METRIC_SCHEMA, PointKind
from vigil.query import promql
from vigil.query.promql import histograms
from vigil.query.promql.pushdown import aggregate_windows
from vigil.store.interface import Overloaded

NAME = "bench_latency_seconds"


def rows(
    first: int,
    jobs: int,
    stamps: np.ndarray,
    bounds: list[float],
    deltas: np.ndarray,
    sums: np.ndarray,
) -> pa.Table:
    """Series first.. as vigil's rows; deltas: (series, times, buckets) counts per row."""
    n_series, n_times, _ = deltas.shape
    n = n_series * n_times
    dims = [
        [("instance", f"i{i}"), ("job", f"job{i % jobs}")] for i in range(first, first + n_series)
    ]
    return pa.Table.from_pydict(
        {
            "tenant": pa.array(["default"] * n),
            "namespace": pa.array(["shop"] * n),
            "name": pa.array([NAME] * n),
            "dimensions": pa.array(
                [d for d in dims for _ in range(n_times)], METRIC_SCHEMA.field("dimensions").type
            ),
            "unit": pa.array(["Seconds"] * n),
            "timestamp": pa.array(np.tile(stamps * 10**9, n_series), pa.timestamp("ns")),
            "start_time": pa.array(np.zeros(n, dtype=np.int64), pa.timestamp("ns")),
            "resolution": pa.array(np.full(n, 60, dtype=np.uint8)),
            "kind": pa.array(np.full(n, int(PointKind.HISTOGRAM), dtype=np.uint8)),
            "value": pa.array(sums.reshape(-1)),
            "count": pa.array(deltas.sum(axis=2).reshape(-1).astype(float)),
            "min": pa.array(np.full(n, np.nan)),
            "max": pa.array(np.full(n, np.nan)),
            "bounds": pa.array([bounds] * n, pa.list_(pa.float64())),
            "buckets": pa.array(deltas.reshape(n, -1).tolist(), pa.list_(pa.uint64())),
            "metric_type": pa.array(["histogram"] * n),
            "stream_id": pa.array(np.zeros(n, dtype=np.uint64)),
            "cumulative": pa.array(np.zeros(n)),
        },
        schema=METRIC_SCHEMA,
    )


def classic(
    jobs: int, stamps: np.ndarray, bounds: list[float], deltas: np.ndarray, sums: np.ndarray
) -> Any:
    """The same histograms as Prometheus' classic series (cumulative in time and in le)."""
    over_time = deltas.cumsum(axis=1)
    in_le = over_time.cumsum(axis=2)
    total = sums.cumsum(axis=1)
    t = stamps.tolist()
    les = [f"{b:g}" for b in bounds] + ["+Inf"]
    for i in range(deltas.shape[0]):
        base = {"instance": f"i{i}", "job": f"job{i % jobs}", "cloudwatch_namespace": "shop"}
        for j, le in enumerate(les):
            yield (
                f"{NAME}_bucket",
                {**base, "le": le},
                list(zip(t, in_le[i, :, j].tolist(), strict=True)),
            )
        yield (f"{NAME}_count", base, list(zip(t, in_le[i, :, -1].tolist(), strict=True)))
        yield (f"{NAME}_sum", base, list(zip(t, total[i].tolist(), strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--bounds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile vigil's evaluator only")
    ap.add_argument("--quantile", action="store_true", help="histogram_quantile alone")
    ap.add_argument(
        "--query",
        default=f"histogram_quantile(0.9, sum by (le, job) (rate({NAME}_bucket[5m])))",
    )
    a = ap.parse_args()
    if a.quantile:
        quantile_only(a.series, a.hours * 60 - 59, a.bounds + 1, a.rounds)
        return
    minutes = a.hours * 60
    end = int(time.time()) // 60 * 60 - 600
    start = end - minutes * 60
    stamps = start + 60 * np.arange(minutes + 1)
    bounds = [0.005 * 2**k for k in range(a.bounds)]
    rng = np.random.default_rng(1)
    deltas = rng.poisson(5, size=(a.series, minutes + 1, a.bounds + 1)).astype(np.uint64)
    mids = np.array([b / 2 for b in bounds] + [bounds[-1] * 2])
    sums = (deltas * mids).sum(axis=2)
    params = {"query": a.query, "start": start + 3600, "end": end, "step": 60}

    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        vigil = InProcessVigil(data_dir, "--max-queue-rows", "50000000").start()
        stack.callback(vigil.stop)
        t = time.perf_counter()
        for lo in range(0, a.series, 50):
            hi = min(lo + 50, a.series)
            part = rows(lo, a.jobs, stamps, bounds, deltas[lo:hi], sums[lo:hi])

            async def write(runtime: Any, data: pa.Table = part) -> None:
                await runtime.core.writer.write({"metrics": data})

            while True:
                try:
                    vigil.call(write, timeout=600)
                    break
                except Overloaded:
                    time.sleep(1)

        async def count(runtime: Any) -> int:
            got = await runtime.core.store.query(
                "SELECT count() FROM metrics WHERE name = {n:String}", {"n": NAME}
            )
            return int(got.rows[0][0])

        while vigil.call(count) < a.series * (minutes + 1):
            time.sleep(1)
        print(
            f"loaded vigil: {a.series * (minutes + 1):,} histogram rows"
            f" in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        if a.profile:
            profile(vigil, params)
            return
        t = time.perf_counter()
        peer = PrometheusPeer(classic(a.jobs, stamps, bounds, deltas, sums)).start(timeout=900)
        stack.callback(peer.stop)
        samples = a.series * (minutes + 1) * (a.bounds + 3)
        print(
            f"loaded Prometheus: {samples:,} samples in {time.perf_counter() - t:.0f} s", flush=True
        )
        url = vigil.url + "/prometheus/api/v1/query_range"
        mine: list[float] = []
        theirs: list[float] = []
        loads = []
        for _ in range(a.rounds):
            loads.append(os.getloadavg()[0])
            took, body = timed(url, params)
            mine.append(took)
            took, other = timed(peer.url + "/api/v1/query_range", params)
            theirs.append(took)
        print(
            f"{a.query}: {a.series:,} histograms x {a.hours} h, {a.bounds} bounds, step 1m,"
            f" {len(body['data']['result'])} result series\n"
            f"  load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}\n"
            f"  vigil      {figures(mine)}\n"
            f"  Prometheus {figures(theirs)}\n"
            f"  ratio vigil/Prometheus {min(mine) / min(theirs):.2f} (best),"
            f" {statistics.median(mine) / statistics.median(theirs):.2f} (median)\n"
            f"  answers: {compare(body['data']['result'], other['data']['result'])}",
            flush=True,
        )


def quantile_only(groups: int, steps: int, buckets: int, rounds: int) -> None:
    """``histogram_quantile`` over random cumulative buckets: all steps at once vs the
    one-step reference (``quantiles._reference``, one group at a time)."""
    from vigil.query.promql import quantiles
    from vigil.query.promql.names import Labels
    from vigil.query.promql.values import Vector

    rng = np.random.default_rng(0)
    les = [f"{0.005 * 2**k:g}" for k in range(buckets - 1)] + ["+Inf"]
    labels: list[Labels] = [
        (("instance", f"i{g}"), ("le", le)) for g in range(groups) for le in les
    ]
    counts = rng.poisson(5, size=(groups, buckets, steps)).cumsum(axis=1)
    vec = Vector(
        labels, counts.reshape(-1, steps).astype(float), np.ones((len(labels), steps), bool)
    )
    q = np.full(steps, 0.9)
    members = [
        sorted((float(le.replace("+Inf", "inf")), g * buckets + j) for j, le in enumerate(les))
        for g in range(groups)
    ]

    def reference() -> list[Any]:
        return [quantiles._reference(q, vec, m)[0] for m in members]

    best: dict[str, list[float]] = {"one step at a time (baseline)": [], "all steps at once": []}
    loads = []
    for _ in range(rounds):
        ways: tuple[Callable[[], Any], ...] = (
            reference,
            lambda: quantiles.histogram_quantile(q, vec),
        )
        for label, fn in zip(best, ways, strict=True):
            loads.append(os.getloadavg()[0])
            t = time.perf_counter()
            fn()
            best[label].append(time.perf_counter() - t)
    same = np.array_equal(np.vstack(reference()), quantiles.histogram_quantile(q, vec).values)
    base, mine = best.values()
    print(
        f"histogram_quantile: {groups} groups x {steps} steps x {buckets} buckets\n"
        f"  load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}\n"
        + "".join(f"  {k:30s} {figures(v)}\n" for k, v in best.items())
        + f"  ratio {min(mine) / min(base):.3f} (best),"
        f" {statistics.median(mine) / statistics.median(base):.3f} (median); answers equal: {same}",
        flush=True,
    )


def profile(vigil: InProcessVigil, params: dict[str, Any]) -> None:
    """The query's evaluation in this thread under cProfile, as the API runs it (the
    store reads and the pushdown on vigil's event loop, the evaluator here)."""
    limit = 50_000_000

    def fetch(matchers: Any, start_ms: int, end_ms: int) -> Any:
        async def go(rt: Any) -> Any:
            return await histograms.select_all(
                rt.core.store, "default", matchers, start_ms, end_ms, limit
            )

        return vigil.call(go)

    def reduce(matchers: Any, spec: Any) -> Any:
        async def go(rt: Any) -> Any:
            return await aggregate_windows(rt.core.store, "default", matchers, spec, limit)

        return vigil.call(go)

    def run() -> Any:
        return promql.range_(
            params["query"],
            params["start"] * 1000,
            params["end"] * 1000,
            params["step"] * 1000,
            fetch,
            reduce=reduce,
        )

    run()  # warm
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    run()
    prof.disable()
    print(f"one evaluation: {time.perf_counter() - t:.3f} s, load {os.getloadavg()[0]:.1f}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
