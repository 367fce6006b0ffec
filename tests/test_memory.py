"""Idle memory hand-backs (vigil.memory), each in a fresh interpreter: the effect is on the
process's own RSS and module table, which the test process shares with everything else."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


RSS_FILE = """
def rss_file_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) // 1024
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_PAGEOUT is Linux's")
def test_page_out_drops_the_engine_code_pages_and_queries_still_answer() -> None:
    result = _run(
        RSS_FILE
        + """
import json, chdb
from vigil import memory
before = rss_file_mb()
advised = memory.page_out_library("_chdb.abi3.so")
after = rss_file_mb()
answer = chdb.query("SELECT sum(number) FROM numbers(1000)", "CSV").bytes().decode().strip()
print(json.dumps({"before": before, "after": after, "advised": advised, "answer": answer}))
"""
    )
    assert result["advised"] >= 1
    # import chdb touches ~150-250 MB of its library; at least half of it goes
    assert int(result["after"]) < int(result["before"]) - 60, result  # type: ignore[call-overload]
    assert result["answer"] == "499500"


def test_page_out_of_a_library_not_mapped_does_nothing() -> None:
    from vigil import memory

    assert memory.page_out_library("no-such-library.so") == 0


def test_pyarrow_converts_without_importing_pandas_and_to_pandas_still_works() -> None:
    result = _run(
        """
import json, sys
from vigil import memory
skipped = memory.skip_pandas()
import pyarrow as pa
pa.array([1, 2, 3]); pa.table({"a": ["x"]})
after_arrays = "pandas" in sys.modules
frame = pa.table({"a": [1, 2]}).to_pandas()
print(json.dumps({"skipped": skipped, "after_arrays": after_arrays, "sum": int(frame["a"].sum())}))
"""
    )
    assert result == {"skipped": True, "after_arrays": False, "sum": 3}
