"""The metric graph of an alarm's notification: the widget, its signed link, its PNG.

* ``alarm_widget(message)`` — the MetricWidget (GetMetricWidgetImage's JSON) of an alarm
  from the message CloudWatch publishes for it (its ``Trigger``): the metric (or the math
  rows, hidden where ``ReturnData`` is false), the statistic and period, the threshold as
  a dashed line with the alarming side shaded, and the evaluation window of the
  transition as a vertical band, over a range ending one period after the transition.
* ``Graphs.attach`` puts that widget in ``details["graph"]`` (with the tenant) and, when
  vigil has a public URL (``--public-url``), a signed, expiring link to its PNG in
  ``links["graph"]``: Slack, Teams and PagerDuty show images by URL, fetched by their
  own servers, so a link only helps when they can reach vigil; an incoming-webhook URL
  cannot upload files (that needs a bot token), so Slack gets the link or nothing.
  Email needs no link: the PNG is drawn at send time and sent inline (``png``).
* The link is ``/notify/graph/<payload>.<sig>.png``: the payload is the compressed JSON
  of tenant, widget and expiry, the signature an HMAC of it with the notify link key, so
  the PNG route draws only widgets vigil itself made, until they expire (30 days). It
  needs no API key (receivers fetching images have none).
* ``png`` draws (through ``vigil.render``) at most one graph at a time, with an LRU of
  recent PNGs (the targets of one notification share one drawing), and gives up after
  ``budget`` seconds: a graph never holds back a page; a notification without its graph
  goes out with its text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.notify.interface import Notification
from vigil.notify.keys import NotifyKeys

log = logging.getLogger(__name__)

GRAPH_PREFIX = "/notify/graph/"
LINK_TTL = 30 * 86400
_STATS = {
    "AVERAGE": "Average",
    "SUM": "Sum",
    "MINIMUM": "Minimum",
    "MAXIMUM": "Maximum",
    "SAMPLE_COUNT": "SampleCount",
    "SAMPLECOUNT": "SampleCount",
}
_ABOVE = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "GreaterThanUpperThreshold")
_BELOW = ("LessThanThreshold", "LessThanOrEqualToThreshold", "LessThanLowerThreshold")
_SYMBOL = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}

# (tenant, widget) → PNG bytes; the renderer's errors raise ``ValueError``.
Draw = Callable[[str, dict[str, Any]], Any]


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dims(dimensions: Any) -> list[str]:
    out: list[str] = []
    for d in dimensions or []:
        if isinstance(d, Mapping):
            out += [str(d.get("name", d.get("Name", ""))), str(d.get("value", d.get("Value", "")))]
    return out


EXTRA_PERIODS = 2  # the alarms' evaluation range is N + 2 periods (rules/alarms/evaluate.py)


def evaluation_range(trigger: Mapping[str, Any], at_ms: int) -> tuple[int, int]:
    """(start, end) in epoch seconds of the data that decided a transition at ``at_ms``:
    N + 2 periods ending at the transition, as the alarms pillar reads them."""
    period = int(trigger.get("Period") or 60)
    periods = int(trigger.get("EvaluationPeriods") or 1) + EXTRA_PERIODS
    end = at_ms // 1000
    return end - period * periods, end


def alarm_widget(message: Mapping[str, Any], transition_ms: int) -> dict[str, Any] | None:
    """The MetricWidget of a metric alarm's CloudWatch message; None for composites and
    alarms without a metric."""
    trigger = message.get("Trigger")
    if not isinstance(trigger, Mapping):
        return None
    period = int(trigger.get("Period") or 60)
    rows: list[list[Any]] = []
    if trigger.get("MetricName"):
        stat = trigger.get("ExtendedStatistic") or _STATS.get(
            str(trigger.get("Statistic") or "").upper(), "Average"
        )
        rows.append(
            [
                str(trigger.get("Namespace", "")),
                str(trigger["MetricName"]),
                *_dims(trigger.get("Dimensions")),
                {"stat": stat, "period": period},
            ]
        )
    for q in trigger.get("Metrics") or []:
        if not isinstance(q, Mapping):
            continue
        options: dict[str, Any] = {"id": str(q.get("Id", "")), "visible": bool(q.get("ReturnData"))}
        if q.get("Expression"):
            rows.append([{**options, "expression": str(q["Expression"]), **_label(q)}])
            continue
        ms = q.get("MetricStat") or {}
        metric = ms.get("Metric") or {}
        rows.append(
            [
                str(metric.get("Namespace", "")),
                str(metric.get("MetricName", "")),
                *_dims(metric.get("Dimensions")),
                {
                    **options,
                    "stat": str(ms.get("Stat", "Average")),
                    "period": int(ms.get("Period") or period),
                },
            ]
        )
    if not rows:
        return None
    window_start, at = evaluation_range(trigger, transition_ms)
    span = max(3600, (at - window_start) * 6)
    widget: dict[str, Any] = {
        "metrics": rows,
        "title": f"{message.get('AlarmName', '')} ({message.get('NewStateValue', '')})"[:200],
        "period": period,
        "start": _iso(at - span),
        "end": _iso(at + period),
        "width": 600,
        "height": 300,
        "annotations": {
            "vertical": [
                [
                    {"value": _iso(window_start), "label": "evaluation window"},
                    {"value": _iso(at)},
                ]
            ]
        },
    }
    threshold = trigger.get("Threshold")
    operator = str(trigger.get("ComparisonOperator", ""))
    if isinstance(threshold, int | float) and not trigger.get("ThresholdMetricId"):
        line: dict[str, Any] = {
            "value": float(threshold),
            "label": f"{_SYMBOL.get(operator, operator)} {threshold:g}",
            "color": "#d62728",
        }
        if operator in _ABOVE:
            line["fill"] = "above"
        elif operator in _BELOW:
            line["fill"] = "below"
        widget["annotations"]["horizontal"] = [line]
    return widget


def _label(q: Mapping[str, Any]) -> dict[str, str]:
    return {"label": str(q["Label"])} if q.get("Label") else {}


class Graphs:
    def __init__(
        self,
        keys: NotifyKeys,
        public_url: str,
        public: bool,
        draw: Draw | None = None,
        clock: Callable[[], float] = time.time,
        budget: float = 8.0,
        cache: int = 32,
    ) -> None:
        self.keys = keys  # the link key: keys.get().graph_links
        self.public_url = public_url.rstrip("/")
        self.public = public  # links only when receivers can reach vigil
        self.draw = draw  # None: graphs are off (no store, e.g. a bench of the pipeline)
        self.clock = clock
        self.budget = budget
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = cache
        self._turn = asyncio.Lock()

    def attach(
        self, tenant: str, note: Notification, message: Mapping[str, Any], at_ms: int
    ) -> Notification:
        """The notification with its graph (details) and, when public, its link."""
        if self.draw is None:
            return note
        widget = alarm_widget(message, at_ms)
        if widget is None:
            return note
        links = dict(note.links)
        if self.public:
            links["graph"] = self.link(tenant, widget)
        return replace(
            note,
            links=links,
            details={**note.details, "graph": {"tenant": tenant, "widget": widget}},
        )

    # --- signed links ----------------------------------------------------------------

    def link(self, tenant: str, widget: dict[str, Any]) -> str:
        expires = int(self.clock() + LINK_TTL)
        data = orjson.dumps({"t": tenant, "w": widget, "e": expires}, option=orjson.OPT_SORT_KEYS)
        payload = base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")
        return f"{self.public_url}{GRAPH_PREFIX}{payload}.{self._sign(payload)}.png"

    def _sign(self, payload: str) -> str:
        return hmac.new(
            self.keys.get().graph_links, b"graph\n" + payload.encode(), hashlib.sha256
        ).hexdigest()[:32]

    def check(self, name: str) -> tuple[str, dict[str, Any]] | str:
        """(tenant, widget) of a genuine, current link's last path segment; else why not."""
        payload, _, rest = name.partition(".")
        sig = rest.removesuffix(".png")
        if not payload or not hmac.compare_digest(self._sign(payload), sig):
            return "invalid signature"
        try:
            raw = zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            data = orjson.loads(raw)
        except (ValueError, zlib.error):
            return "malformed link"
        if int(data.get("e", 0)) < self.clock():
            return "link expired"
        return str(data["t"]), dict(data["w"])

    # --- drawing -----------------------------------------------------------------------

    async def png(self, tenant: str, widget: Mapping[str, Any]) -> bytes | None:
        """The PNG, or None when graphs are off, it fails, or takes over ``budget``."""
        if self.draw is None:
            return None
        key = orjson.dumps([tenant, widget], option=orjson.OPT_SORT_KEYS)
        try:
            return await asyncio.wait_for(self._png(key, tenant, dict(widget)), self.budget)
        except TimeoutError:
            log.warning("graph not drawn within %g s: sent without it", self.budget)
        except Exception as exc:  # a graph never stops a notification
            log.warning("graph not drawn: %s", exc)
        return None

    async def _png(self, key: bytes, tenant: str, widget: dict[str, Any]) -> bytes:
        async with self._turn:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            assert self.draw is not None
            image: bytes = await self.draw(tenant, widget)
            self._cache[key] = image
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return image

    async def for_notification(self, n: Notification) -> bytes | None:
        spec = n.details.get("graph")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("widget"), Mapping):
            return None
        return await self.png(str(spec.get("tenant", "default")), spec["widget"])
