"""The CloudWatch dashboard body: parsing and validation as PutDashboard answers it.

``validate(text)`` returns the body as a dict and a list of ``Problem`` (``data_path`` in
CloudWatch's JSON-pointer form, ``/widgets/0/properties/metrics/1``, and a message worded
like CloudWatch's JSON-schema checks). A body with any problem is refused whole
(``InvalidParameterInput`` with ``DashboardValidationMessages``); nothing is stored.

What is checked (the documented body structure): top level ``widgets`` (required),
``start``, ``end``, ``periodOverride``, ``variables``; per widget ``type``, ``x``, ``y``,
``width`` (1–24), ``height`` (1–1000), ``properties``; per type the properties CloudWatch
documents, with their types and enums: ``metric`` (``metrics`` arrays with the rendering
object, expressions, ``view``, ``stacked``, ``yAxis``, ``annotations``, ``period``…),
``log`` (``query``), ``alarm`` (``alarms``), ``text`` (``markdown``). Pure, no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 100 * 1024  # CloudWatch: a dashboard body is at most 100 KB
MAX_WIDGETS = 500
MAX_DEPTH = 32  # a real body nests about 8 deep (widgets, properties, metrics rows, options)
GRID_COLUMNS = 24
NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")

WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom")
METRIC_VIEWS = ("timeSeries", "singleValue", "bar", "pie", "gauge", "table")
LOG_VIEWS = ("table", "timeSeries", "bar", "pie")
_RELATIVE = re.compile(r"^-P(?:\d+[YMWD])*(?:T(?:\d+[HMS])+)?$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?$")
_PERIODS_BELOW_MINUTE = (1, 5, 10, 30)
_METRIC_OPTIONS = {
    "accountId": str,
    "color": str,
    "label": str,
    "period": int,
    "region": str,
    "stat": str,
    "visible": bool,
    "yAxis": str,
    "id": str,
    "expression": str,
    "returnData": bool,
}
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Problem:
    data_path: str
    message: str

    def as_aws(self) -> dict[str, str]:
        return {"DataPath": self.data_path, "Message": self.message}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def kind(self, value: Any, path: str, kind: str) -> bool:
        ok = {
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }[kind]
        if not ok:
            self.add(path, f"Should be {kind}")
        return ok

    def enum(self, value: Any, path: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.add(path, f"Should be equal to one of the allowed values: {', '.join(allowed)}")

    def known(self, obj: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in obj:
            if key not in allowed:
                self.add(f"{path}/{key}", "Should NOT have additional properties")

    def required(self, obj: dict[str, Any], path: str, key: str) -> bool:
        if key not in obj:
            self.add(path, f"Should have required property '{key}'")
            return False
        return True

    def time(self, value: Any, path: str) -> None:
        if not self.kind(value, path, "string"):
            return
        if not (_RELATIVE.match(value) or _ISO.match(value)):
            self.add(
                path,
                "Should match a relative time (-PT3H, -P7D) or an ISO 8601 time"
                " (2026-01-01T00:00:00Z)",
            )

    def period(self, value: Any, path: str) -> None:
        if self.kind(value, path, "integer") and not (
            value in _PERIODS_BELOW_MINUTE or (value >= 60 and value % 60 == 0)
        ):
            self.add(path, "Should be 1, 5, 10, 30 or a multiple of 60")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest past ``limit`` (walked with a stack, not recursion:
    whatever reads the body later may recurse)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def validate(text: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The parsed body and its problems (an empty list: the body may be stored)."""
    c = _Checker()
    if len(text.encode()) > MAX_BODY_BYTES:
        c.add("", f"The dashboard body must be at most {MAX_BODY_BYTES} bytes")
        return None, c.problems
    try:
        body = json.loads(text)
    except ValueError as exc:
        c.add("", f"The dashboard body is not valid JSON: {exc}")
        return None, c.problems
    except RecursionError:  # json's C decoder gives up near 1,000 levels
        c.add("", f"The dashboard body nests deeper than {MAX_DEPTH} levels")
        return None, c.problems
    if _deeper_than(body, MAX_DEPTH):
        c.add("", f"The dashboard body nests deeper than {MAX_DEPTH} levels")
        return None, c.problems
    if not c.kind(body, "", "object"):
        return None, c.problems
    c.known(body, "", {"widgets", "start", "end", "periodOverride", "variables"})
    for key in ("start", "end"):
        if key in body:
            c.time(body[key], f"/{key}")
    if "periodOverride" in body:
        c.enum(body["periodOverride"], "/periodOverride", ("auto", "inherit"))
    if "variables" in body and c.kind(body["variables"], "/variables", "array"):
        for i, var in enumerate(body["variables"]):
            _variable(c, var, f"/variables/{i}")
    if c.required(body, "", "widgets") and c.kind(body["widgets"], "/widgets", "array"):
        if len(body["widgets"]) > MAX_WIDGETS:
            c.add("/widgets", f"Should NOT have more than {MAX_WIDGETS} items")
        for i, widget in enumerate(body["widgets"][:MAX_WIDGETS]):
            _widget(c, widget, f"/widgets/{i}")
    return body, c.problems


