"""Reads the golden files of tests/golden/metrics (format in tests/golden/metrics/README.md)."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.model.metrics import MetricColumns, PointKind
from vigil.query.metricdata import MetricQuery, MetricSpec

T0 = 1_800_000_000 - 1_800_000_000 % 86400  # a day boundary; file times are offsets from it


@dataclass
class Expect:
    results: list[tuple[str, str, list[tuple[int, float]]]] = field(default_factory=list)
    error: str | None = None
    tolerance: float = 1e-9


@dataclass
class Case:
    start: int
    end: int
    queries: list[MetricQuery]
    expect: Expect
    line: int


@dataclass
class Golden:
    now: int
    points: MetricColumns
    cases: list[Case]


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


def _query(line: str, line_no: int) -> MetricQuery:
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
        raise ValueError(f"line {line_no}: expected 'stat' or 'expr', got {kind!r}")
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


def load(path: Path, tenant: str) -> Golden:
    now = 0
    cols = MetricColumns()
    cases: list[Case] = []
    series: dict[str, str] | None = None
    section = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indented = line.startswith(" ")
        words = line.split()
        if not indented:
            section = words[0]
            opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if section == "now":
                now = int(words[1])
            elif section == "series":
                series = opts
            elif section == "query":
                cases.append(Case(int(opts["start"]), int(opts["end"]), [], Expect(), number))
            elif section == "expect":
                expect = cases[-1].expect
                expect.tolerance = float(opts.get("tolerance", expect.tolerance))
                if len(words) > 1 and words[1] == "error":
                    expect.error = line.split("error", 1)[1].strip()
            else:
                raise ValueError(f"{path.name}:{number}: unknown section {section!r}")
            continue
        body = line.strip()
        if section == "series" and series is not None:
            _point(cols, series, tenant, body)
        elif section == "query":
            cases[-1].queries.append(_query(body, number))
        elif section == "expect":
            cases[-1].expect.results.append(_result(body))
        else:
            raise ValueError(f"{path.name}:{number}: unexpected indented line")
    return Golden(now, cols, cases)
