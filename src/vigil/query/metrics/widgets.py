"""A dashboard's metric widgets as one GetMetricData request (one per dashboard refresh).

``widget_queries(key, widget, period)`` turns a metric widget's ``metrics`` (rows with
``.``/``...`` shorthands, rendering options, expressions) into ``MetricQuery``s whose ids
carry the widget's key (``w3_m1``), so that several widgets run as one request; the
expressions are rewritten to the new ids on their syntax tree (and ``METRICS()`` becomes
the widget's own metrics, not the whole request's). ``run(fetch, widgets, start, end)``
runs them all at once and, when that request fails, each widget alone, so a widget whose
query fails shows its error and the others their data.

Widgets of plain metrics (no expression, no dynamic label: most of a dashboard) take a
batched path with the same answers: one series lookup for all of them and one statistic
read per (statistic, period, unit) over all their series, instead of two queries per
metric (a 12-widget dashboard of 20 metrics each: 2 queries instead of 480).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.model.dashboard import expand_metric_rows
from vigil.query import metrics as md
from vigil.query.metricmath.ast import ArrayLiteral, Binary, Call, Name, Node, Unary, to_text
from vigil.query.metricmath.errors import MathSyntaxError
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metricmath.parser import parse
from vigil.query.metricmath.series import Ints, grid
from vigil.query.metrics.fetch import Ids, Matrix, statistic_matrix
from vigil.query.metrics.levels import SeriesRef
from vigil.query.metrics.request import GridResult, get_metric_grids
from vigil.query.metrics.series import SeriesKey, exact_series_many, series_key

DEFAULT_STAT = "Average"


class WidgetError(ValueError):
    pass


@dataclass(slots=True)
class WidgetRequest:
    key: str  # [A-Za-z0-9]+, unique in the request
    queries: list[md.MetricQuery]
    rows: dict[str, int]  # query id -> index of its row in ``metrics``


@dataclass(slots=True)
class WidgetResult:
    key: str
    series: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # The widget's one time axis when its series' ``values`` are already on it (NaN: no
    # point; the batched plain path); None when each series carries its own ``times``.
    times: Ints | None = None

    def compact(self) -> dict[str, Any]:
        """The answer for the UI: one time axis for the widget (the periods where any of
        its series has a point) and each series' values on it, NaN where it has no point
        (JSON null): what the chart draws, in half the bytes of times per series. Values
        and times are numpy arrays (``orjson.OPT_SERIALIZE_NUMPY`` writes NaN as null)."""
        if self.error is not None:
            return {"error": self.error}
        if self.times is not None:
            return {"times": self.times, "series": self.series}
        if not self.series:
            return {"times": np.zeros(0, np.int64), "series": []}
        first = self.series[0]["times"]
        if all(np.array_equal(s["times"], first) for s in self.series):
            # One grid (the usual case, e.g. a SEARCH): its periods where any has a point.
            values = np.vstack([s["values"] for s in self.series])
            keep = ~np.isnan(values).all(axis=0)
            rows = np.ascontiguousarray(values[:, keep])  # orjson writes C order only
            times = first[keep]
        else:
            present = [~np.isnan(s["values"]) for s in self.series]
            times = np.unique(
                np.concatenate([s["times"][p] for s, p in zip(self.series, present, strict=True)])
            )
            rows = np.full((len(self.series), len(times)), np.nan)
            for i, (s, p) in enumerate(zip(self.series, present, strict=True)):
                rows[i, np.searchsorted(times, s["times"][p])] = s["values"][p]
        out = [
            {k: v for k, v in s.items() if k != "times"} | {"values": row}
            for s, row in zip(self.series, rows, strict=True)
        ]
        return {"times": times.astype(np.int64), "series": out}

    def lines(self) -> list[dict[str, Any]]:
        """Each series with its own ``times`` and ``values`` (lists of its points only)."""
        out = []
        for s in self.series:
            times = self.times if self.times is not None else s["times"]
            present = ~np.isnan(s["values"])
            out.append(
                s | {"times": times[present].tolist(), "values": s["values"][present].tolist()}
            )
        return out


def widget_queries(key: str, props: dict[str, Any], period: int) -> WidgetRequest:
    """The queries of one metric widget's properties (``period``: the dashboard's, used
    when neither the row nor the widget names one)."""
    metrics = props.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise WidgetError("the widget has no metrics")
    prefix = f"w{key}_"
    rows = expand_metric_rows(metrics)
    ids: list[str] = []
    for i, (_, options) in enumerate(rows):
        ids.append(str(options.get("id") or f"m{i + 1}"))
    metric_ids = [ids[i] for i, (values, _) in enumerate(rows) if values]
    widget_period = props.get("period") if isinstance(props.get("period"), int) else None
    if props.get("setPeriodToTimeRange") is not True and widget_period is None:
        widget_period = period
    queries: list[md.MetricQuery] = []
    row_of: dict[str, int] = {}
    for i, (values, options) in enumerate(rows):
        qid = prefix + ids[i]
        row_of[qid] = i
        row_period = options.get("period") or widget_period or period
        label = options.get("label")
        if "expression" in options:
            try:
                tree = parse(str(options["expression"]))
            except MathSyntaxError as exc:
                raise WidgetError(f"Error in expression {ids[i]}: {exc}") from None
            text = to_text(_rename(tree, set(ids), prefix, metric_ids))
            queries.append(
                md.MetricQuery(
                    id=qid,
                    expression=text,
                    label=label,
                    period=row_period,
                    return_data=options.get("returnData", True) is not False,
                )
            )
            continue
        namespace, name, *dims = values
        dimensions = tuple(sorted(zip(dims[0::2], dims[1::2], strict=True)))
        if label is None:
            label = " ".join([name, *(v for _, v in dimensions)])
        queries.append(
            md.MetricQuery(
                id=qid,
                metric=md.MetricSpec(namespace, name, dimensions),
                stat=str(options.get("stat") or props.get("stat") or DEFAULT_STAT),
                period=int(row_period),
                label=label,
                return_data=options.get("returnData", True) is not False,
            )
        )
    return WidgetRequest(key, queries, row_of)


def _rename(node: Node, ids: set[str], prefix: str, metric_ids: list[str]) -> Node:
    def walk(n: Node) -> Node:
        if isinstance(n, Name):
            return Name(prefix + n.name, n.position) if n.name in ids else n
        if isinstance(n, Call):
            if n.function == "METRICS":
                # The widget's metrics only (all of them, or those whose id holds the text).
                text = getattr(n.args[0], "value", "") if n.args else ""
                chosen = [m for m in metric_ids if str(text) in m]
                return ArrayLiteral(tuple(Name(prefix + m) for m in chosen), n.position)
            return Call(n.function, tuple(walk(a) for a in n.args), n.position)
        if isinstance(n, ArrayLiteral):
            return ArrayLiteral(tuple(walk(a) for a in n.items), n.position)
        if isinstance(n, Unary):
            return Unary(n.op, walk(n.operand), n.position)
        if isinstance(n, Binary):
            return Binary(n.op, walk(n.left), walk(n.right), n.position)
        return n

    return walk(node)


def _answer(request: WidgetRequest, results: Sequence[GridResult]) -> WidgetResult:
    out = WidgetResult(request.key)
    prefix = f"w{request.key}_"
    for r in results:
        if r.id not in request.rows:
            continue
        # An expression without a label is labelled by its id: the widget's, not the
        # prefixed one the batched request ran it under.
        label = r.label[len(prefix) :] if r.label.startswith(prefix) else r.label
        out.series.append(
            {
                "row": request.rows[r.id],
                "id": r.id.split("_", 1)[1],
                "label": label,
                "times": r.timestamps,
                "values": r.values,
            }
        )
    return out


async def run(
    fetch: md.Fetch,
    widgets: Sequence[WidgetRequest],
    start: int,
    end: int,
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
) -> list[WidgetResult]:
    """All widgets in one request; on failure, each alone to say which failed and why.
    ``functions``: metric math's (the server's, e.g. with ANOMALY_DETECTION_BAND)."""
    plain = [w for w in widgets if _is_plain(w)]
    out: dict[str, WidgetResult] = {}
    if plain:
        for r in await _run_plain(fetch, plain, start, end):
            out[r.key] = r
    rest = [w for w in widgets if w.key not in out]
    for r in await _run_math(fetch, rest, start, end, search_limit, functions):
        out[r.key] = r
    return [out[w.key] for w in widgets]


def _is_plain(widget: WidgetRequest) -> bool:
    return all(
        q.metric is not None and q.return_data and "${" not in (q.label or "")
        for q in widget.queries
    )


async def _run_plain(
    fetch: md.Fetch, widgets: Sequence[WidgetRequest], start: int, end: int
) -> list[WidgetResult]:
    """Plain metric widgets, batched; the answers ``md.get_metric_data`` gives them."""
    errors: dict[str, str] = {}
    checked: list[tuple[WidgetRequest, md.MetricQuery, Any]] = []
    for w in widgets:
        try:
            for q in w.queries:
                md.check_period(q.period or 0, f"Period of {q.id.split('_', 1)[1]}")
                checked.append((w, q, md.check_stat(q.stat or "")))
        except md.QueryError as exc:
            errors[w.key] = _unprefixed(exc.message, w.key)
    checked = [c for c in checked if c[0].key not in errors]
    series = await exact_series_many(
        fetch.store, fetch.tenant, [q.metric for _, q, _ in checked if q.metric is not None]
    )
    groups: dict[tuple[str, int, str | None], list[SeriesRef]] = defaultdict(list)
    for _, q, stat in checked:
        ref = series.get(_key(q.metric))
        if ref is not None:
            groups[(stat.name, q.period or 60, q.unit)].append(ref)
    stats = {stat.name: stat for _, _, stat in checked}
    starts = {p: md.align_start(start, fetch.now, p) for _, p, _ in groups}

    async def read(key: tuple[str, int, str | None]) -> tuple[Any, tuple[Ids, Matrix]]:
        name, period, unit = key
        refs = list({r.series_id: r for r in groups[key]}.values())
        found = await statistic_matrix(fetch, refs, stats[name], period, starts[period], end, unit)
        return key, found

    read_values = dict(await asyncio.gather(*(read(k) for k in groups)))
    # Per widget and (statistic, period, unit): the rows of its series in that read's
    # matrix, taken in one indexing; a metric without a series takes an all-NaN row.
    parts: dict[str, dict[tuple[str, int, str | None], list[tuple[md.MetricQuery, int]]]] = {}
    for w, q, stat in checked:
        key = (stat.name, q.period or 60, q.unit)
        order = read_values[key][0] if key in read_values else np.zeros(0, np.uint64)
        ref = series.get(_key(q.metric))
        at = -1
        if ref is not None:
            i = int(np.searchsorted(order, np.uint64(ref.series_id)))
            at = i if i < len(order) and order[i] == ref.series_id else -1
        parts.setdefault(w.key, {}).setdefault(key, []).append((q, at))
    results: dict[str, WidgetResult] = {}
    for w in widgets:
        if w.key in errors:
            results[w.key] = WidgetResult(w.key, error=errors[w.key])
            continue
        blocks = []
        for key, chosen in parts.get(w.key, {}).items():
            period = key[1]
            stamps = grid(starts.get(period, md.align_start(start, fetch.now, period)), end, period)
            rows = np.array([at for _, at in chosen], dtype=np.int64)
            values = np.full((len(rows), len(stamps)), np.nan)
            if key in read_values:
                values[rows >= 0] = read_values[key][1][rows[rows >= 0]]
            blocks.append((stamps, values, [q for q, _ in chosen]))
        results[w.key] = _on_one_axis(w, blocks)
    return [results[w.key] for w in widgets]


def _on_one_axis(
    w: WidgetRequest, blocks: list[tuple[Ints, Matrix, list[md.MetricQuery]]]
) -> WidgetResult:
    """A widget's series on one time axis: the periods where any has a value."""
    axes = [stamps[~np.isnan(values).all(axis=0)] for stamps, values, _ in blocks]
    times = (
        axes[0] if len(axes) == 1 else np.unique(np.concatenate(axes or [np.zeros(0, np.int64)]))
    )
    out = WidgetResult(w.key, times=times.astype(np.int64))
    for stamps, values, queries in blocks:
        on_axis = np.full((len(queries), len(times)), np.nan)
        where = np.searchsorted(stamps, times)
        inside = where < len(stamps)
        inside[inside] &= stamps[where[inside]] == times[inside]
        on_axis[:, inside] = values[:, where[inside]]
        for q, row in zip(queries, on_axis, strict=True):
            out.series.append(
                {
                    "row": w.rows[q.id],
                    "id": q.id.split("_", 1)[1],
                    "label": q.label or (q.metric.name if q.metric else q.id),
                    "values": row,
                }
            )
    out.series.sort(key=lambda s: int(s["row"]))
    return out


def _key(metric: md.MetricSpec | None) -> SeriesKey:
    assert metric is not None
    return series_key(metric)


async def _run_math(
    fetch: md.Fetch,
    widgets: Sequence[WidgetRequest],
    start: int,
    end: int,
    search_limit: int,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
) -> list[WidgetResult]:
    if not widgets:
        return []
    queries = [q for w in widgets for q in w.queries]
    try:
        results = await get_metric_grids(
            fetch, queries, start, end, search_limit=search_limit, functions=functions
        )
    except md.QueryError as exc:
        if len(widgets) == 1:
            return [WidgetResult(widgets[0].key, error=_unprefixed(exc.message, widgets[0].key))]
    else:
        return [_answer(w, results) for w in widgets]

    async def alone(widget: WidgetRequest) -> WidgetResult:
        try:
            found = await get_metric_grids(
                fetch, widget.queries, start, end, search_limit=search_limit, functions=functions
            )
        except md.QueryError as exc:
            return WidgetResult(widget.key, error=_unprefixed(exc.message, widget.key))
        return _answer(widget, found)

    return list(await asyncio.gather(*(alone(w) for w in widgets)))


def _unprefixed(message: str, key: str) -> str:
    return message.replace(f"w{key}_", "")
