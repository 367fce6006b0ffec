"""Acceptance: the real aws_xray_sdk in separate processes, pointed at vigil's daemon with
AWS_XRAY_DAEMON_ADDRESS only; boto3's xray client reads the traces back."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import orjson

from tests.apps.rules import DATA_PIPELINE_RULE
from tests.vigil_process import VigilProcess
from tests.xray_helpers import ROOT, run_app, summaries, wait_for, xray_client


def test_tracing_helper_traces_are_found_by_annotation_and_read_whole(
    vigil: VigilProcess,
) -> None:
    xray = xray_client(vigil)
    run_id = uuid.uuid4().hex[:12]
    start = time.time() - 5
    ids = json.loads(run_app(vigil, "pipeline_app", run_id))

    def found() -> list[dict[str, Any]]:
        expr = f'annotation.run = "{run_id}" AND annotation.status = "error"'
        return summaries(xray, expr, start, time.time() + 5)

    failing = wait_for(found)
    assert [t["Id"] for t in failing] == [ids["bad"]]
    summary = failing[0]
    assert summary["Annotations"]["error_type"][0]["AnnotationValue"] == {
        "StringValue": "ValueError"
    }
    assert summary["EntryPoint"]["Name"] == "data-pipeline"
    both = summaries(xray, f'annotation.run = "{run_id}"', start, time.time() + 5)
    assert {t["Id"] for t in both} == {ids["good"], ids["bad"]}
    ok = summaries(
        xray, f'annotation.run = "{run_id}" AND annotation.batch = 5', start, time.time() + 5
    )
    assert [t["Id"] for t in ok] == [ids["good"]]

    traces = xray.batch_get_traces(TraceIds=[ids["bad"]])
    assert traces["UnprocessedTraceIds"] == []
    (trace,) = traces["Traces"]
    (segment,) = trace["Segments"]
    doc = json.loads(segment["Document"])
    assert doc["name"] == "data-pipeline"
    assert doc["trace_id"] == ids["bad"]
    assert doc["annotations"]["run"] == run_id
    (transform,) = doc["subsegments"]
    assert transform["name"] == "transform"
    assert transform["metadata"]["data-pipeline"]["rows"] == 13
    assert transform["metadata"]["data-pipeline"]["detail"] == {"step": "transform", "batch": 13}
    (load,) = transform["subsegments"]
    assert load["name"] == "load_batch"
    assert load["annotations"] == {"batch": 13, "status": "error", "error_type": "ValueError"}
    assert load["fault"] is True
    assert load["cause"]["exceptions"][0]["type"] == "ValueError"


def test_centralized_sampling_rule_is_obeyed(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    existing = {
        r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]
    }
    if "data-pipeline" not in existing:
        xray.create_sampling_rule(SamplingRule=DATA_PIPELINE_RULE)
    run_id = uuid.uuid4().hex[:12]
    requests, seconds = 2400, 12.0
    start = time.time() - 5
    out = json.loads(run_app(vigil, "sampling_app", str(requests), str(seconds), run_id))
    sampled = out["sampled"]
    # 1 request per second from the reservoir, then 10 % of the rest (binomial: ±5 sigma).
    reservoir = seconds + 2
    expected = reservoir + 0.1 * (requests - reservoir)
    sigma = math.sqrt(requests * 0.1 * 0.9)
    assert abs(sampled - expected) < 5 * sigma, (sampled, expected)
    # What the SDK sampled is what vigil stored.
    stored = wait_for(
        lambda: (
            len(summaries(xray, f'annotation.run = "{run_id}"', start, time.time() + 5)) == sampled
        )
    )
    assert stored
    # The SDK reported its statistics (every ~10 s) and got its quota back.
    stats = {
        s["RuleName"]: s
        for s in xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    }
    assert stats["data-pipeline"]["RequestCount"] > 0


def test_trace_from_xray_sdk_continued_by_opentelemetry_is_one_trace(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    start = time.time() - 5
    backend = subprocess.Popen(
        [sys.executable, "-m", "tests.apps.backend_app", vigil.otlp_http_url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert backend.stdout is not None
        port = int(backend.stdout.readline())
        trace_id = run_app(vigil, "frontend_app", f"http://127.0.0.1:{port}/work").strip()
        assert backend.wait(60) == 0
    finally:
        if backend.poll() is None:
            backend.kill()
            backend.wait()
        if backend.stdout is not None:
            backend.stdout.close()

    def services() -> set[str]:
        found = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        if not found:
            return set()
        return {json.loads(s["Document"])["name"] for s in found[0]["Segments"]}

    assert wait_for(lambda: services() == {"frontend", "backend"}), services()
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    docs = {json.loads(s["Document"])["name"]: json.loads(s["Document"]) for s in trace["Segments"]}
    backend_doc, frontend_doc = docs["backend"], docs["frontend"]
    (call,) = frontend_doc["subsegments"]
    assert call["namespace"] == "remote"
    assert backend_doc["parent_id"] == call["id"]
    assert backend_doc["trace_id"] == trace_id
    (orders,) = backend_doc["subsegments"]
    assert orders["annotations"] == {"rows": 3}
    assert orders["metadata"]["default"]["table"] == "orders"

    hex_id = trace_id[2:].replace("-", "")
    with vigil.client() as http:
        tree = http.get(f"/api/v1/traces/{hex_id}").json()
        assert tree["services"] == ["backend", "frontend"]
        graph = http.get("/api/v1/service-map", params={"start": int(start)}).json()
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert ("frontend|", "backend|") in edges
    api_graph = xray.get_trace_graph(TraceIds=[trace_id])["Services"]
    # The client node (no name) calls the root service, as X-Ray draws it.
    names = {s["ReferenceId"]: s.get("Name", s["Type"]) for s in api_graph}
    api_edges = {
        (names[s["ReferenceId"]], names[e["ReferenceId"]]) for s in api_graph for e in s["Edges"]
    }
    assert api_edges == {("client", "frontend"), ("frontend", "backend")}
    assert orjson.loads(orjson.dumps(api_graph))  # serialisable as sent
