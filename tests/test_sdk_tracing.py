"""vigil.sdk.tracing against a real vigil: the decorator (sync and async), custom segments,
annotations searchable with filter expressions, metadata kept."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.vigil_process import VigilProcess
from tests.xray_helpers import summaries, wait_for, xray_client
from vigil.sdk import tracing


def test_trace_function_and_segments(vigil: VigilProcess) -> None:
    service = f"sdk-{uuid.uuid4().hex[:8]}"
    provider = tracing.setup(
        service, vigil.otlp_http_url, batch=False, instrument=False, set_global=False
    )

    @tracing.trace_function("parse")
    def parse(text: str) -> int:
        tracing.put_annotation("input.size", len(text))
        return int(text)

    @tracing.trace_function()
    async def fetch(n: int) -> int:
        with tracing.add_custom_segment("download", {"bytes": n, "parts": [1, 2]}):
            tracing.put_metadata("detail", {"n": n}, namespace="io")
        return n

    start = time.time() - 5
    assert parse("42") == 42
    with pytest.raises(ValueError, match="invalid literal"):
        parse("x")
    assert asyncio.run(fetch(7)) == 7
    provider.shutdown()

    xray = xray_client(vigil)
    errors = wait_for(
        lambda: summaries(
            xray,
            f'service("{service}") AND annotation.status = "error"'
            ' AND annotation.error_type = "ValueError"',
            start,
            time.time() + 5,
        )
    )
    assert len(errors) == 1
    assert errors[0]["HasFault"] is True
    ok = summaries(
        xray, f'service("{service}") AND annotation.status = "success"', start, time.time() + 5
    )
    assert len(ok) == 2
    sized = summaries(
        xray, f'service("{service}") AND annotation.input_size = 2', start, time.time() + 5
    )
    assert len(sized) == 1  # "42"; "x" had size 1
    fetched = [t for t in ok if t["Id"] not in {s["Id"] for s in sized}]
    (trace,) = xray.batch_get_traces(TraceIds=[fetched[0]["Id"]])["Traces"]
    docs = [json.loads(s["Document"]) for s in trace["Segments"]]
    (root,) = docs
    assert root["annotations"] == {"status": "success"}
    (download,) = root["subsegments"]
    assert download["name"] == "download"
    assert download["metadata"]["default"]["bytes"] == 7
    assert download["metadata"]["default"]["parts"] == "[1,2]"
    assert download["metadata"]["io"]["detail"] == '{"n":7}'
