"""Contributor Insights reports over many log lines: the report computed in the store
(``query.contributors.report``) against a baseline measured in the same run — the same
question asked as a Logs Insights query through vigil's Insights runner — with the two
answers checked equal.

    .venv/bin/python bench/contributors.py [--rows 1000000] [--rounds 3]

Data: ``bench.logs_query.generate`` (realistic ETL service logs, 80 % JSON, through the
PutLogEvents decoder) over 24 hours. Questions: "which hosts log most errors" (a Count
rule: Keys $.host, filter level In [ERROR]) and "which pipeline × host pairs process
most items" (a Sum rule of $.items with two keys). Printed: the best time of each, the
Insights baseline and the ratio (report / Insights).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.logs_query import DAY_MS, GROUP, generate
from vigil.query.contributors import parse, report
from vigil.query.insights import parse_query
from vigil.query.insights.runner import QueryRequest, execute
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate

CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {"Keys": ["$.host"], "Filters": [{"Match": "$.level", "In": ["ERROR"]}]},
        "Count",
        'filter level = "ERROR" | stats count() as n by host | sort n desc, host asc | limit 10',
    ),
    (
        {"Keys": ["$.pipeline", "$.host"], "ValueOf": "$.items"},
        "Sum",
        "filter ispresent(items) | stats sum(items) as n by pipeline, host"
        " | sort n desc, pipeline asc, host asc | limit 10",
    ),
]


def rule(contribution: dict[str, Any], aggregate: str) -> str:
    return json.dumps(
        {
            "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
            "LogGroupNames": [GROUP],
            "LogFormat": "JSON",
            "Contribution": contribution,
            "AggregateOn": aggregate,
        }
    )


def best(fn: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        began = time.perf_counter()
        result = asyncio.run(fn())
        times.append(time.perf_counter() - began)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    start_ms = (int(time.time()) - 86_400) // 3600 * 3600 * 1000
    with tempfile.TemporaryDirectory(prefix="vigil-contributors-") as tmp:
        store = ClickHouseStore("chdb://" + str(Path(tmp) / "ch"))
        try:
            migrate(store)
            began = time.perf_counter()
            generate(store, args.rows, start_ms)
            print(f"loaded {args.rows:,} rows in {time.perf_counter() - began:.1f} s")
            start, end = start_ms // 1000, (start_ms + DAY_MS) // 1000
            for contribution, aggregate, insights in CASES:
                definition = parse(rule(contribution, aggregate))

                async def contributors(d: Any = definition) -> Any:
                    return await report(store, d, "default", start, end, 3600, 10)

                async def baseline(q: str = insights) -> Any:
                    req = QueryRequest(
                        "default", q, parse_query(q), [GROUP], start_ms, start_ms + DAY_MS
                    )
                    return await execute(store, req, timeout=120)

                ours_s, ours = best(contributors, args.rounds)
                base_s, base = best(baseline, args.rounds)
                got = [(c.keys, c.value) for c in ours.contributors]
                keys = contribution["Keys"]
                want = [
                    ([row[k[2:]] for k in keys], float(row["n"]))
                    for row in (dict(r) for r in base.rows)
                ]
                assert got == want, f"{got} != {want}"
                print(
                    f"{aggregate:5} rule {keys}: report {ours_s * 1000:8.0f} ms"
                    f" (top 10 + {len(ours.periods)} hourly periods),"
                    f" Insights {base_s * 1000:8.0f} ms,"
                    f" ratio {ours_s / base_s:.2f}"
                )
        finally:
            store.close()


if __name__ == "__main__":
    main()
