"""OTLP/HTTP protobuf ingest: sustained items/s per signal, latency, peak RSS, raw-store ratio.

    .venv/bin/python bench/ingest.py [--seconds 8] [--clients 4] [--signals logs,traces,metrics]

vigil runs as a separate process (``vigil serve``); client processes, each with several
concurrent connections (as an OTel collector's exporter has), send pre-built realistic
batches of 100-1,000 items (bench/payloads.py) as fast as they are answered, for each
signal in turn: that is the maximum rate. Rates count stored items: a phase ends once
vigil's write queue has drained (``vigil_writer_queue_rows`` at ``/metrics`` is 0), so
what the write-ahead log accepted but the store has not yet taken does not inflate them;
429 answers (queue full, retried by real exporters) are counted apart from errors.
A second phase sends at half that rate,
paced, for the p99 latency there. Then, in this process, the same payloads are decoded and
inserted straight into a fresh chDB store in 50,000-row batches (the raw store rate that
ingest is compared with) and in 5,000-row batches (what inserting per request group costs).
Peak RSS is vigil's resident memory, sampled every 100 ms, per signal phase (it does not fall
back between phases: ClickHouse keeps its caches and allocator arenas).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

from bench.payloads import logs_payload, metrics_payload, spans_payload

PATHS = {"logs": "/v1/logs", "traces": "/v1/traces", "metrics": "/v1/metrics"}
MAKERS = {"logs": logs_payload, "traces": spans_payload, "metrics": metrics_payload}
TABLES = {"logs": "logs", "traces": "spans", "metrics": "metrics"}
PB = {"Content-Type": "application/x-protobuf"}


@dataclass
class Phase:
    items: int
    seconds: float
    latencies: list[float]
    errors: int  # answers other than 200 and 429
    refused: int  # 429: the queue was full (OTel exporters retry these)
    vigil_cpu: float  # CPU seconds vigil used during the phase (all its threads)
    client_cpu: float  # … and the client processes, which share the machine here

    @property
    def cpu_us_per_item(self) -> float:
        return self.vigil_cpu / max(self.items, 1) * 1e6

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def build_payloads(signal: str, seed: int, count: int) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randrange(100, 1001)
        out.append((MAKERS[signal](rng, n), n))
    return out


def client(
    url: str,
    payloads: list[tuple[bytes, int]],
    seconds: float,
    interval: float,
    start_at: float,
    inflight: int,
    queue: mp.Queue[tuple[int, list[float], int, int, float]],
) -> None:
    """One client process: ``inflight`` connections, each sending its batches back to back
    (interval 0) or one per interval, like an exporter with a few concurrent senders."""
    totals = [0, 0, 0]  # items, errors, refused
    latencies: list[float] = []
    lock = threading.Lock()

    def sender(offset: int) -> None:
        with httpx.Client(timeout=60) as http:
            while time.time() < start_at:
                time.sleep(0.001)
            end = start_at + seconds
            # Spread the paced senders over the interval instead of sending in bursts.
            next_at = time.monotonic() + interval * offset / inflight
            i = offset
            while time.time() < end:
                if interval:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += interval
                body, n = payloads[i % len(payloads)]
                i += 1
                t0 = time.perf_counter()
                resp = http.post(url, content=body, headers=PB)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if resp.status_code == 200:
                        totals[0] += n
                    elif resp.status_code == 429:
                        totals[2] += 1
                    else:
                        totals[1] += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(inflight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = time.process_time()
    queue.put((totals[0], latencies, totals[1], totals[2], cpu))


def drained(metrics_url: str, timeout: float = 300.0) -> float:
    """Waits until vigil's write queue is empty (everything accepted is in the store)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            text = http.get(metrics_url).text
            queued = [
                float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("vigil_writer_queue_rows ")
            ]
            if not queued:
                raise SystemExit(f"no vigil_writer_queue_rows at {metrics_url}")
            if queued[0] == 0:
                return time.time()
            time.sleep(0.02)
    raise SystemExit(f"vigil's write queue did not drain within {timeout:.0f} s")


