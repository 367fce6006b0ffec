"""The top log lines of an alarm's evaluation window, for its notification.

An alarm on a metric that a log metric filter makes (``logs_metric_filters``: a
transformation with the alarm's namespace and metric name) gets the log events of that
filter's group matching its pattern within the window that decided the transition (the
evaluation range, ``graph.evaluation_range``); an
alarm on a metric with a service dimension (``Service``, ``service``, ``service.name``,
``ServiceName``) gets the service's log lines at ERROR or above in that window. The
newest ``limit`` lines (5) come, each cut to ``max_chars`` (300) after obvious secrets
(``password=…``, ``token: …``, ``Authorization: Bearer …``, AWS access key ids) are
masked: notifications leave vigil, and a log line may carry what its service should not
have logged. They go in ``details["log_lines"]`` (webhook and PagerDuty bodies) and in the
text of email and Slack. Bounded work: one store read per filter (at most ``max_filters``)
with the scan cap of FilterLogEvents, and a time ``budget``; past it, the notification
goes without lines — lines never hold back a page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vigil.notify.graph import evaluation_range
from vigil.query.logs import events as logevents
from vigil.query.logs.search import LogSearch, search_logs
from vigil.state.logs import LogsCatalog
from vigil.store.interface import Store
from vigil.syntax.filterpattern import PatternError, parse

log = logging.getLogger(__name__)

SERVICE_DIMENSIONS = ("Service", "service", "service.name", "ServiceName")
_SECRETS = (
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"authorization)(\"?\s*[:=]\s*\"?)(bearer\s+|basic\s+)?[^\s\",;&]+"
        ),
        r"\1\2\3…",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer …"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), r"\1…"),
)

# tenant → [(log group, filter pattern text, metric transformations)]
FilterSource = Callable[[str], Sequence[tuple[str, str, Sequence[Mapping[str, Any]]]]]


def redact(text: str, max_chars: int) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    text = text.replace("\r", " ").replace("\n", " ⏎ ").strip()
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _metrics(trigger: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of the alarm's metrics."""
    out = []
    if trigger.get("MetricName"):
        dims = {
            str(d.get("name", "")): str(d.get("value", ""))
            for d in trigger.get("Dimensions") or []
            if isinstance(d, Mapping)
        }
        out.append((str(trigger.get("Namespace", "")), str(trigger["MetricName"]), dims))
    for q in trigger.get("Metrics") or []:
        metric = ((q or {}).get("MetricStat") or {}).get("Metric") or {}
        if metric.get("MetricName"):
            dims = {
                str(d.get("name", d.get("Name", ""))): str(d.get("value", d.get("Value", "")))
                for d in metric.get("Dimensions") or []
                if isinstance(d, Mapping)
            }
            out.append((str(metric.get("Namespace", "")), str(metric["MetricName"]), dims))
    return out


def catalog_filters(catalog: LogsCatalog) -> FilterSource:
    """The metric filters of a tenant, from the logs catalog in the state DB."""

    def filters(tenant: str) -> list[tuple[str, str, Sequence[Mapping[str, Any]]]]:
        return [
            (f.log_group, f.pattern, f.transformations) for _, f in catalog.metric_filters(tenant)
        ]

    return filters


class LogLines:
    def __init__(
        self,
        store: Store,
        filters: FilterSource,
        limit: int = 5,
        max_chars: int = 300,
        max_filters: int = 3,
        budget: float = 3.0,
    ) -> None:
        self.store = store
        self.filters = filters
        self.limit = limit
        self.max_chars = max_chars
        self.max_filters = max_filters
        self.budget = budget

    async def for_alarm(
        self, tenant: str, message: Mapping[str, Any], at_ms: int
    ) -> list[dict[str, Any]]:
        """The lines (``time``, ``group``, ``stream``, ``message``), newest first; [] when
        the alarm is on no log metric filter nor service, or the read fails or is slow."""
        trigger = message.get("Trigger")
        if not isinstance(trigger, Mapping):
            return []
        try:
            return await asyncio.wait_for(self._lines(tenant, trigger, at_ms), self.budget)
        except TimeoutError:
            log.warning("log lines not read within %g s: sent without them", self.budget)
        except Exception as exc:  # lines never stop a notification
            log.warning("log lines not read: %s", exc)
        return []

    async def _lines(
        self, tenant: str, trigger: Mapping[str, Any], at_ms: int
    ) -> list[dict[str, Any]]:
        metrics = _metrics(trigger)
        if not metrics:
            return []
        start, _ = evaluation_range(trigger, at_ms)
        start_ms = start * 1000
        wanted = {(ns, name) for ns, name, _ in metrics}
        matched = []
        filters = await asyncio.to_thread(self.filters, tenant)
        for group, pattern, transformations in filters:
            if any(
                (str(t.get("metricNamespace")), str(t.get("metricName"))) in wanted
                for t in transformations
            ):
                matched.append((group, pattern))
        lines: list[dict[str, Any]] = []
        for group, text in matched[: self.max_filters]:
            try:
                compiled = parse(text)
            except PatternError:
                continue
            page = await logevents.filter_events(
                self.store,
                logevents.EventQuery(tenant, group, start_ms=start_ms, end_ms=at_ms),
                compiled,
                limit=50,
                max_scan=20_000,
            )
            for e in page.events:
                lines.append(
                    {"time": e.timestamp_ms, "group": group, "stream": e.stream, "text": e.message}
                )
        if not matched:
            service = next(
                (dims[k] for *_, dims in metrics for k in SERVICE_DIMENSIONS if k in dims), None
            )
            if service is not None:
                rows, _ = await search_logs(
                    self.store,
                    LogSearch(
                        tenant,
                        start_ns=start_ms * 1_000_000,
                        end_ns=at_ms * 1_000_000,
                        min_severity="ERROR",
                        attributes={"service.name": service},
                        limit=self.limit,
                    ),
                )
                for r in rows:
                    lines.append(
                        {
                            "time": int(r["time_unix_nano"]) // 1_000_000,
                            "group": r["log_group"],
                            "stream": r["log_stream"],
                            "text": str(r["body"]),
                        }
                    )
        lines.sort(key=lambda x: int(x["time"]), reverse=True)
        return [
            {
                "time": x["time"],
                "group": x["group"],
                "stream": x["stream"],
                "message": redact(str(x["text"]), self.max_chars),
            }
            for x in lines[: self.limit]
        ]
