"""A parsed widget and its series → PNG bytes, drawn with matplotlib's Agg canvas.

matplotlib is imported here, inside ``png``, on the first graph drawn: it costs tens of
MB of memory and a second of import, which an idle vigil (no notification with a graph,
no GetMetricWidgetImage) never pays. A ``Figure`` with its own Agg canvas is used, not
``pyplot``, so no global figure state is shared; drawing is serialized by a lock anyway
(matplotlib's font cache and text layout are not documented as thread-safe) and runs in
a worker thread, never on the event loop.

Colours are CloudWatch's graph palette (the d3 "category10" order); annotations follow
CloudWatch: a horizontal line with optional fill above/below, a band between two values,
vertical lines or bands over time. Times are shown in the widget's time zone offset.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from vigil.render.widget import Widget

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_ANNOTATION = "#d62728"
BAND_GREY = "#b4b4b4"  # on white at alpha 0.45: (221, 221, 221)
_LOCK = threading.Lock()
_DPI = 100


@dataclass(slots=True)
class Line:
    label: str
    times: Sequence[int]  # epoch seconds, ascending
    values: Sequence[float]
    row: int = 0  # the widget's metrics row it came from
    unit: str | None = None


def png(widget: Widget, lines: Sequence[Line], note: str = "") -> bytes:
    """The graph as PNG bytes, ``widget.width`` x ``widget.height`` pixels. ``note``: a
    warning shown under the title (a series that could not be read)."""
    with _LOCK:
        return _draw(widget, lines, note)


def _draw(widget: Widget, lines: Sequence[Line], note: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(widget.width / _DPI, widget.height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    small = max(6.0, min(9.0, widget.height / 45))
    ax = fig.add_subplot(1, 1, 1)
    title = widget.title + (f"  \u26a0 {note}" if note else "")
    if title:
        ax.set_title(title, fontsize=small + 1, loc="left", color="#16191f")
    shown = [(i, ln) for i, ln in enumerate(lines) if _style(widget, ln).visible]
    tz = timezone(timedelta(seconds=widget.tz_offset))
    if widget.view == "timeSeries":
        _time_series(fig, ax, widget, shown, tz, small)
        most = max(3, widget.width // 90)
        ax.xaxis.set_major_locator(
            AutoDateLocator(  # type: ignore[no-untyped-call]
                # a narrow graph allows few ticks: with the default of at least 5, no
                # interval fits a few hours in 3 ticks (matplotlib warns, picks 30 s)
                tz=tz,
                minticks=5 if most >= 6 else 2,
                maxticks=most,
            )
        )
        ax.xaxis.set_major_formatter(
            DateFormatter(_date_format(widget), tz=tz)  # type: ignore[no-untyped-call]
        )
    elif widget.view in ("bar", "pie"):
        _summary(ax, widget, shown)
    else:
        _single_value(ax, widget, shown, small)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=small, colors="#545b64")
    if widget.legend != "hidden" and shown and widget.view in ("timeSeries", "bar"):
        # Both y axes' lines, in row order (a right-axis line lives on the twin axes).
        handles, labels = [], []
        for axes in fig.axes:
            h, lab = axes.get_legend_handles_labels()
            handles += h
            labels += lab
        if widget.legend == "right":
            ax.legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(1.06, 1),
                fontsize=small,
                frameon=False,
            )
        else:
            ax.legend(
                handles,
                labels,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.12),
                ncol=max(1, min(len(shown), widget.width // 180)),
                fontsize=small,
                frameon=False,
            )
    with contextlib.suppress(ValueError, RuntimeError):  # a tiny canvas: default layout
        fig.tight_layout(pad=0.6)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=_DPI, facecolor="white")
    return out.getvalue()


def _style(widget: Widget, line: Line) -> Any:
    from vigil.render.widget import RowStyle

    return widget.rows[line.row] if line.row < len(widget.rows) else RowStyle()


def _color(widget: Widget, line: Line, i: int) -> str:
    return _style(widget, line).color or PALETTE[i % len(PALETTE)]


def _date_format(widget: Widget) -> str:
    span = widget.end - widget.start
    return "%H:%M" if span <= 2 * 86400 else "%m-%d %H:%M" if span <= 14 * 86400 else "%m-%d"


def _dt(t: float, tz: Any) -> datetime:
    return datetime.fromtimestamp(t, UTC).astimezone(tz)


def _time_series(
    fig: Any, ax: Any, widget: Widget, shown: list[tuple[int, Line]], tz: Any, small: float
) -> None:
    import numpy as np

    right = None
    if any(_style(widget, ln).right for _, ln in shown) or any(h.right for h in widget.horizontal):
        right = ax.twinx()
        right.spines["top"].set_visible(False)
        right.tick_params(labelsize=small, colors="#545b64")
    stack: dict[bool, Any] = {}
    _bands(ax, right, widget, shown, tz)
    for i, ln in shown:
        if _style(widget, ln).band:
            continue
        target = right if (right is not None and _style(widget, ln).right) else ax
        xs = np.array([_dt(t, tz) for t in ln.times], dtype=object)
        ys = np.asarray(ln.values, dtype=float)
        label = _style(widget, ln).label or ln.label
        color = _color(widget, ln, i)
        if widget.stacked and len(ys):
            key = target is right
            base = stack.get(key)
            base = np.zeros(len(ys)) if base is None or len(base) != len(ys) else base
            target.fill_between(xs, base, base + ys, color=color, alpha=0.5, linewidth=0)
            target.plot(xs, base + ys, color=color, linewidth=1.2, label=label)
            stack[key] = base + ys
        else:
            marker = "o" if len(ys) <= 2 else None
            target.plot(xs, ys, color=color, linewidth=1.4, label=label, marker=marker, ms=3)
    ax.set_xlim(_dt(widget.start, tz), _dt(widget.end, tz))
    for axis, spec in ((ax, widget.left), (right, widget.right)):
        if axis is None:
            continue
        lo, hi = axis.get_ylim()
        values = [h.value for h in widget.horizontal if (h.right == (axis is right))]
        values += [h.until for h in widget.horizontal if h.until is not None]
        if values:  # an annotation outside the data stays in view, as in CloudWatch
            lo, hi = min(lo, *values), max(hi, *values)
            pad = (hi - lo) * 0.05 or 1.0
            lo, hi = lo - pad, hi + pad
        if not shown and not values:
            lo, hi = 0.0, 1.0
        lo = spec.min if spec.min is not None else lo
        hi = spec.max if spec.max is not None else hi
        if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
            axis.set_ylim(lo, hi)
        if spec.label:
            axis.set_ylabel(spec.label, fontsize=small)
        elif spec.show_units:
            units = {ln.unit for _, ln in shown if ln.unit and ln.unit != "None"}
            if len(units) == 1:
                axis.set_ylabel(units.pop(), fontsize=small)
    for h in widget.horizontal:
        axis = right if (h.right and right is not None) else ax
        color = h.color or _ANNOTATION
        lo, hi = axis.get_ylim()
        if h.until is not None:
            axis.axhspan(min(h.value, h.until), max(h.value, h.until), color=color, alpha=0.15)
        else:
            axis.axhline(h.value, color=color, linewidth=1.2, linestyle="--")
            if h.fill == "above":
                axis.axhspan(h.value, hi, color=color, alpha=0.12)
            elif h.fill == "below":
                axis.axhspan(lo, h.value, color=color, alpha=0.12)
            axis.set_ylim(lo, hi)
        if h.label:
            axis.annotate(
                h.label,
                xy=(1.0, h.value),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=small,
                color=color,
            )
    for v in widget.vertical:
        color = v.color or "#7f7f7f"
        at = _dt(v.at, tz)
        if v.until is not None:
            ax.axvspan(at, _dt(v.until, tz), color=color, alpha=0.15)
        else:
            ax.axvline(at, color=color, linewidth=1.2)
            if v.fill == "before":
                ax.axvspan(_dt(widget.start, tz), at, color=color, alpha=0.12)
            elif v.fill == "after":
                ax.axvspan(at, _dt(widget.end, tz), color=color, alpha=0.12)
        if v.label:
            ax.annotate(
                v.label,
                xy=(at, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=small,
                color=color,
            )
    ax.grid(True, color="#eaeded", linewidth=0.8)
    if widget.tz_name != "UTC":
        ax.set_xlabel(f"UTC{widget.tz_name}", fontsize=small, color="#545b64")


def _bands(ax: Any, right: Any, widget: Widget, shown: list[tuple[int, Line]], tz: Any) -> None:
    """Anomaly detection bands (a row whose expression is ANOMALY_DETECTION_BAND: its
    two series, upper then lower) shaded between their edges, grey unless the row has a
    colour, under the metric lines as CloudWatch's console draws them."""
    import numpy as np

    rows: dict[int, list[Line]] = {}
    for _, ln in shown:
        if _style(widget, ln).band:
            rows.setdefault(ln.row, []).append(ln)
    for members in rows.values():
        if len(members) < 2:
            continue
        upper, lower = members[0], members[1]
        style = _style(widget, upper)
        target = right if (right is not None and style.right) else ax
        below = dict(zip(lower.times, lower.values, strict=True))
        xs = np.array([_dt(t, tz) for t in upper.times], dtype=object)
        hi = np.asarray(upper.values, dtype=float)
        lo = np.asarray([below.get(t, math.nan) for t in upper.times], dtype=float)
        # Both edges of each point, whichever is higher (a negative width flips them).
        lo, hi = np.fmin(lo, hi), np.fmax(lo, hi)
        label = style.label or f"{upper.label.removesuffix(' upper')} (expected)"
        target.fill_between(
            xs, lo, hi, color=style.color or BAND_GREY, alpha=0.45, linewidth=0, label=label
        )


