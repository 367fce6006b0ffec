"""X-Ray daemon ingest, sustained: UDP segment datagrams offered at a fixed rate for a while,
against a vigil process; what is stored, per path, with a baseline measured in the same run.

    .venv/bin/python bench/xray_ingest.py [--rates 40000,80000] [--seconds 10]
        [--paths reference,native] [--docs /tmp/bench-xray/docs.bin] [--single]

Documents as bench/xray.py makes them (a segment with 9 nested subsegments, annotations,
HTTP: 10 spans a datagram), generated once into ``--docs`` and reused; with ``--single``
each of those is sent as 10 datagrams instead (the segment, then its subsegments as
independent subsegment documents: one span a datagram, as SDKs that stream send them).
For each path and offered rate a fresh vigil runs (``reference``:
``VIGIL_NATIVE_DECODERS=0``; ``native``: the default); this process sends the datagrams,
paced, from one socket, then waits until the store has everything that will arrive
(vigil's write queue empty and no new rows for 2 s). Figures: the share of the spans sent
that is stored (what the kernel or the daemon dropped is lost: UDP), stored spans per
second of sending (the sustained rate when the share is ~100 %), vigil's CPU per stored
span (all its threads, until drained), and the ratio of each path's stored rate to the
first path's at the same offered rate.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

from bench.xray import xray_docs

SPANS_PER_DOC = 10
ENV = {"reference": {"VIGIL_NATIVE_DECODERS": "0"}, "native": {}}


@dataclass
class Run:
    path: str
    offered: float  # spans/s
    sent: int  # spans
    send_seconds: float
    stored: int  # spans
    drained_seconds: float  # from the first datagram until everything was stored
    cpu: float  # vigil's CPU seconds over the same time
    outcomes: dict[str, float]

    @property
    def share(self) -> float:
        return self.stored / self.sent

    @property
    def rate(self) -> float:
        return self.stored / self.send_seconds


def load_docs(path: Path, count: int) -> list[bytes]:
    """The datagrams in ``path`` (length-prefixed), generated there first if need be."""
    if not path.exists() or path.stat().st_size == 0:
        print(f"generating {count:,} documents into {path} …", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            base = time.time() - 3300
            for start in range(0, count, 10_000):
                for doc in xray_docs(min(10_000, count - start), base):
                    out.write(struct.pack("<I", len(doc)) + doc)
    data = path.read_bytes()
    docs, at = [], 0
    while at < len(data):
        (size,) = struct.unpack_from("<I", data, at)
        docs.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return docs


def metric(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def outcomes(text: str) -> dict[str, float]:
    return {
        line.split('"')[1]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("vigil_xray_datagrams_total{")
    }


def single(docs: list[bytes]) -> list[bytes]:
    """Each document as its segment and its subsegments, one datagram each."""
    out = []
    for datagram in docs:
        header, _, body = datagram.partition(b"\n")
        doc = orjson.loads(body)
        subsegments = doc.pop("subsegments", [])
        out.append(header + b"\n" + orjson.dumps(doc))
        for sub in subsegments:
            sub |= {"type": "subsegment", "trace_id": doc["trace_id"], "parent_id": doc["id"]}
            out.append(header + b"\n" + orjson.dumps(sub))
    return out


def send(address: tuple[str, int], docs: list[bytes], per_second: float) -> float:
    """Sends ``docs`` at ``per_second`` datagrams a second (paced every 20); the seconds it took."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(address)
    started = time.perf_counter()
    for i in range(0, len(docs), 20):
        for doc in docs[i : i + 20]:
            sock.send(doc)
        ahead = started + (i + 20) / per_second - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    sock.close()
    return time.perf_counter() - started


def run(path: str, rate: float, docs: list[bytes], per_doc: int, workdir: Path) -> Run:
    server = VigilProcess(workdir / f"{path}-{int(rate)}", env=ENV[path]).start()
    try:
        proc = psutil.Process(server.proc.pid if server.proc else 0)
        metrics_url = server.url + "/metrics"
        with httpx.Client(timeout=60) as http:
            cpu0 = sum(proc.cpu_times()[:2])
            started = time.perf_counter()
            seconds = send(server.xray_address, docs, rate / per_doc)
            stored, last, idle = -1.0, -2.0, time.perf_counter()
            while time.perf_counter() - idle < 2.0:
                time.sleep(0.1)
                text = http.get(metrics_url).text
                stored = metric(text, 'vigil_writer_committed_rows_total{table="spans"}')
                queued = metric(text, "vigil_writer_queue_rows ")
                if stored != last or queued:
                    last, idle = stored, time.perf_counter()
            drained = idle - started
            cpu = sum(proc.cpu_times()[:2]) - cpu0
            result = outcomes(text)
        return Run(path, rate, len(docs) * per_doc, seconds, int(stored), drained, cpu, result)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="40000,80000", help="offered spans/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate is sent")
    parser.add_argument("--paths", default="reference,native")
    parser.add_argument("--docs", type=Path, default=Path("/tmp/bench-xray/docs.bin"))
    parser.add_argument("--single", action="store_true", help="one span a datagram")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    paths = args.paths.split(",")
    pool = load_docs(args.docs, int(max(rates) * args.seconds / SPANS_PER_DOC))
    print(f"load {os.getloadavg()[0]:.1f}; {len(pool):,} documents available", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            count = int(rate * args.seconds / SPANS_PER_DOC)
            if count > len(pool):
                raise SystemExit(f"{args.docs} holds {len(pool):,} documents, {count:,} needed")
            docs, per_doc = (single(pool[:count]), 1) if args.single else (pool[:count], 10)
            first: Run | None = None
            for path in paths:
                r = run(path, rate, docs, per_doc, Path(tmp))
                first = first or r
                print(
                    f"{path:9} offered {rate:9,.0f} spans/s for {r.send_seconds:4.1f} s:"
                    f" stored {r.share:6.1%} = {r.rate:9,.0f} spans/s"
                    f" (drained after {r.drained_seconds:4.1f} s),"
                    f" vigil {r.cpu / max(r.stored, 1) * 1e6:5.1f} us CPU/span,"
                    f" ratio {r.rate / max(first.rate, 1):5.2f}; load {os.getloadavg()[0]:.1f};"
                    f" datagrams {r.outcomes}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
