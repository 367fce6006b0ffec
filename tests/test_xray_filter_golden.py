"""Golden files for X-Ray filter expressions, run against a real vigil process: the
segments and spans of each file go in (X-Ray documents through PutTraceSegments, OTLP
spans through OTLP/JSON), each ``query`` must find exactly its ``expect`` traces.

File format (tests/golden/xray_filter/*.test): ``trace LABEL`` starts a trace; the lines
after it are X-Ray segment documents (JSON) or ``otlp {…}`` spans; times are seconds after
a base time and ids are labels. ``query EXPR`` is followed by ``expect LABEL…``.
Each file runs in a tenant of its own.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.vigil_process import VigilProcess
from tests.xray_helpers import new_trace_id, xray_client

GOLDEN = Path(__file__).parent / "golden" / "xray_filter"


@dataclass
class Golden:
    traces: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    queries: list[tuple[int, str, set[str]]] = field(default_factory=list)


def load(path: Path) -> Golden:
    golden = Golden()
    current: str | None = None
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "trace":
            current = rest.strip()
            golden.traces[current] = []
        elif word == "otlp":
            assert current is not None, f"{path}:{number}: span outside a trace"
            golden.traces[current].append(("otlp", orjson.loads(rest)))
        elif word == "query":
            pending = (number, rest.strip())
        elif word == "expect":
            assert pending is not None, f"{path}:{number}: expect without a query"
            golden.queries.append((pending[0], pending[1], set(rest.split())))
            pending = None
        else:
            assert current is not None, f"{path}:{number}: document outside a trace"
            golden.traces[current].append(("xray", orjson.loads(line)))
    return golden


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


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.test")), ids=lambda p: p.stem)
def test_golden(vigil: VigilProcess, path: Path) -> None:
    golden = load(path)
    tenant = f"golden-{path.stem}-{uuid.uuid4().hex[:6]}"
    xray = xray_client(vigil, tenant)
    base = time.time() - 60
    ids = Ids()
    trace_ids = {label: new_trace_id(base) for label in golden.traces}
    docs: list[str] = []
    resource_spans = []
    for label, items in golden.traces.items():
        for kind, item in items:
            if kind == "xray":
                docs.append(orjson.dumps(_xray_doc(item, ids, base, trace_ids[label])).decode())
            else:
                resource_spans.append(
                    {
                        "resource": {
                            "attributes": [
                                {"key": "service.name", "value": {"stringValue": item["service"]}}
                            ]
                        },
                        "scopeSpans": [{"spans": [_otlp_span(item, ids, base, trace_ids[label])]}],
                    }
                )
    answer = xray.put_trace_segments(TraceSegmentDocuments=docs)
    assert answer["UnprocessedTraceSegments"] == []
    if resource_spans:
        sent = httpx.post(
            f"{vigil.otlp_http_url}/v1/traces",
            json={"resourceSpans": resource_spans},
            headers={"X-Vigil-Tenant": tenant},
            timeout=30,
        )
        assert sent.status_code == 200, sent.text
        assert "rejected" not in sent.text.lower() or '"rejectedSpans"' not in sent.text
    labels = {tid: label for label, tid in trace_ids.items()}
    failures = []
    for line, expression, expected in golden.queries:
        found = xray.get_trace_summaries(
            StartTime=base - 10, EndTime=time.time() + 60, FilterExpression=expression
        )["TraceSummaries"]
        got = {labels.get(t["Id"], t["Id"]) for t in found}
        if got != expected:
            failures.append(
                f"{path.name}:{line}: {expression}\n"
                f"  expected {sorted(expected)}, got {sorted(got)}"
            )
    assert not failures, "\n".join(failures)
