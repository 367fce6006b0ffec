"""``vigil logs query`` and ``vigil logs tail`` run as real processes against a vigil."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.logs_client import logs_client, now_ms, unique
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def group(vigil: VigilProcess) -> str:
    logs = logs_client(vigil)
    name = unique("/cli")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="web")
    logs.put_log_events(
        logGroupName=name,
        logStreamName="web",
        logEvents=[
            {"timestamp": now_ms() - 100 + i, "message": json.dumps({"level": lvl, "ms": i})}
            for i, lvl in enumerate(["INFO", "ERROR", "ERROR"])
        ],
    )
    return name


def vigil_cmd(
    server: VigilProcess, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "logs", *args, "--url", server.url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_query_prints_a_table_or_json(vigil: VigilProcess, group: str) -> None:
    query = "stats count() as n by level | sort n desc"
    done = vigil_cmd(vigil, "query", "--group", group, "--since", "1h", query)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "level | n",
        "------+--",
        "ERROR | 2",
        "INFO  | 1",
    ]
    assert "2 rows, 3 records matched of 3 scanned" in done.stderr
    as_json = vigil_cmd(vigil, "query", "-g", group, "--json", "fields level, ms | sort ms asc")
    assert json.loads(as_json.stdout) == [
        {"level": "INFO", "ms": "0"},
        {"level": "ERROR", "ms": "1"},
        {"level": "ERROR", "ms": "2"},
    ]
    bad = vigil_cmd(vigil, "query", "-g", group, "stats count( by")
    assert bad.returncode == 1
    assert "column 16 (position 15): expected ')'" in bad.stderr
    missing = vigil_cmd(vigil, "query", "-g", "/no/such/group", "fields a")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr


def read_lines(proc: subprocess.Popen[bytes], count: int, timeout: float = 30) -> list[str]:
    """Read ``count`` lines from the process without blocking past ``timeout``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    lines: list[str] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    while len(lines) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *done, buffer = buffer.split(b"\n")
        lines += [line.decode() for line in done]
    return lines


def test_tail_follows_new_events_through_a_filter(vigil: VigilProcess, group: str) -> None:
    logs: Any = logs_client(vigil)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "logs", "tail", group, "--url", vigil.url,
         "--filter", '{ $.level = "ERROR" }', "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        first = read_lines(proc, 2)
        assert [json.loads(line.split(" ", 2)[2])["ms"] for line in first] == [1, 2]
        assert all(" web " in line for line in first)
        logs.put_log_events(
            logGroupName=group,
            logStreamName="web",
            logEvents=[
                {"timestamp": now_ms(), "message": json.dumps({"level": "INFO", "ms": 3})},
                {"timestamp": now_ms(), "message": json.dumps({"level": "ERROR", "ms": 4})},
            ],
        )
        more = read_lines(proc, 1)
        assert [json.loads(line.split(" ", 2)[2])["ms"] for line in more] == [4]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
