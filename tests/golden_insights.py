"""Golden files for Logs Insights: (log lines, query, expected rows), run against a real
vigil through its real clients (OTLP/HTTP to ingest, boto3 StartQuery/GetQueryResults).

File format (``tests/golden/insights/*.test``), sections in order, ``#`` comments::

    logs                                  # events, one per line:
    2026-11-24T10:00:00Z {"level":"ERROR"}        TIMESTAMP [stream=NAME] MESSAGE
    window 2026-11-24T09:00:00Z 2026-11-24T12:00:00Z   # optional; default: ±1 h around the logs
    query
    stats count() by level
    expect                                # or "expect ordered"; one JSON object per row
    {"level": "ERROR", "count()": "1"}
    error                                 # instead of expect: the error code and a
    MalformedQueryException: column 7     # substring of its message

Each file's events go to their own log group (``/golden/<file name>``). A row must have
exactly the expected fields (``@ptr`` is ignored unless expected).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

GOLDEN_DIR = Path(__file__).parent / "golden" / "insights"


@dataclass
class Case:
    query: str
    line: int
    expect: list[dict[str, str]] | None = None
    ordered: bool = False
    error: str | None = None


@dataclass
class GoldenFile:
    path: Path
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (ms, stream, message)
    window: tuple[int, int] | None = None
    cases: list[Case] = field(default_factory=list)

    @property
    def group(self) -> str:
        return "/golden/" + self.path.stem


def parse_time(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


_EVENT = re.compile(r"^(\S+)\s+(?:stream=(\S+)\s+)?(.*)$")


def load(path: Path) -> GoldenFile:
    golden = GoldenFile(path)
    section = None
    case: Case | None = None
    query_lines: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word = line.strip()
        if word in ("logs", "query", "expect", "expect ordered", "error"):
            if section == "query":
                assert case is not None
                case.query = "\n".join(query_lines)
            section = word.split()[0]
            if word == "query":
                case = Case("", number)
                golden.cases.append(case)
                query_lines = []
            elif word.startswith("expect"):
                assert case is not None, f"{path}:{number}: expect before query"
                case.expect = []
                case.ordered = word == "expect ordered"
            continue
        if word.startswith("window "):
            _, start, end = word.split()
            golden.window = (parse_time(start), parse_time(end))
            continue
        if section == "logs":
            match = _EVENT.match(line)
            assert match, f"{path}:{number}: not an event line"
            golden.events.append(
                (parse_time(match.group(1)), match.group(2) or "main", match.group(3))
            )
        elif section == "query":
            query_lines.append(line)
        elif section == "expect":
            assert case is not None
            assert case.expect is not None
            case.expect.append(orjson.loads(line))
        elif section == "error":
            assert case is not None
            case.error = word
        else:
            raise AssertionError(f"{path}:{number}: unexpected line {line!r}")
    if section == "query" and case is not None:
        case.query = "\n".join(query_lines)
    return golden


def ingest(otlp_url: str, golden: GoldenFile) -> None:
    """Send the file's events over OTLP/HTTP JSON, one resource per stream."""
    streams: dict[str, list[dict[str, Any]]] = {}
    for ms, stream, message in golden.events:
        streams.setdefault(stream, []).append(
            {"timeUnixNano": str(ms * 1_000_000), "body": {"stringValue": message}}
        )
    payload = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {
                            "key": "aws.log.group.names",
                            "value": {"arrayValue": {"values": [{"stringValue": golden.group}]}},
                        },
                        {
                            "key": "aws.log.stream.names",
                            "value": {"arrayValue": {"values": [{"stringValue": stream}]}},
                        },
                    ]
                },
                "scopeLogs": [{"logRecords": records}],
            }
            for stream, records in streams.items()
        ]
    }
    response = httpx.post(f"{otlp_url}/v1/logs", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    assert "rejected" not in response.text.lower() or '"rejectedLogRecords"' not in response.text


def window(golden: GoldenFile) -> tuple[int, int]:
    if golden.window is not None:
        return golden.window
    stamps = [ms for ms, _, _ in golden.events]
    return min(stamps) - 3_600_000, max(stamps) + 3_600_000


def run_query(logs: Any, golden: GoldenFile, query: str) -> list[dict[str, str]]:
    start, end = window(golden)
    kwargs: dict[str, Any] = {
        "startTime": start // 1000,
        "endTime": end // 1000,
        "queryString": query,
    }
    if not query.lstrip().upper().startswith("SOURCE"):
        kwargs["logGroupNames"] = [golden.group]
    query_id = logs.start_query(**kwargs)["queryId"]
    deadline = time.monotonic() + 60
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] not in ("Scheduled", "Running"):
            break
        assert time.monotonic() < deadline, "query did not finish"
        time.sleep(0.05)
    assert answer["status"] == "Complete", answer
    return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


def compare(case: Case, rows: list[dict[str, str]]) -> None:
    assert case.expect is not None
    wants_ptr = any("@ptr" in row for row in case.expect)
    if not wants_ptr:
        rows = [{k: v for k, v in row.items() if k != "@ptr"} for row in rows]
    if case.ordered:
        assert rows == case.expect, f"line {case.line}: {case.query}"
        return

    def key(row: dict[str, str]) -> bytes:
        return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)

    assert sorted(rows, key=key) == sorted(case.expect, key=key), f"line {case.line}: {rows}"


def all_files() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.test"))
