"""Golden files for X-Ray filter expressions, run against a real vigil process: the
segments and spans of each file go in (X-Ray documents through PutTraceSegments, OTLP
spans through OTLP/JSON), each ``query`` must find exactly its ``expect`` traces.

File format (tests/golden/README.md): ``load trace LABEL``, its body X-Ray segment documents
(JSON) or ``otlp {…}`` spans, one a line; times are seconds after a base time and ids are
labels. ``eval xray EXPR`` is followed by ``expect LABEL…`` (the traces found, any order).
Each file runs in a tenant of its own.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.golden.frame import Block, Frame
from tests.vigil_process import VigilProcess
from tests.xray_helpers import new_trace_id, xray_client

GOLDEN = Path(__file__).parent / "golden" / "xray_filter"


class Ids(dict[str, str]):
    def __missing__(self, label: str) -> str:
        self[label] = uuid.uuid4().hex[:16]
        return self[label]


def _xray_doc(doc: dict[str, Any], ids: Ids, base: float, trace_id: str | None) -> dict[str, Any]:
    out = dict(doc)
    out["id"] = ids[doc["id"]]
    if trace_id is not None:
        out["trace_id"] = trace_id
    if "parent_id" in doc:
        out["parent_id"] = ids[doc["parent_id"]]
    for key in ("start_time", "end_time"):
        if key in doc:
            out[key] = base + doc[key]
    if "subsegments" in doc:
        out["subsegments"] = [_xray_doc(s, ids, base, None) for s in doc["subsegments"]]
    return out


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _otlp_span(spec: dict[str, Any], ids: Ids, base: float, trace_id: str) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id[2:].replace("-", ""),
        "spanId": ids[spec["id"]],
        "name": spec["name"],
        "kind": spec["kind"],
        "startTimeUnixNano": str(int((base + spec["start"]) * 1e9)),
        "endTimeUnixNano": str(int((base + spec["end"]) * 1e9)),
        "attributes": [
            {"key": k, "value": _otlp_value(v)} for k, v in spec.get("attributes", {}).items()
        ],
        "status": {"code": spec.get("status", 0)},
    }
    if "parent" in spec:
        span["parentSpanId"] = ids[spec["parent"]]
    return span


class XrayFilter:
    """``trace`` (load) and ``xray`` (eval/expect) for one file, in its own tenant. The
    documents of every ``load trace`` go in at the first ``eval``."""

    def __init__(self, vigil: VigilProcess, tenant: str) -> None:
        self.vigil = vigil
        self.tenant = tenant
        self.xray = xray_client(vigil, tenant)
        self.base = time.time() - 60
        self.ids = Ids()
        self.traces: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.trace_ids: dict[str, str] = {}

    def load(self, block: Block) -> None:
        items = self.traces.setdefault(block.text, [])
        for line in block.body:
            if line.startswith("otlp "):
                items.append(("otlp", orjson.loads(line.removeprefix("otlp "))))
            else:
                items.append(("xray", orjson.loads(line)))

    def _send(self) -> None:
        base, ids = self.base, self.ids
        trace_ids = {label: new_trace_id(base) for label in self.traces}
        docs: list[str] = []
        resource_spans = []
        for label, items in self.traces.items():
            for kind, item in items:
                if kind == "xray":
                    docs.append(orjson.dumps(_xray_doc(item, ids, base, trace_ids[label])).decode())
                else:
                    span = _otlp_span(item, ids, base, trace_ids[label])
                    service = {"key": "service.name", "value": {"stringValue": item["service"]}}
                    resource_spans.append(
                        {"resource": {"attributes": [service]}, "scopeSpans": [{"spans": [span]}]}
                    )
        answer = self.xray.put_trace_segments(TraceSegmentDocuments=docs)
        assert answer["UnprocessedTraceSegments"] == []
        if resource_spans:
            sent = httpx.post(
                f"{self.vigil.otlp_http_url}/v1/traces",
                json={"resourceSpans": resource_spans},
                headers={"X-Vigil-Tenant": self.tenant},
                timeout=30,
            )
            assert sent.status_code == 200, sent.text
            assert "rejected" not in sent.text.lower() or '"rejectedSpans"' not in sent.text
        self.trace_ids.update(trace_ids)
        self.traces = {}

    def eval(self, block: Block) -> set[str]:
        if self.traces:
            self._send()
        found = self.xray.get_trace_summaries(
            StartTime=self.base - 10, EndTime=time.time() + 60, FilterExpression=block.text
        )["TraceSummaries"]
        labels = {tid: label for label, tid in self.trace_ids.items()}
        return {labels.get(t["Id"], t["Id"]) for t in found}

    def expect(self, block: Block, outcome: set[str]) -> None:
        expected = set(block.words)
        assert outcome == expected, f"expected {sorted(expected)}, got {sorted(outcome)}"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.test")), ids=lambda p: p.stem)
def test_golden(vigil: VigilProcess, path: Path) -> None:
    kind = XrayFilter(vigil, tenant=f"golden-{path.stem}-{uuid.uuid4().hex[:6]}")
    frame = Frame().register("trace", kind).register("xray", kind)
    assert frame.run(path) > 0, f"{path} has no eval"
