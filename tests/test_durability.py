"""Acknowledged writes survive `kill -9`: several clients send, the server dies at a random
moment, and after a restart every batch that got a 200 is there, whole."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from tests.otlp_payloads import log, logs_request, span, spans_request
from tests.vigil_process import VigilProcess

PB = {"Content-Type": "application/x-protobuf"}
ROUNDS = 5
CLIENTS = 4
BATCH = 50


def _client(
    server: VigilProcess,
    name: str,
    acked_logs: list[str],
    acked_traces: list[bytes],
    stop: threading.Event,
) -> None:
    with httpx.Client(timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            batch_id = f"{name}-{n}"
            try:
                if n % 2:
                    records = [log(f"{batch_id}-{i}") for i in range(BATCH)]
                    body = logs_request(name, records).SerializeToString()
                    path = "/v1/logs"
                else:
                    trace = uuid.uuid4().bytes
                    spans = [span(trace, uuid.uuid4().bytes[:8], f"s{i}") for i in range(BATCH)]
                    body = spans_request(name, spans).SerializeToString()
                    path = "/v1/traces"
                response = http.post(server.otlp_http_url + path, content=body, headers=PB)
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 200:
                if path == "/v1/logs":
                    acked_logs.append(batch_id)
                else:
                    acked_traces.append(trace)


def test_acknowledged_batches_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(7)
    all_logs: dict[str, list[str]] = {}
    all_traces: list[bytes] = []
    for round_ in range(ROUNDS):
        server = VigilProcess(data).start()
        stop = threading.Event()
        threads = []
        for c in range(CLIENTS):
            name = f"r{round_}c{c}"
            all_logs[name] = []
            t = threading.Thread(
                target=_client, args=(server, name, all_logs[name], all_traces, stop)
            )
            t.start()
            threads.append(t)
        # Let the load run until some batches are acknowledged (slow machines take longer),
        # then kill at a random moment while the clients keep sending.
        names = [f"r{round_}c{c}" for c in range(CLIENTS)]
        deadline = time.monotonic() + 120
        while sum(len(all_logs[n]) for n in names) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        server.kill()
        stop.set()
        for t in threads:
            t.join(30)
    acked = sum(len(v) for v in all_logs.values())
    assert acked >= ROUNDS * 3, "too little was acknowledged to test anything"
    server = VigilProcess(data).start()
    try:
        with server.client() as http:
            for name, batches in all_logs.items():
                bodies = _all_bodies(http, name)
                missing = [
                    b for b in batches if any(f"{b}-{i}" not in bodies for i in range(BATCH))
                ]
                assert not missing, f"acknowledged log batches lost: {missing[:5]}"
                twice = [body for body, n in bodies.items() if n > 1]
                assert not twice, f"log lines stored more than once: {twice[:5]}"
            for trace in all_traces:
                got = http.get(f"/api/v1/traces/{trace.hex()}")
                assert got.status_code == 200, (
                    f"acknowledged trace {trace.hex()} lost (data in {data})"
                )
                assert got.json()["span_count"] == BATCH
    finally:
        assert server.stop() == 0
    # Replaying the log after each kill must not make Arrow warn about misaligned buffers.
    assert "poorly aligned" not in server.log_text()


def _all_bodies(http: httpx.Client, group: str) -> Counter[str]:
    bodies: Counter[str] = Counter()
    cursor = None
    while True:
        params: dict[str, str | int] = {"group": group, "limit": 10_000}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/api/v1/logs", params=params).json()
        bodies.update(entry["body"] for entry in page["logs"])
        cursor = page["next_cursor"]
        if not cursor:
            return bodies


def test_a_crash_between_insert_and_flush_state_does_not_store_twice(tmp_path: Path) -> None:
    """The one moment a WAL replay meets data the store already has: the insert went in,
    the flush state that records it did not. The replay must be deduplicated."""
    data = tmp_path / "data"
    server = VigilProcess(data, env={"VIGIL_FAILPOINT": "exit-after-insert"}).start()
    body = logs_request("once", [log(f"line-{i}") for i in range(200)]).SerializeToString()
    response = httpx.post(server.otlp_http_url + "/v1/logs", content=body, headers=PB, timeout=30)
    assert response.status_code == 200
    assert server.proc is not None
    assert server.proc.wait(60) == 137  # died right after inserting, as the failpoint says
    server.stop()
    again = VigilProcess(data).start()
    try:
        with again.client() as http:
            bodies = _all_bodies(http, "once")
        assert sorted(bodies) == sorted(f"line-{i}" for i in range(200))
        assert set(bodies.values()) == {1}
    finally:
        assert again.stop() == 0
