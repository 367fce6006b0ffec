"""Trace reads at scale: 1M traces (10M spans) through the X-Ray API and ``/api/v1``.

    .venv/bin/python bench/traces_query.py [--traces 1000000] [--hours 1] [--data DIR]

Generates traces of 10 spans over three services (bench/traces_data.py) starting within
the last ``--hours`` hours, inserts them straight into a fresh embedded store through
vigil's migrations (materialized views included) in 500,000-span batches, then starts a
vigil process on that data directory and times, best of 3 after a warm-up:

* GetTraceSummaries with ``service("api-N") AND annotation.status = "error" AND
  duration > 1`` over the whole window (a different service each run);
* GetTraceSummaries without a filter (the first page);
* BatchGetTraces of one trace and ``GET /api/v1/traces/{id}`` (a new trace each run);
* GetServiceGraph and ``GET /api/v1/service-map`` of the last hour of the data.

The baseline, measured in the same run before the server starts, is a full scan of the
spans (``count()`` and ``sum(duration_ns)``). ``--src TREE`` serves with another source
tree's package (``git archive REV | tar -x -C TREE``; copy the compiled ``*.so`` of
``src/vigil`` beside its sources) on a copy of the data, to time a revision against
another in the same session. With ``--data DIR`` an existing directory
holding a generated store is reused (the schema's migrations still run at startup).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

from bench.traces_data import MIDDLE, SPANS_PER_TRACE, span_table
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

CHUNK_TRACES = 50_000
HOUR = 3600 * 10**9


def generate(data: Path, traces: int, hours: float) -> dict[str, Any]:
    store = ClickHouseStore("chdb://" + str(data / "clickhouse"))
    try:
        migrate(store)
        hi = time.time_ns()
        lo = hi - int(hours * HOUR)
        rng = np.random.default_rng(7)
        step = (hi - lo) // max(1, traces // CHUNK_TRACES)
        samples: list[str] = []
        inserting = 0.0
        for i, done in enumerate(range(0, traces, CHUNK_TRACES)):
            count = min(CHUNK_TRACES, traces - done)
            table = span_table(rng, count, lo + i * step, min(hi, lo + (i + 1) * step))
            ids = table.column("trace_id").to_pylist()
            samples += [ids[j].hex() for j in range(0, len(ids), len(ids) // 40)]
            t0 = time.perf_counter()
            store.insert("spans", table)
            inserting += time.perf_counter() - t0
        spans = traces * SPANS_PER_TRACE
        print(f"inserted {spans:,} spans in {inserting:.1f} s: {spans / inserting:,.0f} rows/s")
        meta = {"lo": lo, "hi": hi, "traces": traces, "samples": samples}
        (data / "bench.json").write_bytes(orjson.dumps(meta))
        return meta
    finally:
        store.close()


def baseline(data: Path) -> float:
    store = ClickHouseStore("chdb://" + str(data / "clickhouse"))
    try:
        sql = "SELECT count(), sum(duration_ns) FROM spans SETTINGS use_query_condition_cache = 0"
        return best_of(lambda: store.query_sync(sql))
    finally:
        store.close()


def best_of(fn: Callable[[], Any], runs: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--data", type=Path, help="keep (or reuse) the data here")
    parser.add_argument(
        "--src",
        type=Path,
        help="serve with the vigil package of this source tree (e.g. an export of main:"
        " a baseline in the same session); the default is this tree's",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        data.mkdir(parents=True, exist_ok=True)
        if (data / "bench.json").exists():
            meta = orjson.loads((data / "bench.json").read_bytes())
            print(f"reusing {meta['traces']:,} traces in {data}")
        else:
            meta = generate(data, args.traces, args.hours)
        base = baseline(data)
        print(f"{'baseline: full scan of spans':62s} {base:8.1f} ms")
        env = {"PYTHONPATH": str(args.src.resolve())} if args.src else None
        t0 = time.perf_counter()
        # Start-up includes the migrations: an upgrade of the data directory, once.
        server = VigilProcess(data, env=env).start(timeout=900)
        print(f"{'server start-up (migrations included)':62s} {time.perf_counter() - t0:8.1f} s")
        try:
            results = reads(server, meta)
        finally:
            server.stop()
    for label, ms in results.items():
        print(f"{label:62s} {ms:8.1f} ms   ratio {ms / base:5.2f}")


def reads(server: VigilProcess, meta: dict[str, Any]) -> dict[str, float]:
    xray = boto3.client(
        "xray",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    http = httpx.Client(base_url=server.url, timeout=120)
    lo, hi = meta["lo"] / 1e9, meta["hi"] / 1e9
    ids = iter(meta["samples"])
    services = iter(MIDDLE * 3)
    found: dict[str, int] = {}

    def summaries() -> None:
        service = next(services)
        expr = f'service("{service}") AND annotation.status = "error" AND duration > 1'
        page = xray.get_trace_summaries(StartTime=lo - 1, EndTime=hi + 1, FilterExpression=expr)
        found["filtered"] = len(page["TraceSummaries"])

    def unfiltered() -> None:
        page = xray.get_trace_summaries(StartTime=lo - 1, EndTime=hi + 1)
        found["unfiltered"] = len(page["TraceSummaries"])

    def batch_get() -> None:
        traces = xray.batch_get_traces(TraceIds=[next(ids)])["Traces"]
        found["batch"] = sum(len(t["Segments"]) for t in traces)

    def lookup() -> None:
        r = http.get(f"/api/v1/traces/{next(ids)}")
        r.raise_for_status()
        found["lookup"] = r.json()["span_count"]

    def graph() -> None:
        services = xray.get_service_graph(StartTime=hi - 3600, EndTime=hi)["Services"]
        found["graph"] = len(services)

    def service_map() -> None:
        window = {"start": f"{hi - 3600:.3f}", "end": f"{hi:.3f}"}
        found["map"] = len(http.get("/api/v1/service-map", params=window).json()["nodes"])

    timings = {
        "GetTraceSummaries service() AND annotation AND duration": summaries,
        "GetTraceSummaries, no filter (first page)": unfiltered,
        "BatchGetTraces, one trace": batch_get,
        "GET /api/v1/traces/{id}": lookup,
        "GetServiceGraph, last hour": graph,
        "GET /api/v1/service-map, last hour": service_map,
    }
    out = {}
    for label, fn in timings.items():
        t0 = time.perf_counter()
        fn()
        first = (time.perf_counter() - t0) * 1000
        out[label] = best_of(fn)
        print(f"{label:62s} {out[label]:8.1f} ms (first run {first:.0f} ms)")
    print("found:", found)
    return out


if __name__ == "__main__":
    main()
