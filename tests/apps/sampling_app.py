"""Centralized sampling as aws_xray_sdk does it: the rules and quotas come from vigil.

argv: requests, seconds, run id. Waits for the rules, then opens ``requests`` segments for
service data-pipeline over ``seconds`` and prints {"requests": n, "sampled": k}."""

from __future__ import annotations

import json
import sys
import time

from aws_xray_sdk.core import xray_recorder

xray_recorder.configure(service="data-pipeline", sampling=True, context_missing="LOG_ERROR")


def wait_for_rules(timeout: float = 20.0) -> None:
    sampler = xray_recorder.sampler
    sampler.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.name == "data-pipeline" for r in sampler._cache.rules):
            return
        time.sleep(0.05)
    raise SystemExit("the sampling rules never arrived from vigil")


if __name__ == "__main__":
    total, seconds, run_id = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    wait_for_rules()
    sampled = 0
    started = time.monotonic()
    for i in range(total):
        segment = xray_recorder.begin_segment("data-pipeline")
        if segment.sampled:
            sampled += 1
            segment.put_annotation("run", run_id)
        xray_recorder.end_segment()
        pause = started + seconds * (i + 1) / total - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    print(json.dumps({"requests": total, "sampled": sampled}), flush=True)
