"""How vigil's stored metrics look to PromQL (the mapping README "PromQL" documents).

Stored: (namespace, name, dimensions). Seen by PromQL:

* ``__name__`` = the metric name;
* every dimension is a label of the same name;
* a series whose namespace is not ``prometheus`` (OTLP, PutMetricData, log metric filters)
  gets one more label, ``cloudwatch_namespace``, holding the namespace. Series written by
  Prometheus remote write and scraping are stored under the namespace ``prometheus`` with
  ``__name__`` as the metric name and the other labels as dimensions, so they read back
  exactly as they were written.
* Names that are not PromQL identifiers are translated the way Prometheus' own OTLP
  translation does without UTF-8 names: every character outside ``[a-zA-Z0-9_:]``
  (metric names) or ``[a-zA-Z0-9_]`` (label names) becomes ``_``, and a name starting with
  a digit gets a ``_`` prefix (``service.name`` → ``service_name``, ``AWS/EC2`` stays a
  label value; a metric ``http.server.duration`` → ``http_server_duration``). Two
  dimensions that translate to the same label (``a.b`` and ``a_b`` on one series) keep
  the value of the one sorting last; Prometheus would join them with ``;``.

``labels_sql`` is the same mapping as a ClickHouse expression, so matchers run in SQL;
``labels_of`` is it in Python. A test keeps the two equal.
"""

from __future__ import annotations

import re

PROMETHEUS_NAMESPACE = "prometheus"
NAMESPACE_LABEL = "cloudwatch_namespace"
METRIC_NAME = "__name__"

_BAD_METRIC = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]")

Labels = tuple[tuple[str, str], ...]


def metric_name(name: str) -> str:
    out = _BAD_METRIC.sub("_", name)
    return "_" + out if out[:1].isdigit() else out


def label_name(name: str) -> str:
    out = _BAD_LABEL.sub("_", name)
    return "_" + out if out[:1].isdigit() else out


def labels_of(namespace: str, name: str, dimensions: dict[str, str]) -> Labels:
    out = {label_name(k): v for k, v in sorted(dimensions.items())}
    if namespace != PROMETHEUS_NAMESPACE:
        out[NAMESPACE_LABEL] = namespace
    out[METRIC_NAME] = metric_name(name)
    return tuple(sorted((k, v) for k, v in out.items() if v != ""))


def _sanitize_sql(expr: str, bad: str) -> str:
    clean = f"replaceRegexpAll({expr}, '{bad}', '_')"
    return f"if(match({expr}, '^[0-9]'), concat('_', {clean}), {clean})"


def labels_sql(namespace: str = "namespace", name: str = "name", dims: str = "dims") -> str:
    """A ``Map(String, String)`` expression: the labels of a stored series."""
    translated = f"mapApply((k, v) -> ({_sanitize_sql('k', '[^a-zA-Z0-9_]')}, v), {dims})"
    extra = (
        f"if({namespace} = '{PROMETHEUS_NAMESPACE}', map('{METRIC_NAME}', {metric_sql(name)}),"
        f" map('{METRIC_NAME}', {metric_sql(name)}, '{NAMESPACE_LABEL}', toString({namespace})))"
    )
    return f"mapUpdate({translated}, {extra})"


def metric_sql(name: str = "name") -> str:
    return _sanitize_sql(f"toString({name})", "[^a-zA-Z0-9_:]")


def get(labels: Labels, key: str) -> str:
    for k, v in labels:
        if k == key:
            return v
    return ""
