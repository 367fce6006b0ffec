"""Prometheus remote write: samples/s stored by vigil against VictoriaMetrics (Debian's
``victoria-metrics``, ``make peers``) taking the same requests in the same run.

The requests are remote write 1.0 (snappy ``prometheus.WriteRequest``) as Prometheus
sends them: ``--batch`` series of one sample each (Prometheus' ``max_samples_per_send``:
2,000 since 2.x), node-exporter-like labels (``__name__``, ``instance``, ``job``,
``cpu``, ``mode``), built beforehand so that the figure is the server's, sent from
``--clients`` threads for ``--seconds``. The same samples go to vigil as remote write
2.0 too (``io.prometheus.write.v2.Request`` as Prometheus ≥ 2.54 sends it: interned
symbols, one series per sample, a metadata message on every series); VictoriaMetrics
takes 1.0 (Debian's has no 2.0 receiver), its import being the yardstick for both.
Each server is fresh; a measurement lasts until what was sent is stored (vigil: its
write queue drained into ClickHouse; VictoriaMetrics: ``vm_rows_added_to_storage_total``
reached the count after a ``/internal/force_flush``). vigil is waited for with a read
(every read waits for the writer's barrier: what was acknowledged before it is in the
store), then its ``vigil_writer_queue_rows`` is checked once: polling ``/metrics`` every
20 ms instead cost vigil ~40 ms of CPU per scrape, taken from the inserts being timed.
Prints samples/s for each and the ratios to VictoriaMetrics and 2.0 / 1.0; then, for the
issue's other yardstick (unless ``--no-putmetricdata``), PutMetricData's native path on a
fresh vigil in the same run (1,000-point JSON requests, ``bench/metrics_ingest.py``'s)
and the ratio remote write / PutMetricData.

    .venv/bin/python bench/prom_remote_write.py [--seconds 10] [--clients 4] [--batch 2000]
                                               [--rounds 1] [--no-putmetricdata]

``--rounds N`` repeats the measurements N times, each round printing its own
figures, load average and ratios, then the median, best and worst ratio: on a shared
machine one round's ratio moves with whatever else runs during its ~30 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cramjam
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.prometheus_peer import free_port
from tests.vigil_process import VigilProcess

from bench.metrics_ingest import BATCH, put_metric_data_bodies
from vigil.ingest.prom import proto

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
HEADERS_V2 = {
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "2.0.0",
}
PUT_METRIC_DATA = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
    "x-amzn-query-mode": "true",
}
MODES = ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice")


def _labels(i: int) -> list[tuple[str, str]]:
    return [
        ("__name__", "node_cpu_seconds_total"),
        ("cpu", str(i % 64)),
        ("instance", f"host-{i // 512:04d}:9100"),
        ("job", "node"),
        ("mode", MODES[(i // 64) % len(MODES)]),
    ]


def bodies(count: int, batch: int) -> list[bytes]:
    now_ms = int(time.time() * 1000) - 600_000
    out = []
    for r in range(count):
        req = proto.WriteRequest()
        for i in range(batch):
            ts = req.timeseries.add()
            for name, value in _labels(i):
                ts.labels.add(name=name, value=value)
            ts.samples.add(value=1000.0 + r + i * 0.5, timestamp=now_ms + r * 1000)
        out.append(cramjam.snappy.compress_raw(req.SerializeToString()).read())
    return out


def bodies_v2(count: int, batch: int) -> list[bytes]:
    """The samples of ``bodies``, as remote write 2.0 requests."""
    now_ms = int(time.time() * 1000) - 600_000
    out = []
    for r in range(count):
        symbols = ["", *(x for i in range(batch) for kv in _labels(i) for x in kv)]
        symbols += ["Seconds the CPUs spent in each mode.", "seconds"]
        symbols = list(dict.fromkeys(symbols))  # interned, in order, as senders do
        index = {text: i for i, text in enumerate(symbols)}
        ref = index.__getitem__
        req = proto.RequestV2()
        for i in range(batch):
            ts = req.timeseries.add(labels_refs=[ref(x) for kv in _labels(i) for x in kv])
            ts.samples.add(value=1000.0 + r + i * 0.5, timestamp=now_ms + r * 1000)
            ts.metadata.type = 1  # counter
            ts.metadata.help_ref = ref("Seconds the CPUs spent in each mode.")
            ts.metadata.unit_ref = ref("seconds")
        req.symbols.extend(symbols)
        out.append(cramjam.snappy.compress_raw(req.SerializeToString()).read())
    return out


def drive(
    url: str,
    payloads: list[bytes],
    batch: int,
    clients: int,
    seconds: float,
    headers: dict[str, str] = HEADERS,
) -> int:
    """Samples acknowledged (2xx) in ``seconds`` from ``clients`` threads."""
    sent = [0] * clients
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def worker(k: int) -> None:
        with httpx.Client(timeout=60, headers=headers) as http:
            i = k
            while time.monotonic() < deadline:
                response = http.post(url, content=payloads[i % len(payloads)])
                if response.status_code in (429, 503):
                    time.sleep(0.05)  # back-pressure: a sender retries
                    continue
                if response.status_code // 100 != 2:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return
                sent[k] += batch
                i += clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"requests failed: {errors[:3]}")
    return sum(sent)


def timed(
    url: str,
    payloads: list[bytes],
    args: argparse.Namespace,
    wait_stored: Callable[[int], object],
    batch: int = 0,
    headers: dict[str, str] = HEADERS,
) -> float:
    batch = batch or args.batch
    drive(url, payloads[:2], batch, 1, 0.5, headers)  # warm up (not counted)
    wait_stored(0)
    started = time.monotonic()
    samples = drive(url, payloads, batch, args.clients, args.seconds, headers)
    wait_stored(samples)
    return samples / (time.monotonic() - started)


def vigil_rate(
    payloads: list[bytes],
    args: argparse.Namespace,
    path: str = "/prometheus/api/v1/write",
    batch: int = 0,
    headers: dict[str, str] = HEADERS,
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        vigil = VigilProcess(Path(tmp) / "data", "--no-self-metrics").start()
        try:
            return timed(
                f"{vigil.url}{path}",
                payloads,
                args,
                lambda _n: stored(vigil.url),
                batch,
                headers,
            )
        finally:
            vigil.stop()


def stored(base: str) -> None:
    """Returns once everything vigil acknowledged is in the store."""
    deadline = time.monotonic() + 300
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            # A read waits (up to 10 s) until what was acknowledged before it is stored.
            http.get(f"{base}/prometheus/api/v1/metadata", params={"limit": "1"})
            queued = [
                float(line.split()[1])
                for line in http.get(f"{base}/metrics").text.splitlines()
                if line.startswith("vigil_writer_queue_rows ")
            ]
            if queued == [0.0]:
                return
    raise SystemExit("vigil's write queue did not drain within 300 s")


def vm_rate(payloads: list[bytes], args: argparse.Namespace) -> float:
    binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                binary,
                f"-storageDataPath={tmp}/vm",
                f"-httpListenAddr=127.0.0.1:{port}",
                "-retentionPeriod=1y",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_http(f"{base}/health")
            added = [_vm_rows(base)]

            def wait_stored(samples: int) -> None:
                target = added[0] + samples
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    httpx.get(f"{base}/internal/force_flush", timeout=60)
                    rows = _vm_rows(base)
                    if rows >= target:
                        added[0] = rows
                        return
                    time.sleep(0.02)
                raise SystemExit("VictoriaMetrics did not store what it acknowledged")

            return timed(f"{base}/api/v1/write", payloads, args, wait_stored)
        finally:
            proc.terminate()
            proc.wait(30)


def _vm_rows(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("vm_rows_added_to_storage_total")
    )


def _wait_http(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-putmetricdata", action="store_true")
    args = parser.parse_args()
    payloads = bodies(30, args.batch)
    payloads_v2 = bodies_v2(30, args.batch)
    cw_payloads = put_metric_data_bodies(30)
    runs: list[tuple[float, float, float, float]] = []
    for r in range(args.rounds):
        load_before = os.getloadavg()[0]
        vm = vm_rate(payloads, args)
        # 1.0 and 2.0 take turns going first: the load drifts within a round.
        if r % 2:
            vigil_v2 = vigil_rate(payloads_v2, args, headers=HEADERS_V2)
            vigil = vigil_rate(payloads, args)
        else:
            vigil = vigil_rate(payloads, args)
            vigil_v2 = vigil_rate(payloads_v2, args, headers=HEADERS_V2)
        cw = 0.0
        if not args.no_putmetricdata:
            cw = vigil_rate(cw_payloads, args, "/", BATCH, PUT_METRIC_DATA)
        runs.append((vm, vigil, vigil_v2, cw))
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"round {r + 1} (load {load}; 1-minute load at its start {load_before:.1f})")
        print(f"  VictoriaMetrics /api/v1/write (baseline) {vm:>12,.0f} samples/s")
        print(f"  vigil remote write 1.0                   {vigil:>12,.0f} samples/s")
        print(f"  vigil remote write 2.0                   {vigil_v2:>12,.0f} samples/s")
        if cw:
            print(f"  vigil PutMetricData (native path)        {cw:>12,.0f} points/s")
        print(f"  ratio 1.0 / VictoriaMetrics              {vigil / vm:>12.2f}")
        print(f"  ratio 2.0 / VictoriaMetrics              {vigil_v2 / vm:>12.2f}")
        print(f"  ratio 2.0 / 1.0                          {vigil_v2 / vigil:>12.2f}")
        if cw:
            print(f"  ratio remote write 1.0 / PutMetricData   {vigil / cw:>12.2f}")
        print("", end="", flush=True)
    if len(runs) > 1:
        for label, ratios in (
            ("1.0 / VictoriaMetrics", [v / m for m, v, _, _ in runs]),
            ("2.0 / VictoriaMetrics", [v2 / m for m, _, v2, _ in runs]),
            ("2.0 / 1.0", [v2 / v for _, v, v2, _ in runs]),
        ):
            print(
                f"ratio {label}: median {statistics.median(ratios):.2f},"
                f" best {max(ratios):.2f}, worst {min(ratios):.2f} ({len(runs)} rounds)"
            )
        if not args.no_putmetricdata:
            versus = [v / c for _, v, _, c in runs]
            print(f"ratio remote write 1.0 / PutMetricData: median {statistics.median(versus):.2f}")


if __name__ == "__main__":
    main()
