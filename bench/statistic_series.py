"""``statistic_series`` over many series: the grid fill, linear vs the former per-series
masking (quadratic in the number of series), on the same store answer.

    .venv/bin/python bench/statistic_series.py [--series 1000,10000,30000] [--minutes 10]
        [--rounds 3]

Data: ``bench.alarm_windows.generate`` (one latency-like metric, a ``host`` dimension per
series, a point a minute up to now). For each series count: the whole
``statistic_series`` call (Average, 60 s periods, the last ``--minutes`` minutes; best of
``--rounds``), and the baseline in the same run: the same store read followed by the
former fill, which masked the whole answer once per series. Both answers are checked
equal; printed: times and the ratio new / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.alarm_windows import generate
from vigil.query.metricmath.series import grid
from vigil.query.metrics import Fetch, levels, statistic_series
from vigil.query.metrics.fetch import aggregate_vectors
from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.statistics import parse_statistic
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.store.retention import MetricRetention


async def refs_of(store: ClickHouseStore, count: int) -> list[SeriesRef]:
    rows = await store.query(
        "SELECT series_id FROM metric_series WHERE tenant = 'default' AND name = 'Latency'"
        " GROUP BY series_id ORDER BY series_id LIMIT {n:UInt64}",
        {"n": count},
    )
    return [SeriesRef("Bench", "Latency", int(r[0])) for r in rows.rows]


async def former(
    f: Fetch, refs: list[SeriesRef], period: int, start: int, end: int
) -> dict[int, Any]:
    """The fill before this change: one boolean mask over the whole answer per series."""
    stamps = grid(start, end, period)
    out = {r.series_id: np.full(len(stamps), np.nan) for r in refs}
    level = levels.choose_level(f.retention, period, start, f.now, False)
    table = await levels.fetch_aggregates(f.store, level, f.tenant, refs, period, start, end)
    ids = table.column("series_id").to_numpy()
    b = table.column("b").to_numpy().astype(np.int64)
    cols = [table.column(c).to_numpy().astype(np.float64) for c in ("c", "s", "lo", "hi")]
    values = aggregate_vectors("Average", *cols)
    for sid in np.unique(ids):
        mask = ids == sid
        keep = mask & (b >= 0) & (b < len(stamps))
        out[int(sid)][b[keep]] = values[keep]
    return out


def best(fn: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = asyncio.run(fn())
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--series", default="1000,10000,30000")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    counts = [int(c) for c in args.series.split(",")]
    now = int(time.time()) // 3600 * 3600
    stat = parse_statistic("Average")
    start, end = now - args.minutes * 60, now
    with tempfile.TemporaryDirectory(prefix="vigil-statistic-series-") as tmp:
        store = ClickHouseStore("chdb://" + str(Path(tmp) / "ch"))
        try:
            migrate(store)
            generate(store, max(counts), args.minutes, now)
            f = Fetch(store, MetricRetention(), "default", now)
            print("series   statistic_series   former fill (baseline)   ratio")
            for count in counts:
                refs = asyncio.run(refs_of(store, count))
                new_s, new = best(
                    lambda r=refs: statistic_series(f, r, stat, 60, start, end, None),
                    args.rounds,
                )
                old_s, old = best(lambda r=refs: former(f, r, 60, start, end), args.rounds)
                assert new.keys() == old.keys()
                assert all(np.array_equal(new[k], old[k], equal_nan=True) for k in new)
                print(
                    f"{len(refs):6,}   {new_s * 1000:12.0f} ms   {old_s * 1000:16.0f} ms"
                    f"        {new_s / old_s:.3f}"
                )
        finally:
            store.close()


if __name__ == "__main__":
    main()
