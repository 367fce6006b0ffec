"""The long fuzz run: N hostile inputs per protocol against a fresh vigil process.

    .venv/bin/python bench/fuzz.py --per-protocol 2000 [--seed 1] [--findings out.json]

Prints, per protocol, the inputs sent, the answers by status class, 5xx, hangs (no answer
within --bound seconds), answers not in the protocol's error shape, store text leaked, and
the slowest answer; then whether the process stayed alive and the canary data (a log event
and a datapoint written first) read back intact. The acceptance (issue 18): 0 × 5xx and
0 hangs over >= 2,000 inputs per protocol. Not a benchmark of speed: the "baseline" the
house rule asks for is the plain canary read, timed before and after the run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz.oracle import Fuzzer, check_canary, write_canary
from tests.fuzz.targets import PROTOCOLS, Context
from tests.vigil_process import VigilProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-protocol", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bound", type=float, default=10.0)
    parser.add_argument("--only", default="", help="comma-separated protocols")
    parser.add_argument("--findings", default="", help="write every finding here (JSON)")
    parser.add_argument("--log", default="", help="keep the server's log here")
    args = parser.parse_args()
    names = [n for n in PROTOCOLS if not args.only or n in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="vigil-fuzz-") as tmp:
        server = VigilProcess(Path(tmp) / "data").start()
        try:
            return _run(server, names, args)
        finally:
            code = server.stop()
            if args.log:
                Path(args.log).write_text(server.log_text())
            print(f"vigil exit code at stop: {code}")


def _run(server: VigilProcess, names: list[str], args: argparse.Namespace) -> int:
    canary = write_canary(server.url)
    started = time.monotonic()
    baseline = check_canary(server.url, canary)
    baseline_s = time.monotonic() - started
    assert baseline is None, baseline
    fuzzer = Fuzzer(server.url, server.otlp_http_url, args.bound, grpc_target=server.grpc_target)
    ctx = Context(canary)
    rng = random.Random(args.seed)
    run_started = time.monotonic()
    for i in range(args.per_protocol):
        for name in names:
            fuzzer.run(PROTOCOLS[name](rng, ctx))
        if i % 200 == 199:
            total = fuzzer.total()
            print(
                f"  … {i + 1}/{args.per_protocol} rounds, {total.sent} sent, "
                f"{len(fuzzer.findings)} findings, {time.monotonic() - run_started:.0f} s",
                flush=True,
            )
    alive = fuzzer.alive()
    started = time.monotonic()
    intact = check_canary(server.url, canary)
    after_s = time.monotonic() - started
    print(f"\nseed {args.seed}, bound {args.bound} s, {time.monotonic() - run_started:.0f} s")
    header = ("protocol", "sent", "2xx", "4xx", "5xx", "hangs", "shape", "leaks", "slowest s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in names:
        t = fuzzer.tallies.get(name)
        if t is None:
            continue
        ok = sum(n for s, n in t.statuses.items() if s < 300)
        client = sum(n for s, n in t.statuses.items() if 400 <= s < 500)
        print(
            f"| {name} | {t.sent} | {ok} | {client} | {t.server_errors} | {t.hangs} | "
            f"{t.bad_shape} | {t.leaks} | {t.slowest:.2f} |"
        )
    total = fuzzer.total()
    print(
        f"total sent {total.sent}; 5xx {total.server_errors}; hangs {total.hangs}; "
        f"shape {total.bad_shape}; leaks {total.leaks}"
    )
    print(
        f"process alive: {alive}; canary: {intact or 'intact'} "
        f"(read {baseline_s * 1000:.0f} ms before, {after_s * 1000:.0f} ms after)"
    )
    kinds = Counter((f.protocol, f.kind, f.detail[:90]) for f in fuzzer.findings)
    for (protocol, kind, detail), n in kinds.most_common(40):
        print(f"  {n:5d} × {protocol} {kind}: {detail}")
    if args.findings:
        Path(args.findings).write_text(
            json.dumps(
                [f.__dict__ if hasattr(f, "__dict__") else _row(f) for f in fuzzer.findings],
                indent=1,
            )
        )
    fuzzer.close()
    bad = total.server_errors + total.hangs + total.bad_shape + total.leaks
    return 0 if alive and intact is None and bad == 0 else 1


def _row(finding: object) -> dict[str, str]:
    return {k: getattr(finding, k) for k in ("protocol", "kind", "detail", "probe")}


if __name__ == "__main__":
    sys.exit(main())
