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


# Pages of chDB's library only this process maps (Private_Clean): MADV_PAGEOUT reclaims
# those; pages another process maps too (a server of the same venv started by another
# test) stay, so the test reads its own share, not RSS.
RSS_FILE = """
def rss_file_mb():
    kb, inside = 0, False
    for line in open("/proc/self/smaps"):
        first = line.split(None, 1)[0]
        if not first.endswith(":"):
            inside = line.rstrip().endswith("_chdb.abi3.so")
        elif inside and first == "Private_Clean:":
            kb += int(line.split()[1])
    return kb // 1024
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
    # import chdb touches ~150-250 MB of its library; what only this process maps goes
    before, after = int(str(result["before"])), int(str(result["after"]))
    assert after <= before // 4, result
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


def test_idle_upkeep_purges_after_work_and_pages_out_once_per_quiet_stretch() -> None:
    from vigil.memory import IdleUpkeep

    upkeep = IdleUpkeep(page_out_after=120.0)
    upkeep.paged_out(10)  # the page-out after start-up, at activity 10
    # (activity, now) -> (purge, page out), one pass a minute
    assert upkeep.step(25, 60.0) == (True, False)  # start-up tasks ran: purge
    assert upkeep.step(25, 120.0) == (False, False)  # untouched: the engine is left alone
    assert upkeep.step(25, 180.0) == (False, True)  # quiet for 120 s: page out
    assert upkeep.step(25, 240.0) == (False, False)  # once per quiet stretch
    assert upkeep.step(25, 3600.0) == (False, False)
    assert upkeep.step(26, 3660.0) == (True, False)  # an hourly pass: purge, not yet out
    assert upkeep.step(26, 3720.0) == (False, False)
    assert upkeep.step(26, 3780.0) == (False, True)
    # Steady traffic never pages out (its code would be read back at once).
    for minute in range(70, 200):
        assert upkeep.step(minute, minute * 60.0)[1] is False


def test_idle_upkeep_without_a_page_out_at_start_still_pages_out_when_quiet() -> None:
    from vigil.memory import IdleUpkeep

    upkeep = IdleUpkeep(page_out_after=120.0)
    assert upkeep.step(5, 0.0) == (True, False)
    assert upkeep.step(5, 119.0) == (False, False)
    assert upkeep.step(5, 120.0) == (False, True)


def test_serve_caps_the_arenas_and_keeps_the_httpx_command_line_out() -> None:
    result = _run(
        """
import json, sys
from vigil import memory
memory.before_serve({})
import httpx
try:
    import httpx._main
    refused = False
except ImportError:
    refused = True
print(json.dumps({"rich": "rich" in sys.modules, "refused": refused,
                  "client": httpx.Client is not None, "capped": memory.cap_arenas(2)}))
"""
    )
    assert result == {"rich": False, "refused": True, "client": True, "capped": True}