def _variable(c: _Checker, var: Any, path: str) -> None:
    if not c.kind(var, path, "object"):
        return
    c.known(
        var,
        path,
        {
            "type",
            "property",
            "pattern",
            "inputType",
            "id",
            "label",
            "defaultValue",
            "visible",
            "search",
            "populateFrom",
            "values",
        },
    )
    for key in ("type", "inputType"):
        c.required(var, path, key)
    if "type" in var:
        c.enum(var["type"], f"{path}/type", ("property", "pattern"))
    if "inputType" in var:
        c.enum(var["inputType"], f"{path}/inputType", ("input", "select", "radio"))
    if var.get("type") == "property":
        c.required(var, path, "property")
    if var.get("type") == "pattern":
        c.required(var, path, "pattern")
    if "values" in var and c.kind(var["values"], f"{path}/values", "array"):
        for j, value in enumerate(var["values"]):
            vpath = f"{path}/values/{j}"
            if c.kind(value, vpath, "object"):
                c.required(value, vpath, "value")


def _widget(c: _Checker, widget: Any, path: str) -> None:
    if not c.kind(widget, path, "object"):
        return
    c.known(widget, path, {"type", "x", "y", "width", "height", "properties"})
    for key, lo, hi in (("x", 0, GRID_COLUMNS - 1), ("y", 0, None), ("width", 1, 24)):
        if key in widget and c.kind(widget[key], f"{path}/{key}", "integer"):
            if widget[key] < lo:
                c.add(f"{path}/{key}", f"Should be >= {lo}")
            elif hi is not None and widget[key] > hi:
                c.add(f"{path}/{key}", f"Should be <= {hi}")
    if (
        "height" in widget
        and c.kind(widget["height"], f"{path}/height", "integer")
        and not 1 <= widget["height"] <= 1000
    ):
        c.add(f"{path}/height", "Should be >= 1 and <= 1000")
    if not c.required(widget, path, "type"):
        return
    kind = widget["type"]
    c.enum(kind, f"{path}/type", WIDGET_TYPES)
    if not c.required(widget, path, "properties"):
        return
    props = widget["properties"]
    ppath = f"{path}/properties"
    if not c.kind(props, ppath, "object"):
        return
    if "title" in props:
        c.kind(props["title"], f"{ppath}/title", "string")
    if kind == "metric":
        _metric_widget(c, props, ppath)
    elif kind == "log":
        if c.required(props, ppath, "query"):
            c.kind(props["query"], f"{ppath}/query", "string")
        if "view" in props:
            c.enum(props["view"], f"{ppath}/view", LOG_VIEWS)
    elif kind == "alarm":
        if c.required(props, ppath, "alarms") and c.kind(
            props["alarms"], f"{ppath}/alarms", "array"
        ):
            for i, arn in enumerate(props["alarms"]):
                c.kind(arn, f"{ppath}/alarms/{i}", "string")
    elif kind == "text":
        if c.required(props, ppath, "markdown"):
            c.kind(props["markdown"], f"{ppath}/markdown", "string")
        if "background" in props:
            c.enum(props["background"], f"{ppath}/background", ("solid", "transparent"))


def _metric_widget(c: _Checker, props: dict[str, Any], path: str) -> None:
    if "view" in props:
        c.enum(props["view"], f"{path}/view", METRIC_VIEWS)
    for key in ("stacked", "liveData", "setPeriodToTimeRange", "sparkline", "trend"):
        if key in props:
            c.kind(props[key], f"{path}/{key}", "boolean")
    for key in ("stat", "region"):
        if key in props:
            c.kind(props[key], f"{path}/{key}", "string")
    if "period" in props:
        c.period(props["period"], f"{path}/period")
    for key in ("start", "end"):
        if key in props:
            c.time(props[key], f"{path}/{key}")
    if "yAxis" in props and c.kind(props["yAxis"], f"{path}/yAxis", "object"):
        c.known(props["yAxis"], f"{path}/yAxis", {"left", "right"})
        for side, axis in props["yAxis"].items():
            apath = f"{path}/yAxis/{side}"
            if c.kind(axis, apath, "object"):
                c.known(axis, apath, {"min", "max", "label", "showUnits"})
                for key in ("min", "max"):
                    if key in axis:
                        c.kind(axis[key], f"{apath}/{key}", "number")
                if "label" in axis:
                    c.kind(axis["label"], f"{apath}/label", "string")
    if "annotations" in props and c.kind(props["annotations"], f"{path}/annotations", "object"):
        _annotations(c, props["annotations"], f"{path}/annotations")
    if "metrics" not in props:
        # A metric widget shows metrics or a Metrics Insights query.
        if "query" not in props:
            c.add(path, "Should have required property 'metrics'")
        return
    metrics = props["metrics"]
    if not c.kind(metrics, f"{path}/metrics", "array"):
        return
    previous: list[Any] = []
    ids: set[str] = set()
    for i, row in enumerate(metrics):
        previous = _metric_row(c, row, f"{path}/metrics/{i}", previous, ids)