def run_phase(
    vigil: psutil.Process,
    url: str,
    metrics_url: str,
    payloads: list[list[tuple[bytes, int]]],
    seconds: float,
    interval: float,
    inflight: int,
) -> Phase:
    queue: mp.Queue[tuple[int, list[float], int, int, float]] = mp.Queue()
    before = _cpu(vigil)
    start_at = time.time() + 0.5
    procs = [
        mp.Process(target=client, args=(url, p, seconds, interval, start_at, inflight, queue))
        for p in payloads
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    # Sustained means stored: the phase lasts until the write queue has drained, so rows
    # accepted into the queue but not yet inserted do not count as throughput.
    elapsed = drained(metrics_url) - start_at
    latencies = [lat for _, lats, _, _, _ in results for lat in lats]
    return Phase(
        sum(r[0] for r in results),
        elapsed,
        latencies,
        sum(r[2] for r in results),
        sum(r[3] for r in results),
        _cpu(vigil) - before,
        sum(r[4] for r in results),
    )


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            try:
                rss = self.proc.memory_info().rss
                with self.lock:
                    self.peak = max(self.peak, rss)
            except psutil.Error:
                return


def raw_store_rates(signal: str, payloads: list[tuple[bytes, int]]) -> dict[int, float]:
    """Rows/s of the same Arrow rows inserted straight into chDB, per batch size: 50,000
    rows (a commit under heavy load) and 5,000 (what the writer's groups hold here)."""
    from vigil.ingest.otlp.native import decode_protobuf
    from vigil.ingest.otlp.signals import SIGNALS
    from vigil.store.clickhouse import ClickHouseStore
    from vigil.store.migrations import migrate

    tables = []
    for body, _ in payloads:
        decoded = decode_protobuf(SIGNALS[signal], body, "default", time.time_ns())
        cols = {"logs": decoded.logs, "traces": decoded.spans, "metrics": decoded.metrics}[signal]
        assert cols is not None
        tables.append(cols.to_arrow())
    whole = pa.concat_tables(tables).combine_chunks()
    rates = {}
    for batch_rows in (50_000, 5_000):
        batches = [whole.slice(i, batch_rows) for i in range(0, whole.num_rows, batch_rows)]
        with tempfile.TemporaryDirectory() as tmp:
            store = ClickHouseStore(tmp)
            try:
                migrate(store)
                store.insert(TABLES[signal], batches[0])  # warm-up
                t0 = time.perf_counter()
                for batch in batches:
                    store.insert(TABLES[signal], batch)
                rates[batch_rows] = whole.num_rows / (time.perf_counter() - t0)
            finally:
                store.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--inflight", type=int, default=8, help="concurrent requests per client")
    parser.add_argument("--signals", default="logs,traces,metrics")
    parser.add_argument("--payloads", type=int, default=12, help="distinct batches per client")
    args, server_args = parser.parse_known_args()
    signals = args.signals.split(",")
    payloads = {
        s: [build_payloads(s, 1000 * c + i, args.payloads) for c in range(args.clients)]
        for i, s in enumerate(signals)
    }
    results: dict[str, tuple[Phase, Phase]] = {}
    peaks: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = VigilProcess(Path(tmp) / "data", *server_args).start()
        sampler = RssSampler(server.proc.pid if server.proc else 0)
        proc = sampler.proc
        sampler.start()
        try:
            for s in signals:
                url = server.otlp_http_url + PATHS[s]
                stats = server.url + "/metrics"
                full = run_phase(proc, url, stats, payloads[s], args.seconds, 0.0, args.inflight)
                # Half the maximum rate, paced: each sender sends one batch per interval.
                mean_items = statistics.mean(n for p in payloads[s] for _, n in p)
                senders = args.clients * args.inflight
                interval = senders * mean_items / (full.rate / 2)
                half = run_phase(
                    proc, url, stats, payloads[s], args.seconds, interval, args.inflight
                )
                results[s] = (full, half)
                with sampler.lock:
                    peaks[s], sampler.peak = sampler.peak, 0
        finally:
            sampler.stopped.set()
            code = server.stop()
    if code != 0:
        raise SystemExit(f"vigil exited with {code}")
    print(
        f"ingest over OTLP/HTTP protobuf, {args.clients} client processes x {args.inflight}"
        f" concurrent requests, {args.seconds:.0f} s per phase"
    )
    for s in signals:
        full, half = results[s]
        raw = raw_store_rates(s, [p for ps in payloads[s] for p in ps])
        print(
            f"{s:8s} max {full.rate:9,.0f} items/s  p50 {full.pct(0.5):6.1f} ms"
            f"  p99 {full.pct(0.99):6.1f} ms  errors {full.errors}  429s {full.refused}"
            f"  vigil CPU {full.cpu_us_per_item:5.2f} µs/item"
            f" ({full.vigil_cpu / full.seconds:3.1f} cores;"
            f" clients {full.client_cpu / full.seconds:3.1f})"
            f" | half rate {half.rate:9,.0f}/s p50 {half.pct(0.5):6.1f} ms"
            f" p99 {half.pct(0.99):6.1f} ms"
            f" | raw chDB insert {raw[50_000]:9,.0f} rows/s in 50k-row batches"
            f" (ratio {full.rate / raw[50_000]:4.0%}), {raw[5_000]:9,.0f} in 5k-row batches"
            f" | peak RSS {peaks[s] / 2**20:,.0f} MiB"
        )
    print(f"peak RSS of vigil: {max(peaks.values()) / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
