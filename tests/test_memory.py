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
    answer: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


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
    assert int(str(result["advised"])) >= 1
    # import chdb touches ~150-250 MB of its library; at least half of it goes
    before, after = int(str(result["before"])), int(str(result["after"]))
    assert after < before - 60, result
    assert result["answer"] == "499500"


def test_page_out_of_a_library_not_mapped_does_nothing() -> None:
    from vigil import memory

    assert memory.page_out_library("no-such-library.so") == 0


def test_arrow_conversions_and_the_engine_work_without_pandas() -> None:
    result = _run(
        """
import datetime, json, sys
from vigil import memory
installed = memory.keep_pandas_out()
import chdb, pyarrow as pa
pa.array([1, None]); pa.array([datetime.datetime.now()]); pa.array([[1, 2]])
table = pa.table({"a": ["x", None], "b": [1.5, None]})
answer = chdb.query("SELECT sum(number) FROM numbers(10)", "CSV").bytes().decode().strip()
try:
    import pandas
    refused = ""
except ImportError as exc:
    refused = str(exc)
print(json.dumps({"installed": installed, "pandas": "pandas" in sys.modules,
                  "rows": table.num_rows, "answer": answer, "refused": refused}))
"""
    )
    assert result == {
        "installed": True,
        "pandas": False,
        "rows": 2,
        "answer": "45",
        "refused": "vigil serve does not load pandas (see vigil/memory.py)",
    }