def _last(line: Line) -> float:
    for value in reversed(line.values):
        if value == value:  # not NaN
            return float(value)
    return float("nan")


def _summary(ax: Any, widget: Widget, shown: list[tuple[int, Line]]) -> None:
    """bar and pie: one value per series, its latest, as CloudWatch shows by default."""
    labels = [_style(widget, ln).label or ln.label for _, ln in shown]
    values = [_last(ln) for _, ln in shown]
    colors = [_color(widget, ln, i) for i, ln in shown]
    if widget.view == "bar":
        for label, value, color in zip(labels, values, colors, strict=True):
            ax.barh([label], [0.0 if value != value else value], color=color, label=label)
        ax.invert_yaxis()
        return
    usable = [(lab, v, c) for lab, v, c in zip(labels, values, colors, strict=True) if v > 0]
    if usable:
        ax.pie(
            [v for _, v, _ in usable],
            labels=[lab for lab, _, _ in usable],
            colors=[c for _, _, c in usable],
            textprops={"fontsize": 8},
        )
    ax.set_aspect("equal")


def _single_value(ax: Any, widget: Widget, shown: list[tuple[int, Line]], small: float) -> None:
    ax.set_axis_off()
    n = max(1, len(shown))
    for k, (i, ln) in enumerate(shown):
        value = _last(ln)
        text = "—" if value != value else f"{value:.4g}"
        x = (k + 0.5) / n
        ax.text(
            x, 0.55, text, ha="center", va="center", fontsize=small * 3, color=_color(widget, ln, i)
        )
        ax.text(x, 0.25, _style(widget, ln).label or ln.label, ha="center", fontsize=small)
