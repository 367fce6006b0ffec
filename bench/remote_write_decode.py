"""Remote-write decoding alone: CPU per request of the native decoders (1.0 and 2.0)
against the reference decoder (upb protobuf + ``SeriesBatch``) on the same bodies, in the
same process and run. The bodies are ``bench/prom_remote_write.py``'s (``--batch``
series of one sample; 2.0 with interned symbols and metadata on every series, as
Prometheus ≥ 2.54 sends it), uncompressed; decoding means ``decode_*(…).decoded(now)``,
what the handler does before the pipeline. Also a 2.0 body with one exemplar on every
``--exemplar-every``-th series (Prometheus with ``send_exemplars: true``).

    .venv/bin/python bench/remote_write_decode.py [--batch 2000] [--repeat 30]

Prints, per body, min and median CPU µs per request (process time) and samples/s of one
core, and the ratio native / reference; with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cramjam

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.prom_remote_write import bodies, bodies_v2
from vigil.ingest.prom import proto
from vigil.ingest.prom.remote_write import (
    NATIVE,
    NATIVE_V2,
    decode_v1,
    decode_v1_reference,
    decode_v2,
    decode_v2_reference,
)


def cpu_us(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times) * 1e6, statistics.median(times) * 1e6


def with_exemplars(body: bytes, every: int) -> bytes:
    req = proto.RequestV2.FromString(body)
    symbols = list(req.symbols)
    req.symbols.extend(["trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"])
    for i, ts in enumerate(req.timeseries):
        if i % every == 0:
            sample = ts.samples[0]
            ts.exemplars.add(
                labels_refs=[len(symbols), len(symbols) + 1],
                value=sample.value,
                timestamp=sample.timestamp,
            )
    return bytes(req.SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--exemplar-every", type=int, default=100)
    args = parser.parse_args()
    if NATIVE is None or NATIVE_V2 is None:
        raise SystemExit("the native decoders are off (VIGIL_NATIVE_DECODERS=0) or not built")
    v1 = bytes(cramjam.snappy.decompress_raw(bodies(1, args.batch)[0]))
    v2 = bytes(cramjam.snappy.decompress_raw(bodies_v2(1, args.batch)[0]))
    v2x = with_exemplars(v2, args.exemplar_every)
    now = time.time_ns()
    assert NATIVE_V2(v2, "t", now) is not None
    assert NATIVE_V2(v2x, "t", now) is not None
    cases = [
        ("1.0", len(v1), lambda: decode_v1(v1, "t", now).decoded(now),
         lambda: decode_v1_reference(v1, "t").decoded(now)),
        ("2.0", len(v2), lambda: decode_v2(v2, "t", now).decoded(now),
         lambda: decode_v2_reference(v2, "t").decoded(now)),
        (f"2.0 + exemplar every {args.exemplar_every}", len(v2x),
         lambda: decode_v2(v2x, "t", now).decoded(now),
         lambda: decode_v2_reference(v2x, "t").decoded(now)),
    ]  # fmt: skip
    print(f"load {' / '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.batch} samples a body")
    for label, size, ours, reference in cases:
        ref_min, ref_med = cpu_us(reference, max(3, args.repeat // 6))
        our_min, our_med = cpu_us(ours, args.repeat)
        print(f"{label} ({size:,} bytes)")
        print(
            f"  reference (baseline) min {ref_min:>8,.0f} µs  median {ref_med:>8,.0f} µs"
            f"  {args.batch / ref_min * 1e6:>12,.0f} samples/s"
        )
        print(
            f"  decode_{'v1' if label == '1.0' else 'v2'} (native first) min {our_min:>8,.0f} µs"
            f"  median {our_med:>8,.0f} µs  {args.batch / our_min * 1e6:>12,.0f} samples/s"
            f"  ×{ref_min / our_min:.1f} the reference"
        )
    print(f"load {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
