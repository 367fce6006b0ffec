"""Decoder cost per item: the native decoders against the reference (upb + Python) path.

    .venv/bin/python bench/decode.py [--items 1000] [--rounds 20]

Both paths turn the same request bytes into the Arrow table the writer receives (the
reference: parse with upb, decode, ``to_arrow``). CPU time per item and the speed-up, so
that the figure holds on a busy machine too.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payloads import logs_payload, metrics_payload, spans_payload
from vigil.ingest.interface import Decoded
from vigil.ingest.otlp.common import parse_protobuf
from vigil.ingest.otlp.native import NATIVE
from vigil.ingest.otlp.signals import SIGNALS, OtlpSignal

MAKERS = {"logs": logs_payload, "traces": spans_payload, "metrics": metrics_payload}


def _table_rows(decoded: Decoded) -> int:
    cols = {"logs": decoded.logs, "traces": decoded.spans, "metrics": decoded.metrics}
    chosen = cols[decoded.signal]
    assert chosen is not None
    return int(chosen.to_arrow().num_rows)


def per_item(fn: object, body: bytes, items: int, rounds: int) -> float:
    assert callable(fn)
    fn(body)
    t0 = time.process_time()
    for _ in range(rounds):
        fn(body)
    return (time.process_time() - t0) / rounds / items * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    now = time.time_ns()
    for name, spec in SIGNALS.items():
        body = MAKERS[name](random.Random(7), args.items)

        def reference(b: bytes, s: OtlpSignal = spec) -> int:
            return _table_rows(s.decode(parse_protobuf(b, s.request), "default", now))

        ref = per_item(reference, body, args.items, args.rounds)
        native = NATIVE.get(name)
        if native is None:
            print(f"{name:8s} reference {ref:6.2f} us/item   native: none (reference path)")
            continue

        def run_native(b: bytes, native: object = native) -> int:
            assert callable(native)
            decoded = native(b, "default", now)
            assert decoded is not None
            return _table_rows(decoded)

        nat = per_item(run_native, body, args.items, args.rounds)
        print(
            f"{name:8s} reference {ref:6.2f} us/item   native {nat:5.2f} us/item"
            f"   speed-up x{ref / nat:4.1f}   ({len(body) / args.items:.0f} B/item)"
        )


if __name__ == "__main__":
    main()