def _annotations(c: _Checker, annotations: dict[str, Any], path: str) -> None:
    c.known(annotations, path, {"horizontal", "vertical", "alarms"})
    for side in ("horizontal", "vertical"):
        if side not in annotations or not c.kind(annotations[side], f"{path}/{side}", "array"):
            continue
        for i, item in enumerate(annotations[side]):
            ipath = f"{path}/{side}/{i}"
            # A band is a list of two annotations.
            items: list[tuple[int | None, Any]] = (
                list(enumerate(item)) if isinstance(item, list) else [(None, item)]
            )
            for j, ann in items:
                apath = ipath if j is None else f"{ipath}/{j}"
                if not c.kind(ann, apath, "object") or not c.required(ann, apath, "value"):
                    continue
                if side == "horizontal":
                    c.kind(ann["value"], f"{apath}/value", "number")
                else:
                    c.time(ann["value"], f"{apath}/value")


def _metric_row(c: _Checker, row: Any, path: str, previous: list[Any], ids: set[str]) -> list[Any]:
    """Checks one ``metrics`` entry; returns it with ``.``/``...`` expanded (for the next)."""
    if not c.kind(row, path, "array"):
        return previous
    if not row:
        c.add(path, "Should NOT have fewer than 1 items")
        return previous
    options: dict[str, Any] = {}
    values = row
    if isinstance(row[-1], dict):
        options, values = row[-1], row[:-1]
        opath = f"{path}/{len(row) - 1}"
        c.known(options, opath, set(_METRIC_OPTIONS))
        for key, kind in _METRIC_OPTIONS.items():
            if key not in options:
                continue
            name = {str: "string", int: "integer", bool: "boolean"}[kind]
            if c.kind(options[key], f"{opath}/{key}", name):
                if key == "yAxis":
                    c.enum(options[key], f"{opath}/yAxis", ("left", "right"))
                elif key == "period":
                    c.period(options[key], f"{opath}/period")
                elif key == "id":
                    if not _ID.match(options[key]):
                        c.add(
                            f"{opath}/id",
                            "Should start with a lowercase letter and contain only letters,"
                            " numbers and underscore",
                        )
                    elif options[key] in ids:
                        c.add(f"{opath}/id", f"Duplicate id {options[key]!r}")
                    else:
                        ids.add(options[key])
    if "expression" in options:
        if values:
            c.add(path, "An expression entry holds only its options object")
        return previous
    expanded: list[Any] = []
    for j, value in enumerate(values):
        if value == "...":
            if j != 0:
                c.add(f"{path}/{j}", "'...' may only be the first item")
                continue
            # Repeat the previous entry but for the items that follow.
            keep = len(previous) - (len(values) - 1)
            expanded.extend(previous[: max(keep, 0)])
        elif value == ".":
            if j >= len(previous):
                c.add(f"{path}/{j}", "'.' has no item above it to repeat")
                continue
            expanded.append(previous[len(expanded)] if len(expanded) < len(previous) else None)
        elif c.kind(value, f"{path}/{j}", "string"):
            expanded.append(value)
    if len(expanded) < 2:
        c.add(path, "Should NOT have fewer than 2 items (namespace and metric name)")
    elif len(expanded) % 2:
        c.add(path, "Dimensions must be name and value pairs")
    return expanded


def expand_metric_rows(metrics: list[Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """The ``metrics`` of a valid widget with ``.``/``...`` expanded: (values, options)
    per entry; an expression entry has no values."""
    out: list[tuple[list[str], dict[str, Any]]] = []
    previous: list[str] = []
    for row in metrics:
        options: dict[str, Any] = row[-1] if row and isinstance(row[-1], dict) else {}
        values = row[:-1] if options or (row and isinstance(row[-1], dict)) else row
        if "expression" in options:
            out.append(([], options))
            continue
        expanded: list[str] = []
        for j, value in enumerate(values):
            if value == "..." and j == 0:
                expanded.extend(previous[: max(len(previous) - (len(values) - 1), 0)])
            elif value == "." and len(expanded) < len(previous):
                expanded.append(previous[len(expanded)])
            else:
                expanded.append(str(value))
        previous = expanded
        out.append((expanded, options))
    return out
