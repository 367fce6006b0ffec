"""The MetricWidget JSON of GetMetricWidgetImage, parsed and checked (pure).

The structure is CloudWatch's (API reference, "GetMetricWidgetImage: Metric Widget
Structure and Syntax"): ``metrics`` (rows as in dashboards, with ``color``, ``label``,
``stat``, ``period``, ``visible``, ``yAxis``, ``id``/``expression``), ``title``,
``width``/``height`` in pixels (1-2000, default 600 x 400), ``start``/``end`` (relative
``-PT3H`` or ISO 8601; defaults -PT3H and now), ``period`` (default 300), ``stat``
(default Average), ``view`` (timeSeries, bar, pie, singleValue), ``stacked``,
``yAxis.left/right`` (``min``, ``max``, ``label``, ``showUnits``), ``legend.position``
(bottom, right, hidden), ``annotations.horizontal`` (``value``, ``label``, ``color``,
``fill`` above/below, ``visible``, ``yAxis``; a pair is a band) and
``annotations.vertical`` (``value`` a time, ``fill`` before/after; a pair is a band), and
``timezone`` (``+hhmm``/``-hhmm``, default UTC). The metric rows and their options are
checked by the dashboard validator (``vigil.model.dashboard``), so a widget that a
dashboard accepts draws the same series here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.model.dashboard import expand_metric_rows, validate

MAX_WIDGET_BYTES = 100 * 1024  # "Up to 100 KB uncompressed payload"
MAX_METRICS = 100
VIEWS = ("timeSeries", "bar", "pie", "singleValue")
_DURATION = re.compile(
    r"^-?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)
_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)
_TZ = re.compile(r"^([+-])(\d\d)(\d\d)$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
# A row whose expression is a band call (and its alias) answers two series, upper then
# lower (rules/alarms/band.py); CloudWatch's console shades between them.
_BAND = re.compile(r"^\s*ANOMALY_DETECTION_(?:BAND|FUNCTION)\s*\(")


class WidgetImageError(ValueError):
    """A MetricWidget that cannot be drawn; the message names the field."""


@dataclass(frozen=True, slots=True)
class Axis:
    min: float | None = None
    max: float | None = None
    label: str = ""
    show_units: bool = True


@dataclass(frozen=True, slots=True)
class Horizontal:
    value: float
    label: str = ""
    color: str | None = None
    fill: str | None = None  # "above" | "below"
    right: bool = False  # on the right y axis
    until: float | None = None  # a band: the other edge


@dataclass(frozen=True, slots=True)
class Vertical:
    at: int  # epoch seconds
    label: str = ""
    color: str | None = None
    fill: str | None = None  # "before" | "after"
    until: int | None = None  # a band: the other edge


@dataclass(frozen=True, slots=True)
class RowStyle:
    color: str | None = None
    label: str | None = None
    visible: bool = True
    right: bool = False
    band: bool = False  # an ANOMALY_DETECTION_BAND expression: drawn as a shaded band


@dataclass(slots=True)
class Widget:
    properties: dict[str, Any]  # what the query reads (metrics, stat, period)
    start: int  # epoch seconds
    end: int
    width: int = 600
    height: int = 400
    title: str = ""
    view: str = "timeSeries"
    stacked: bool = False
    legend: str = "bottom"
    tz_offset: int = 0  # seconds east of UTC
    tz_name: str = "UTC"
    left: Axis = field(default_factory=Axis)
    right: Axis = field(default_factory=Axis)
    horizontal: list[Horizontal] = field(default_factory=list)
    vertical: list[Vertical] = field(default_factory=list)
    rows: list[RowStyle] = field(default_factory=list)

    @property
    def period(self) -> int:
        value = self.properties.get("period")
        return value if isinstance(value, int) else 300


def parse(text: str | bytes, now: int) -> Widget:
    """The widget of a MetricWidget JSON string; ``now`` (epoch seconds) anchors relative
    times. Raises ``WidgetImageError`` with the field and the reason."""
    if len(text) > MAX_WIDGET_BYTES:
        raise WidgetImageError(f"MetricWidget must be at most {MAX_WIDGET_BYTES} bytes")
    try:
        props = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise WidgetImageError(f"MetricWidget is not valid JSON: {exc}") from None
    if not isinstance(props, dict):
        raise WidgetImageError("MetricWidget must be a JSON object")
    return from_properties(props, now)


def from_properties(props: dict[str, Any], now: int) -> Widget:
    if "metrics" not in props:
        raise WidgetImageError("MetricWidget: Should have required property 'metrics'")
    metrics = props["metrics"]
    if isinstance(metrics, list) and not 1 <= len(metrics) <= MAX_METRICS:
        raise WidgetImageError(f"MetricWidget/metrics must hold 1 to {MAX_METRICS} entries")
    # The dashboard validator checks the rows, options, period, times, axes and annotation
    # values; its paths are rewritten to the MetricWidget's own.
    body = orjson.dumps({"widgets": [{"type": "metric", "properties": props}]}).decode()
    _, problems = validate(body)
    if problems:
        p = problems[0]
        path = p.data_path.replace("/widgets/0/properties", "MetricWidget", 1)
        raise WidgetImageError(f"{path or 'MetricWidget'}: {p.message}")
    end = _time(props.get("end", "-PT0H"), now, "end")
    start = _time(props.get("start", "-PT3H"), now, "start")
    if start >= end:
        raise WidgetImageError("MetricWidget/start must be before end")
    w = Widget(properties=props, start=start, end=end)
    w.width = _pixels(props, "width", 600)
    w.height = _pixels(props, "height", 400)
    w.title = str(props.get("title", ""))[:200]
    w.view = str(props.get("view", "timeSeries"))
    if w.view not in VIEWS:
        raise WidgetImageError(
            f"MetricWidget/view: {w.view!r} cannot be drawn as an image; one of {', '.join(VIEWS)}"
        )
    w.stacked = props.get("stacked") is True
    legend = props.get("legend", {})
    if legend:
        if not isinstance(legend, dict) or legend.get("position", "bottom") not in (
            "bottom",
            "right",
            "hidden",
        ):
            raise WidgetImageError("MetricWidget/legend/position: one of bottom, right, hidden")
        w.legend = str(legend.get("position", "bottom"))
    w.tz_offset, w.tz_name = _timezone(props.get("timezone"))
    axes = props.get("yAxis", {})
    w.left, w.right = _axis(axes.get("left")), _axis(axes.get("right"))
    annotations = props.get("annotations", {})
    hs = [_horizontal(a, i) for i, a in enumerate(annotations.get("horizontal", []))]
    w.horizontal = [h for h in hs if h is not None]
    vs = [_vertical(a, i, now) for i, a in enumerate(annotations.get("vertical", []))]
    w.vertical = [v for v in vs if v is not None]
    for i, (_, options) in enumerate(expand_metric_rows(metrics)):
        color = options.get("color")
        if color is not None and not _COLOR.match(str(color)):
            raise WidgetImageError(f"MetricWidget/metrics/{i}: color must look like #1f77b4")
        w.rows.append(
            RowStyle(
                color=color,
                label=options.get("label"),
                visible=options.get("visible", True) is not False,
                right=options.get("yAxis") == "right",
                band=bool(_BAND.match(str(options.get("expression", "")))),
            )
        )
    return w


def duration_seconds(text: str) -> int | None:
    """An ISO 8601 duration (``PT3H``, ``-P7D``, ``P2DT12H``) in seconds, else None."""
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    return sum(int(g) * s for g, s in zip(match.groups(), _SECONDS, strict=True) if g)


def _time(value: Any, now: int, name: str) -> int:
    text = str(value)
    if text.startswith("-P"):
        seconds = duration_seconds(text)
        if seconds is None:
            raise WidgetImageError(f"MetricWidget/{name}: {text!r} is not a duration like -PT3H")
        return now - seconds
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WidgetImageError(f"MetricWidget/{name}: {text!r} is not a time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _pixels(props: dict[str, Any], name: str, default: int) -> int:
    value = props.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2000:
        raise WidgetImageError(f"MetricWidget/{name}: Should be an integer from 1 to 2000")
    return value


def _timezone(value: Any) -> tuple[int, str]:
    if value is None:
        return 0, "UTC"
    match = _TZ.match(str(value))
    if match is None or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        raise WidgetImageError(
            f"MetricWidget/timezone: {value!r} must be + or - and four digits (+0130)"
        )
    sign = 1 if match.group(1) == "+" else -1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60), str(value)


def _axis(spec: Any) -> Axis:
    if not isinstance(spec, dict):
        return Axis()
    return Axis(
        min=spec.get("min"),
        max=spec.get("max"),
        label=str(spec.get("label", "")),
        show_units=spec.get("showUnits", True) is not False,
    )


def _color(ann: dict[str, Any], path: str) -> str | None:
    color = ann.get("color")
    if color is not None and not _COLOR.match(str(color)):
        raise WidgetImageError(f"{path}/color must look like #d62728")
    return color


def _horizontal(item: Any, i: int) -> Horizontal | None:
    path = f"MetricWidget/annotations/horizontal/{i}"
    pair = item if isinstance(item, list) else [item]
    if len(pair) not in (1, 2):
        raise WidgetImageError(f"{path}: a band is a list of two annotations")
    first = pair[0]
    if first.get("visible", True) is False:
        return None
    fill = first.get("fill")
    if fill not in (None, "above", "below"):
        raise WidgetImageError(f"{path}/fill: one of above, below")
    return Horizontal(
        value=float(first["value"]),
        label=str(first.get("label", "")),
        color=_color(first, path),
        fill=fill if len(pair) == 1 else None,
        right=first.get("yAxis") == "right",
        until=float(pair[1]["value"]) if len(pair) == 2 else None,
    )


def _vertical(item: Any, i: int, now: int) -> Vertical | None:
    path = f"MetricWidget/annotations/vertical/{i}"
    pair = item if isinstance(item, list) else [item]
    if len(pair) not in (1, 2):
        raise WidgetImageError(f"{path}: a band is a list of two annotations")
    first = pair[0]
    if first.get("visible", True) is False:
        return None
    fill = first.get("fill")
    if fill not in (None, "before", "after"):
        raise WidgetImageError(f"{path}/fill: one of before, after")
    return Vertical(
        at=_time(first["value"], now, f"annotations/vertical/{i}/value"),
        label=str(first.get("label", "")),
        color=_color(first, path),
        fill=fill if len(pair) == 1 else None,
        until=_time(pair[1]["value"], now, f"annotations/vertical/{i}/value")
        if len(pair) == 2
        else None,
    )
