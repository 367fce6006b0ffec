"""A MetricWidget drawn from the store: its series read through the dashboards' widget
query (``vigil.query.metrics.widgets``: the same answers a dashboard graph shows), then drawn
(``draw.png``, in a worker thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from vigil.query import metrics as md
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metrics import widgets as dq
from vigil.render.draw import Line, png
from vigil.render.widget import Widget, WidgetImageError, from_properties
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


async def widget_png(
    fetch: md.Fetch,
    widget: Widget,
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
) -> bytes:
    """The widget's PNG; ``WidgetImageError`` when its queries cannot run (the message of
    the query error, with the row's id). ``functions``: the server's metric math (with
    the pillars' functions: ANOMALY_DETECTION_BAND, INSIGHT_RULE_METRIC), as dashboards
    and GetMetricData read it."""
    try:
        request = dq.widget_queries("0", widget.properties, widget.period)
    except (dq.WidgetError, ValueError, TypeError, LookupError) as exc:
        raise WidgetImageError(f"MetricWidget/metrics: {exc}") from None
    (result,) = await dq.run(fetch, [request], widget.start, widget.end, search_limit, functions)
    if result.error is not None:
        raise WidgetImageError(f"MetricWidget/metrics: {result.error}")
    lines = [
        Line(
            label=str(s.get("label") or s.get("id")),
            times=s["times"],
            values=s["values"],
            row=int(s.get("row", 0)),
        )
        for s in sorted(result.lines(), key=lambda s: int(s.get("row", 0)))
    ]
    return await asyncio.to_thread(png, widget, lines)


def drawer(
    store: Store,
    retention: MetricRetention,
    clock_ns: Callable[[], int],
    search_limit: int = 500,
    functions: FunctionTable = DEFAULT_FUNCTIONS,
) -> Callable[[str, dict[str, Any]], Awaitable[bytes]]:
    """``draw(tenant, widget properties)`` → PNG, reading ``store`` (for notify's graphs)."""

    async def draw(tenant: str, props: dict[str, Any]) -> bytes:
        now = clock_ns() // 10**9
        widget = from_properties(props, now)
        fetch = md.Fetch(store, retention, tenant, now)
        return await widget_png(fetch, widget, search_limit, functions)

    return draw
