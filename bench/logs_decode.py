"""PutLogEvents decoding CPU per event in-process: the JSON parse, the checks and the Arrow
table (what the event loop spends per event before the writer), over four full 1 MB
requests of bench.logs_data's lines; the baseline is ``orjson.loads`` of the same bodies.

    .venv/bin/python -m bench.logs_decode [--rounds 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from bench.logs_ingest import batches, put_body
from vigil.ingest.cloudwatch_logs import decode_put_log_events


def per_event(
    work: Callable[[bytes], object], bodies: list[bytes], events: int, rounds: int
) -> float:
    started = time.process_time()
    for _ in range(rounds):
        for body in bodies:
            work(body)
    return (time.process_time() - started) / (events * rounds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    now = int(time.time() * 1000)
    requests = batches(4, now)
    bodies = [put_body(events) for events in requests]
    events = sum(len(r) for r in requests)

    def decode(body: bytes) -> object:
        params = orjson.loads(body)
        result = decode_put_log_events(
            params["logEvents"], tenant="default", group="g", stream="s", now_ms=now,
            retention_days=None,
        )  # fmt: skip
        assert result.decoded.logs is not None
        return result.decoded.logs.to_arrow()

    base = per_event(orjson.loads, bodies, events, args.rounds)
    full = per_event(decode, bodies, events, args.rounds)
    print(f"orjson.loads (baseline)     {base:6.2f} us/event")
    print(f"PutLogEvents decode + Arrow {full:6.2f} us/event   ratio {full / base:5.2f}")


if __name__ == "__main__":
    main()
