"""The ``series`` and ``metrics`` kinds of golden files (tests/golden/README.md): points in,
GetMetricData queries through vigil's engine against a real store, results out.

``load series ns=NS name=NAME [dims=K:V,…] [unit=U] [res=60] [type=cloudwatch]``, one point
a line: ``OFFSET VALUE``, ``OFFSET values=1,2 counts=1,3``, ``OFFSET stats=N,SUM,MIN,MAX`` or
``OFFSET hist bounds=… buckets=… sum=S [min= max=]``. ``eval metrics start=S end=E [at T]``
(T: the engine's clock, default 0), one query a line: ``ID stat NS NAME DIMS STAT PERIOD``
or ``ID expr EXPRESSION``, options after ``;;`` (``period=``, ``label=``, ``unit=``,
``hidden``). ``expect [tolerance=X]``: every returned result in order, ``ID "LABEL"
OFFSET=VALUE…``; ``expect error TEXT``: TEXT is in ``CODE: message``. Times are seconds
after T0, a fixed day boundary.
"""

from __future__ import annotations

import asyncio
import math
import shlex
from typing import Any

from tests.golden.frame import Block, close, duration
from vigil.model.metrics import MetricColumns, PointKind
from vigil.query.metricmath.functions import FunctionTable, default_functions
from vigil.query.metrics import (
    Fetch,
    MetricQuery,
    MetricSpec,
    QueryError,
    Result,
    get_metric_data,
)
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention

T0 = 1_800_000_000 - 1_800_000_000 % 86400  # a day boundary; file times are offsets from it


def _dims(text: str) -> list[tuple[str, str]]:
    if text in ("", "-"):
        return []
    return sorted(tuple(item.split(":", 1)) for item in text.split(","))  # type: ignore[misc]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def _point(cols: MetricColumns, series: dict[str, str], tenant: str, line: str) -> None:
    offset, _, spec = line.partition(" ")
    row: dict[str, Any] = {
        "tenant": tenant,
        "namespace": series["ns"],
        "name": series["name"],
        "dimensions": _dims(series.get("dims", "")),
        "unit": series.get("unit", "None"),
        "timestamp": (T0 + int(offset)) * 10**9,
        "resolution": int(series.get("res", "60")),
        "metric_type": series.get("type", "cloudwatch"),
    }
    spec = spec.strip()
    if spec.startswith("values="):
        parts = dict(p.split("=", 1) for p in spec.split())
        values = _floats(parts["values"])
        counts = _floats(parts["counts"]) if "counts" in parts else [1.0] * len(values)
        for v, c in zip(values, counts, strict=True):
            cols.add(**row, kind=PointKind.SAMPLE, value=v, count=c)
    elif spec.startswith("stats="):
        count, total, low, high = _floats(spec.removeprefix("stats="))
        cols.add(**row, kind=PointKind.STATS, value=total, count=count, min=low, max=high)
    elif spec.startswith("hist "):
        parts = dict(p.split("=", 1) for p in spec.removeprefix("hist ").split())
        buckets = [int(b) for b in parts["buckets"].split(",")]
        cols.add(
            **row,
            kind=PointKind.HISTOGRAM,
            value=float(parts["sum"]),
            count=float(sum(buckets)),
            min=float(parts.get("min", "nan")),
            max=float(parts.get("max", "nan")),
            bounds=_floats(parts["bounds"]) if parts.get("bounds") else [],
            buckets=buckets,
        )
    else:
        cols.add(**row, kind=PointKind.SAMPLE, value=float(spec))


def query_of(line: str, block: Block) -> MetricQuery:
    head, _, options = line.partition(";;")
    qid, kind, rest = head.strip().split(" ", 2)
    opts: dict[str, str] = {}
    for option in shlex.split(options):
        key, _, value = option.partition("=")
        opts[key] = value or "1"
    query = MetricQuery(id=qid, label=opts.get("label"), return_data="hidden" not in opts)
    if "period" in opts:
        query.period = int(opts["period"])
    if kind == "expr":
        query.expression = rest.strip()
        return query
    if kind != "stat":
        raise block.fail(f"expected 'stat' or 'expr', got {kind!r}")
    ns, name, dims, stat, period = rest.split()
    query.metric = MetricSpec(ns, name, tuple(_dims(dims)))
    query.stat, query.period, query.unit = stat, int(period), opts.get("unit")
    return query


def _result(line: str) -> tuple[str, str, list[tuple[int, float]]]:
    qid, rest = line.split(" ", 1)
    label_end = rest.index('"', 1)
    label = rest[1:label_end]
    points = []
    for item in rest[label_end + 1 :].split():
        t, v = item.split("=")
        points.append((int(t), math.nan if v == "nan" else float(v)))
    return qid, label, points


class Metrics:
    """``series`` (load) and ``metrics`` (eval/expect) for one file, in its own tenant.

    The points of the ``load`` blocks go into the store at the first ``eval``."""

    def __init__(self, store: Store, tenant: str, functions: FunctionTable | None = None) -> None:
        self.store = store
        self.tenant = tenant
        self.points = MetricColumns()
        self.functions = functions if functions is not None else default_functions()
        self.now = T0  # the clock of the eval running (what the anomaly models read)

    def load(self, block: Block) -> None:
        series = block.options
        for line in block.body:
            _point(self.points, series, self.tenant, line)

    def eval(self, block: Block) -> list[tuple[str, str, list[tuple[int, float]]]]:
        if len(self.points):
            self.store.insert("metrics", self.points.to_arrow())
            self.points = MetricColumns()
        now = self.now = T0 + int(duration(block.at or "0"))
        fetch = Fetch(self.store, MetricRetention(), self.tenant, now)
        queries = [query_of(line, block) for line in block.body]
        start, end = int(block.options["start"]), int(block.options["end"])
        results: list[Result] = asyncio.run(
            get_metric_data(fetch, queries, T0 + start, T0 + end, functions=self.functions)
        )
        return [
            (r.id, r.label, [(t - T0, v) for t, v in zip(r.timestamps, r.values, strict=True)])
            for r in results
        ]

    def expect(self, block: Block, outcome: Any) -> None:
        if block.error is not None:
            assert isinstance(outcome, QueryError), outcome
            got = f"{outcome.code}: {outcome.message}"
            assert block.error in got, f"expected error {block.error!r}, got {got!r}"
            return
        wanted = [_result(line) for line in block.body]
        assert [(g[0], g[1]) for g in outcome] == [(e[0], e[1]) for e in wanted], (
            f"results {[(g[0], g[1]) for g in outcome]}"
        )
        for (qid, _, points), (_, _, want) in zip(outcome, wanted, strict=True):
            assert [t for t, _ in points] == [t for t, _ in want], f"{qid} timestamps {points}"
            for (t, value), (_, expected) in zip(points, want, strict=True):
                assert close(value, expected, block.tolerance), (
                    f"{qid} at {t}: got {value}, expected {expected}"
                )
