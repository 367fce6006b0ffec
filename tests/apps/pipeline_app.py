"""A data pipeline traced with the TracingHelper (aws_xray_sdk → vigil's daemon).

argv: run id. Prints one JSON line: the trace ids of the good and the failing batch."""

from __future__ import annotations

import json
import sys

from aws_xray_sdk.core import xray_recorder

from tests.apps.tracing_helper import TracingHelper

helper = TracingHelper("data-pipeline", sampling=False)


@helper.trace_function("load_batch")
def load_batch(batch: int) -> list[int]:
    helper.put_annotation("batch", batch)
    if batch == 13:
        raise ValueError("unlucky batch")
    return list(range(batch))


def run(run_id: str, batch: int) -> str:
    segment = xray_recorder.begin_segment("data-pipeline")
    segment.put_annotation("run", run_id)
    try:
        with helper.add_custom_segment("transform", {"rows": batch, "source": "s3://in"}):
            helper.put_metadata("detail", {"step": "transform", "batch": batch})
            load_batch(batch)
    except ValueError:
        pass
    finally:
        xray_recorder.end_segment()
    return str(segment.trace_id)


if __name__ == "__main__":
    run_id = sys.argv[1]
    print(json.dumps({"good": run(run_id, 5), "bad": run(run_id, 13)}), flush=True)
