"""X-Ray decoder cost per span: the native decoder (``vigil.ingest.xray_native``) and the
reference decoder (``vigil.ingest.xray``) against the first version (kept as the test oracle,
tests/xray_reference.py), the baseline, measured in the same run.

    .venv/bin/python bench/xray_decode.py [--docs 2000] [--rounds 5]

Documents as bench/xray.py sends them (a segment with 9 subsegments, annotations, HTTP);
each round decodes the batch and builds the Arrow table the writer receives. CPU time per
span (best round), so that the figure holds on a busy machine too.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import xray_reference

from bench.xray import xray_docs
from vigil.ingest import xray, xray_native


def per_span(decode: Callable[[list[bytes]], int], docs: list[bytes], rounds: int) -> float:
    best = float("inf")
    spans = 0
    for _ in range(rounds):
        gc.collect()
        t0 = time.process_time()
        spans = decode(docs)
        best = min(best, time.process_time() - t0)
    return best / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    docs = [d.partition(b"\n")[2] for d in xray_docs(args.docs, time.time() - 3000)]

    def first(batch: list[bytes]) -> int:
        out = xray_reference.decode_documents(batch, "default", time.time_ns())
        assert out.decoded.spans is not None
        return int(out.decoded.spans.to_arrow().num_rows)

    def current(batch: list[bytes]) -> int:
        out = xray.decode_documents(batch, "default", time.time_ns())
        assert out.decoded.spans is not None
        return int(out.decoded.spans.to_arrow().num_rows)

    def native(batch: list[bytes]) -> int:
        out = xray_native.decode_documents(batch, "default", time.time_ns())
        assert out.decoded.spans is not None
        return int(out.decoded.spans.to_arrow().num_rows)

    base = per_span(first, docs, args.rounds)
    now = per_span(current, docs, args.rounds)
    fast = per_span(native, docs, args.rounds)
    print(f"first decoder (baseline): {base:6.2f} us/span")
    print(f"vigil.ingest.xray:        {now:6.2f} us/span   ratio {now / base:.2f}")
    print(
        f"vigil.ingest.xray_native: {fast:6.2f} us/span   ratio {fast / base:.2f}"
        f" ({now / fast:.1f}x less than the reference)"
    )
    # PutTraceSegments hands over text documents, 50 a request.
    texts = [json.dumps(orjson.loads(d)) for d in docs]

    def requests(decode: Callable[..., xray.XRayDecoded]) -> Callable[[list[bytes]], int]:
        def run(_: list[bytes]) -> int:
            rows = 0
            for i in range(0, len(texts), 50):
                out = decode(texts[i : i + 50], "default", time.time_ns())
                assert out.decoded.spans is not None
                rows += out.decoded.spans.to_arrow().num_rows
            return rows

        return run

    api_ref = per_span(requests(xray.decode_documents), docs, args.rounds)
    api_fast = per_span(requests(xray_native.decode_documents), docs, args.rounds)
    print(
        f"PutTraceSegments (text, 50 a request): reference {api_ref:6.2f} us/span,"
        f" native {api_fast:6.2f} us/span   ratio {api_fast / api_ref:.2f}"
    )


if __name__ == "__main__":
    main()
