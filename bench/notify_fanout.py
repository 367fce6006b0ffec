"""Notification fan-out: N alarms change state at once, each alarm's action topic has three
subscriptions (webhook, Slack, PagerDuty); receivers answer after ``--latency`` seconds.
Measures the time from the alarm events to the last delivery marked sent (incidents
opened, outbox written, pipeline, sends, marks), and the same number of POSTs sent
directly with one httpx client as the same-run baseline (ratio = vigil / direct). A
second round with receivers answering at once gives the pipeline's own cost per
notification (stages, log, state) over the direct send.

    .venv/bin/python -m bench.notify_fanout [--alarms 1000] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from vigil.notify.channels.http import new_client
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.state.db import open_state
from vigil.state.notifylog import attempts, deliveries

RECEIVER = """
import asyncio, socket, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
delay = float(sys.argv[1])
async def hook(request):
    await request.body()
    if delay:
        await asyncio.sleep(delay)
    return Response(b"ok", 202 if request.url.path == "/pd" else 200)
app = Starlette(routes=[Route("/{p:path}", hook, methods=["POST"])])
sock = socket.socket(); sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", backlog=4096)).run(sockets=[sock])
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
    steps, then a flush started beside those still running), not one awaited flush after
    another."""
    engine = open_state(str(data / "state.db"))
    settings = NotifySettings(pipeline=Settings(rates={}, flap_threshold=0))
    parts = NotifyParts(engine, settings)
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
    while True:
        await parts.step()
        counts = await asyncio.to_thread(_status_counts, engine)
        print(f"  {time.perf_counter() - started:.1f} s: {counts}", file=sys.stderr)
        if counts.get("failed"):
            raise RuntimeError(f"deliveries failed: {counts}")
        if counts.get("sent", 0) >= alarms * 3:
            break
        await asyncio.sleep(settings.tick_interval)
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


async def direct_round(url: str, count: int, concurrency: int) -> float:
    """The same POSTs, as many at once as vigil sends (32 per receiver, 3 receivers), on
    the same HTTP stack as vigil's channels (a pool per channel: ``new_client``)."""
    paths = ("hook", "slack", "pd")
    turns = {p: asyncio.Semaphore(concurrency // 3) for p in paths}
    pools = {p: new_client(30.0) for p in paths}

    async def one(path: str) -> None:
        async with turns[path]:
            response = await pools[path].post(
                f"{url}/{path}", content=b"{}", headers={"content-type": "application/json"}
            )
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(one(paths[i % 3]) for i in range(count)))
    elapsed = time.perf_counter() - started
    for pool in pools.values():
        await pool.aclose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    for latency in (args.latency, 0.0):
        proc, url = start_receiver(latency)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                vigil, retried = asyncio.run(vigil_round(url, args.alarms, Path(tmp)))
            direct = asyncio.run(direct_round(url, args.alarms * 3, 3 * 32))
        finally:
            proc.terminate()
            proc.wait(10)
        n = args.alarms * 3
        print(
            f"receivers answering in {latency * 1000:.0f} ms: {args.alarms} alarms x 3 channels"
            f" = {n} notifications: vigil {vigil:.2f} s, direct POSTs {direct:.2f} s,"
            f" ratio {vigil / direct:.2f}; per notification vigil {vigil / n * 1e3:.2f} ms,"
            f" direct {direct / n * 1e3:.2f} ms, pipeline overhead"
            f" {(vigil - direct) / n * 1e3:.2f} ms; sends retried (timeouts): {retried}"
        )


if __name__ == "__main__":
    main()
