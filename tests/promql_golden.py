"""The ``promql`` kind of golden files (tests/golden/promql/): the same samples loaded into
vigil and into a real Prometheus, the same queries asked of both, answers compared value by
value (the differential suite of issue 15).

``load promql [interval=15s]``: one series a line in promqltest's notation,
``name{label="v",…} VALUES`` where VALUES are numbers, ``_`` (no sample), ``A+BxN`` /
``A-BxN`` (N+1 samples from A by B), ``AxN`` (A, N+1 times), ``_xN`` (N missing); the
first sample is at T0, then one per interval. All load blocks come before the first eval:
the data goes to vigil (through its writer, as the mapping stores remote-written series:
namespace ``prometheus``, ``__name__`` the metric, the other labels dimensions) and to
Prometheus (OpenMetrics → promtool blocks → ``prometheus`` on a free port) once.

``load promql otlp=NAMESPACE [interval=…]``: the lines are one classic histogram's
``_bucket{le}``/``_sum``/``_count`` series (cumulative, as Prometheus stores them, on the
same times). Prometheus gets them as written plus the label ``cloudwatch_namespace``;
vigil gets what an OTLP histogram becomes in its store: one ``HISTOGRAM`` row per time in
namespace NAMESPACE, explicit bounds, each row the delta from the previous one (as the
cumulative conversion at ingest stores it), so PromQL must show the same series back.

``eval promql [at=T,T…] [range=START,END,STEP]``: one query a line; each is asked as an
instant query at every ``at`` time and as a range query over ``range`` (times are offsets
from T0). ``expect prometheus [tolerance=X]``: vigil answers every query as Prometheus does
(same result type, same series, same timestamps, values within X relative; when Prometheus
refuses a query, vigil refuses it with the same ``errorType``); ``expect prometheus ordered``
also wants the series in Prometheus' order.

T0 is yesterday's midnight UTC: vigil keeps standard-resolution points 15 days, so the
data must be recent; every comparison is live, so nothing depends on the day.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from typing import Any

import httpx

from tests.golden.frame import Block, close, duration
from tests.promql_peer import PrometheusPeer, Series
from tests.runtime import InProcessVigil
from vigil.auth import TENANT_HEADER
from vigil.model.metrics import MetricColumns, PointKind

T0 = int(time.time()) // 86400 * 86400 - 86400

_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)?(\{.*\})?\s+(.*)$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_EXPAND = re.compile(r"^(-?[\d.]+|_)(?:([+-])([\d.]+))?x(\d+)$")


def parse_series(line: str) -> tuple[str, dict[str, str], list[float | None]]:
    m = _SERIES.match(line.strip())
    if m is None:
        raise ValueError(f"not a series line: {line!r}")
    name, braces, values = m.group(1) or "", m.group(2) or "{}", m.group(3)
    labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL.findall(braces[1:-1])}
    if not name:
        name = labels.pop("__name__")
    out: list[float | None] = []
    for word in values.split():
        e = _EXPAND.match(word)
        if e is None:
            out.append(None if word == "_" else float(word))
            continue
        start, sign, step, n = e.groups()
        if start == "_":
            out.extend([None] * (int(n) + 1))
            continue
        inc = float(step or 0) * (-1 if sign == "-" else 1)
        out.extend(float(start) + inc * i for i in range(int(n) + 1))
    return name, labels, out


def _otlp_rows(cols: MetricColumns, tenant: str, namespace: str, family: list[Series]) -> None:
    """Classic histogram series → the delta HISTOGRAM rows vigil stores for an OTLP one."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    for name, labels, points in family:
        base, _, part = name.rpartition("_")
        dims = tuple(
            sorted((k, v) for k, v in labels.items() if k not in ("le", "cloudwatch_namespace"))
        )
        g = groups.setdefault((base, dims), {"bucket": {}})
        values = dict(points)
        if part == "bucket":
            g["bucket"][float(labels["le"].replace("+Inf", "inf"))] = values
        else:
            g[part] = values
    for (base, dims), g in groups.items():
        bounds = sorted(b for b in g["bucket"] if not math.isinf(b))
        prev: list[float] | None = None
        for t in sorted(g["count"]):
            cum = [g["bucket"][b][t] for b in bounds] + [g["count"][t]]
            row = [cum[0]] + [b - a for a, b in itertools.pairwise(cum)] + [g["sum"][t]]
            delta = row if prev is None else [a - b for a, b in zip(row, prev, strict=True)]
            prev = row
            cols.add(
                tenant=tenant,
                namespace=namespace,
                name=base,
                dimensions=list(dims),
                unit="Seconds",
                timestamp=round(t * 1e9),
                kind=PointKind.HISTOGRAM,
                value=delta[-1],
                count=sum(delta[:-1]),
                min=math.nan,
                max=math.nan,
                bounds=bounds,
                buckets=[int(x) for x in delta[:-1]],
                metric_type="histogram",
            )


def _normalize(data: dict[str, Any]) -> tuple[str, dict[tuple[tuple[str, str], ...], list[Any]]]:
    kind = data["resultType"]
    result = data["result"]
    if kind in ("scalar", "string"):
        return kind, {(): [tuple(result)]}
    out = {}
    for item in result:
        key = tuple(sorted(item["metric"].items()))
        points = item.get("values") or [item["value"]]
        out[key] = [(float(t), v) for t, v in points]
    return kind, out


def _value(text: str) -> float:
    return float(text.replace("+Inf", "inf").replace("-Inf", "-inf"))


