"""Notification fan-out: N alarms change state at once, each alarm's action topic has three
subscriptions (webhook, Slack, PagerDuty); receivers answer after ``--latency`` seconds.
Measures the time from the alarm events to the last delivery marked sent (incidents
opened, outbox written, pipeline, sends, marks), and the same number of POSTs sent
directly on vigil's HTTP client as the same-run baseline (ratio = vigil / direct). A
second round with receivers answering at once gives the pipeline's own cost per
notification (stages, log, state) over the direct send. Also printed: CPU per
notification of vigil's process, of the direct POSTs and of the receiver (a raw asyncio
server, as cheap as a receiver gets), and the load average before and after each round.

    .venv/bin/python -m bench.notify_fanout [--alarms 1000] [--latency 0.2] [--runs 3]
        [--httpx]   # also the direct POSTs on httpx's client, for reference
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import Engine, func, select

from vigil.notify.channels.http import HttpPool, Poster, new_client
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.state.db import open_state
from vigil.state.notifylog import attempts, deliveries

# The receivers: as cheap as a receiver can be, so that the CPU they take from the two
# shared cores does not inflate vigil's figure (a Starlette app on uvicorn cost more per
# request than vigil's send): a raw asyncio HTTP/1.1 server on uvloop, keep-alive, that
# reads each request (Content-Length) and answers 200 (202 on /pd) after the latency.
RECEIVER = """
import asyncio, socket, sys, uvloop
delay = float(sys.argv[1])
OK = b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\ncontent-type: text/plain\\r\\n\\r\\nok"
PD = OK.replace(b"200 OK", b"202 Accepted")

