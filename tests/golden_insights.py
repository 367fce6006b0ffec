"""The ``logs`` and ``insights`` kinds of golden files (tests/golden/README.md): log lines
in, Logs Insights queries out, run against a real vigil through its real clients (OTLP/HTTP
to ingest, boto3 StartQuery/GetQueryResults).

``load logs [group=NAME]``, one event a line: ``TIMESTAMP [stream=NAME] MESSAGE``. ``eval
insights [start=T end=T] [groups=NAME,NAME]`` (default: ±1 h around the file's events; the
file's own group), the query in the body (several lines join with newlines). ``expect``
or ``expect ordered``: one JSON object per row; a row must have exactly the expected
fields (``@ptr`` is ignored unless expected). ``expect error CODE: TEXT``: the error code,
and a substring of its message.

Each file's events go to their own log group (``/golden/<file name>``), or with
``group=NAME`` to ``/golden/<file name>/NAME``, which ``groups=`` names.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from botocore.exceptions import ClientError

from tests.golden.frame import Block, instant

GOLDEN_DIR = Path(__file__).parent / "golden" / "insights"

_EVENT = re.compile(r"^(\S+)\s+(?:stream=(\S+)\s+)?(.*)$")


class Insights:
    """``logs`` (load) and ``insights`` (eval/expect) for one file. The events of every
    ``load logs`` go in at the first ``eval``."""

    def __init__(self, otlp_url: str, logs: Any, group: str) -> None:
        self.otlp_url = otlp_url
        self.logs = logs
        self.group = group
        self.events: list[tuple[int, str, str, str]] = []  # (ms, stream, message, group)
        self.pending: list[tuple[int, str, str, str]] = []

    def load(self, block: Block) -> None:
        group = self._group(block.options.get("group"))
        for line in block.body:
            match = _EVENT.match(line)
            if match is None:
                raise block.fail(f"not an event line: {line!r}")
            ms = int(instant(match.group(1)) * 1000)
            self.pending.append((ms, match.group(2) or "main", match.group(3), group))

    def _group(self, name: str | None) -> str:
        return self.group if name is None else f"{self.group}/{name}"

    def eval(self, block: Block) -> list[dict[str, str]]:
        if self.pending:
            self._send(self.pending)
            self.events += self.pending
            self.pending = []
        return self._query(block, "\n".join(block.body))

    def expect(self, block: Block, outcome: Any) -> None:
        if block.error is not None:
            code, _, text = block.error.partition(":")
            assert isinstance(outcome, ClientError), outcome
            error = outcome.response["Error"]
            assert error["Code"] == code.strip(), error
            assert text.strip() in error["Message"], error
            return
        expected = [orjson.loads(line) for line in block.body]
        rows: list[dict[str, str]] = outcome
        if not any("@ptr" in row for row in expected):
            rows = [{k: v for k, v in row.items() if k != "@ptr"} for row in rows]
        if block.ordered:
            assert rows == expected, f"got {rows}"
            return

        def key(row: dict[str, str]) -> bytes:
            return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)

        assert sorted(rows, key=key) == sorted(expected, key=key), f"got {rows}"

    def _send(self, events: list[tuple[int, str, str, str]]) -> None:
        """The events over OTLP/HTTP JSON, one resource per group and stream."""
        streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for ms, stream, message, group in events:
            streams.setdefault((group, stream), []).append(
                {"timeUnixNano": str(ms * 1_000_000), "body": {"stringValue": message}}
            )
        payload = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [
                            {
                                "key": "aws.log.group.names",
                                "value": {"arrayValue": {"values": [{"stringValue": group}]}},
                            },
                            {
                                "key": "aws.log.stream.names",
                                "value": {"arrayValue": {"values": [{"stringValue": stream}]}},
                            },
                        ]
                    },
                    "scopeLogs": [{"logRecords": records}],
                }
                for (group, stream), records in streams.items()
            ]
        }
        response = httpx.post(f"{self.otlp_url}/v1/logs", json=payload, timeout=30)
        assert response.status_code == 200, response.text
        assert (
            "rejected" not in response.text.lower() or '"rejectedLogRecords"' not in response.text
        )

    def _window(self, block: Block) -> tuple[int, int]:
        """(start, end) in seconds: the eval's, else ±1 h around the events."""
        if "start" in block.options:
            return int(instant(block.options["start"])), int(instant(block.options["end"]))
        stamps = [event[0] for event in self.events]
        return (min(stamps) - 3_600_000) // 1000, (max(stamps) + 3_600_000) // 1000

    def _query(self, block: Block, query: str) -> list[dict[str, str]]:
        start, end = self._window(block)
        kwargs: dict[str, Any] = {"startTime": start, "endTime": end, "queryString": query}
        if not query.lstrip().upper().startswith("SOURCE"):
            names = block.options.get("groups")
            kwargs["logGroupNames"] = (
                [self.group] if names is None else [self._group(n) for n in names.split(",")]
            )
        query_id = self.logs.start_query(**kwargs)["queryId"]
        deadline = time.monotonic() + 60
        while True:
            answer = self.logs.get_query_results(queryId=query_id)
            if answer["status"] not in ("Scheduled", "Running"):
                break
            assert time.monotonic() < deadline, "query did not finish"
            time.sleep(0.05)
        assert answer["status"] == "Complete", answer
        return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


def all_files() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.test"))