class PromQLDiff:
    def __init__(self, vigil: InProcessVigil, tenant: str) -> None:
        self.vigil = vigil
        self.tenant = tenant
        self.series: list[Series] = []
        self.otlp: list[tuple[str, list[Series]]] = []
        self.peer: PrometheusPeer | None = None
        self.queries = 0

    def load(self, block: Block) -> None:
        if self.peer is not None:
            raise block.fail("load after the first eval: put all load blocks first")
        step = duration(block.options.get("interval", "15s"))
        namespace = block.options.get("otlp")
        loaded: list[Series] = []
        for line in block.body:
            name, labels, values = parse_series(line)
            points = [(T0 + i * step, v) for i, v in enumerate(values) if v is not None]
            if namespace is not None:
                labels = {**labels, "cloudwatch_namespace": namespace}
            loaded.append((name, labels, points))
        self.series.extend(loaded)
        if namespace is not None:
            self.otlp.append((namespace, loaded))

    def _start(self) -> None:
        cols = MetricColumns()
        otlp = {id(x) for _, family in self.otlp for x in family}
        for series in self.series:
            if id(series) in otlp:
                continue  # written below as OTLP histogram rows
            name, labels, points = series
            dims = sorted(labels.items())
            for t, v in points:
                cols.add(
                    tenant=self.tenant,
                    namespace="prometheus",
                    name=name,
                    dimensions=dims,
                    unit="None",
                    timestamp=round(t * 1e9),
                    kind=PointKind.SAMPLE,
                    value=v,
                    metric_type="gauge",
                )

        for namespace, family in self.otlp:
            _otlp_rows(cols, self.tenant, namespace, family)

        async def write(runtime: Any) -> None:
            await runtime.core.writer.write({"metrics": cols.to_arrow()})

        self.vigil.call(write)
        self.peer = PrometheusPeer(self.series).start()

    def close(self) -> None:
        if self.peer is not None:
            self.peer.stop()

    def eval(self, block: Block) -> list[tuple[str, str, Any, Any]]:
        if self.peer is None:
            self._start()
        assert self.peer is not None
        asks: list[tuple[str, dict[str, Any]]] = []
        for t in block.options.get("at", "").split(","):
            if t:
                asks.append(("/query", {"time": T0 + duration(t)}))
        if "range" in block.options:
            start, end, step = block.options["range"].split(",")
            asks.append(
                (
                    "/query_range",
                    {
                        "start": T0 + duration(start),
                        "end": T0 + duration(end),
                        "step": duration(step),
                    },
                )
            )
        if not asks:
            raise block.fail("eval promql needs at=… and/or range=…")
        client = httpx.Client(
            base_url=self.vigil.url + "/prometheus/api/v1",
            headers={TENANT_HEADER: self.tenant},
            timeout=120,
        )
        out = []
        with client:
            for query in block.body:
                self.queries += 1
                for path, params in asks:
                    p = {**params, "query": query}
                    mine = client.get(path, params=p).json()
                    theirs = self.peer.get(path, p).json()
                    out.append((query, f"{path}?{params}", mine, theirs))
        return out

    def expect(self, block: Block, outcome: list[tuple[str, str, Any, Any]]) -> None:
        if block.words[:1] != ("prometheus",):
            raise block.fail("expect prometheus [tolerance=X] is the only expectation of promql")
        problems = []
        for query, ask, mine, theirs in outcome:
            problem = compare(mine, theirs, block.tolerance)
            if problem is None and block.ordered and mine["status"] == "success":
                order = [[s["metric"] for s in x["data"]["result"]] for x in (mine, theirs)]
                if order[0] != order[1]:
                    problem = f"order differs: {order[0]} vs {order[1]}"
            if problem:
                problems.append(f"  {query}  [{ask}]: {problem}")
        if problems:
            raise block.fail("vigil differs from Prometheus:\n" + "\n".join(problems))


def compare(mine: dict[str, Any], theirs: dict[str, Any], tolerance: float) -> str | None:
    if theirs["status"] != "success":
        if mine["status"] == "success":
            return f"Prometheus refused ({theirs['error']}), vigil answered"
        if mine["errorType"] != theirs["errorType"]:
            return f"errorType {mine['errorType']} != {theirs['errorType']} ({mine['error']})"
        return None
    if mine["status"] != "success":
        return f"vigil refused: {mine['error']}"
    kind, got = _normalize(mine["data"])
    want_kind, want = _normalize(theirs["data"])
    if kind != want_kind:
        return f"resultType {kind} != {want_kind}"
    if set(got) != set(want):
        extra = sorted(set(got) - set(want))[:3]
        missing = sorted(set(want) - set(got))[:3]
        return f"series differ: vigil only {extra}, Prometheus only {missing}"
    for key, points in want.items():
        mine_points = got[key]
        mine_t, their_t = [t for t, _ in mine_points], [t for t, _ in points]
        if mine_t != their_t:
            return f"{dict(key)}: timestamps differ: {mine_t[:5]}… vs {their_t[:5]}…"
        for (t, a), (_, b) in zip(mine_points, points, strict=True):
            if kind == "string":
                if a != b:
                    return f"{a!r} != {b!r}"
                continue
            va, vb = _value(a), _value(b)
            if not (close(va, vb, tolerance) or (math.isinf(va) and va == vb)):
                return f"{dict(key)} at {t}: vigil {a} != Prometheus {b}"
    return None