class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\\r\\n\\r\\n")) >= 0:
            head, length = self.buf[:end].lower(), 0
            at = head.find(b"\\r\\ncontent-length:")
            if at >= 0:
                length = int(head[at + 17:].split(b"\\r\\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                return
            reply = PD if head.split(b" ", 2)[1] == b"/pd" else OK
            self.buf = self.buf[end + 4 + length:]
            if delay:
                asyncio.get_running_loop().call_later(delay, self.answer, reply)
            else:
                self.t.write(reply)
    def answer(self, reply):
        if not self.t.is_closing():
            self.t.write(reply)

async def main():
    sock = socket.socket(); sock.bind(("127.0.0.1", 0))
    server = await asyncio.get_running_loop().create_server(Conn, sock=sock, backlog=4096)
    print(sock.getsockname()[1], flush=True)
    await server.serve_forever()
uvloop.run(main())
"""


@dataclass
class Event:
    alarm_name: str
    actions: list[str]
    timestamp_ms: int
    tenant: str = "default"
    region: str = "us-east-1"
    old_state: str = "OK"
    new_state: str = "ALARM"
    reason: str = "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0)."
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alarm_arn(self) -> str:
        return f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{self.alarm_name}"

    def sns_message(self) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "NewStateValue": self.new_state,
            "NewStateReason": self.reason,
            "Region": "US East (N. Virginia)",
            "AlarmArn": self.alarm_arn,
            "OldStateValue": self.old_state,
        }


def start_receiver(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(latency)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def _status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        ).all()
    return {str(status): int(n) for status, n in rows}


async def vigil_round(url: str, alarms: int, data: Path) -> tuple[float, int]:
    """Seconds until every delivery is marked sent, and how many sends were retried. The
    notify pass runs as the server runs it (``NotifyParts.step`` every second: due
    steps, then a flush started beside those still running, and more at once while
    claims come back full), not one awaited flush after another."""
    engine = open_state(str(data / "state.db"))
    settings = NotifySettings(pipeline=Settings(rates={}, flap_threshold=0))
    parts = NotifyParts(engine, settings)
    await parts.start()  # the keys (ack and graph links), as the pillar's start loads them
    arn = (await parts.topics.create_topic("default", "arn:aws:sns:us-east-1:0", "t", {}, {})).arn
    for protocol, endpoint in (
        ("webhook", f"{url}/hook"),
        ("slack", f"{url}/slack"),
        ("pagerduty", "R0UTINGKEY0123456789"),
    ):
        await parts.topics.subscribe("default", arn, protocol, endpoint, {})
    parts.channels["pagerduty"].events_url = f"{url}/pd"  # type: ignore[attr-defined]
    now_ms = int(time.time() * 1000)
    started = time.perf_counter()
    for i in range(alarms):
        parts.alarms.publish(Event(f"alarm-{i}", [arn], now_ms))

    async def server_task() -> None:  # the server's periodic task (tasks.Task)
        while True:
            await parts.step()
            await asyncio.sleep(settings.tick_interval)

    ticking = asyncio.create_task(server_task())
    last = 0.0
    while True:
        # Watched every 50 ms (the pass itself runs every second), so the figure is not
        # rounded up to the next pass.
        counts = await asyncio.to_thread(_status_counts, engine)
        if time.perf_counter() - last >= 1.0:
            last = time.perf_counter()
            print(f"  {last - started:.1f} s: {counts}", file=sys.stderr)
        if counts.get("failed"):
            raise RuntimeError(f"deliveries failed: {counts}")
        if counts.get("sent", 0) >= alarms * 3:
            break
        await asyncio.sleep(0.05)
    ticking.cancel()
    elapsed = time.perf_counter() - started
    await parts.close()
    with engine.connect() as conn:
        retried = int(
            conn.execute(
                select(func.count()).select_from(attempts).where(attempts.c.outcome == "retry")
            ).scalar()
            or 0
        )
    engine.dispose()
    return elapsed, retried


async def direct_round(url: str, count: int, concurrency: int, stack: str = "vigil") -> float:
    """The same POSTs, as many at once as vigil sends (32 per receiver, 3 receivers), on
    the same HTTP stack as vigil's channels (a pool per channel: ``new_client``), or on
    httpx's (``stack="httpx"``: the channels' client before the lean one, for reference)."""
    paths = ("hook", "slack", "pd")
    turns = {p: asyncio.Semaphore(concurrency // 3) for p in paths}
    pools: dict[str, Poster] = {
        p: new_client(30.0) if stack == "vigil" else HttpPool(30.0) for p in paths
    }

    async def one(path: str) -> None:
        async with turns[path]:
            response = await pools[path].post(
                f"{url}/{path}", content=b"{}", headers={"content-type": "application/json"}
            )
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"receiver answered {response.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(one(paths[i % 3]) for i in range(count)))
    elapsed = time.perf_counter() - started
    for pool in pools.values():
        await pool.aclose()
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc), for the receiver's share."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3, help="rounds per latency")
    parser.add_argument(
        "--httpx", action="store_true", help="also time the direct POSTs on httpx's client"
    )
    args = parser.parse_args()
    n = args.alarms * 3
    for latency in (args.latency, 0.0):
        proc, url = start_receiver(latency)
        runs: list[tuple[float, float, int]] = []
        try:
            for _ in range(args.runs):
                load = os.getloadavg()[0]
                cpu, served = time.process_time(), cpu_seconds(proc.pid)
                with tempfile.TemporaryDirectory() as tmp:
                    # uvloop: the loop `vigil serve` runs on (cli.py)
                    vigil, retried = uvloop.run(vigil_round(url, args.alarms, Path(tmp)))
                cpu, served = time.process_time() - cpu, cpu_seconds(proc.pid) - served
                direct_cpu = time.process_time()
                direct = uvloop.run(direct_round(url, n, 3 * 32))
                direct_cpu = time.process_time() - direct_cpu
                runs.append((vigil, direct, retried))
                extra = ""
                if args.httpx:
                    plain = uvloop.run(direct_round(url, n, 3 * 32, "httpx"))
                    extra = f"; direct POSTs on httpx {plain:.2f} s"
                print(
                    f"receivers answering in {latency * 1000:.0f} ms, load {load:.2f}:"
                    f" {args.alarms} alarms x 3 channels = {n} notifications:"
                    f" vigil {vigil:.2f} s, direct POSTs {direct:.2f} s,"
                    f" ratio {vigil / direct:.2f}; per notification vigil"
                    f" {vigil / n * 1e3:.2f} ms, direct {direct / n * 1e3:.2f} ms, pipeline"
                    f" overhead {(vigil - direct) / n * 1e3:.2f} ms; CPU per notification:"
                    f" vigil {cpu / n * 1e3:.2f} ms (all of it: incidents, outbox, stages,"
                    f" sends, marks), direct POST {direct_cpu / n * 1e3:.2f} ms, receiver"
                    f" {served / n * 1e3:.2f} ms; sends retried: {retried}{extra};"
                    f" load after {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        finally:
            proc.terminate()
            proc.wait(10)
        best = min(runs)
        print(
            f"== {latency * 1000:.0f} ms: vigil best {best[0]:.2f} s (ratio {best[0] / best[1]:.2f}"
            f" to its round's direct {best[1]:.2f} s), median"
            f" {statistics.median(r[0] for r in runs):.2f} s; median ratio"
            f" {statistics.median(r[0] / r[1] for r in runs):.2f}; direct best"
            f" {min(r[1] for r in runs):.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
