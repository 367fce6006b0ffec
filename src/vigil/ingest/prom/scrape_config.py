"""Scrape configuration: the subset of Prometheus' ``scrape_configs`` vigil runs.

A YAML (or JSON) file as Prometheus reads it: ``global`` (``scrape_interval``,
``scrape_timeout``, ``external_labels`` is refused) and ``scrape_configs``, each with
``job_name``, ``scrape_interval``, ``scrape_timeout``, ``metrics_path``, ``scheme``
(http/https), ``params``, ``honor_labels``, ``honor_timestamps``, ``static_configs``
(``targets``, ``labels``), ``relabel_configs`` and ``metric_relabel_configs``
(``relabel``). Any other key is refused with its name (no silent half-support: service
discovery, TLS and authentication settings are not supported).

Targets are resolved once, at load: each static target's labels (``__address__``,
``__scheme__``, ``__metrics_path__``, ``__param_<name>``, ``job`` and the static labels)
go through ``relabel_configs``; a dropped target is left out; ``instance`` defaults to
the address; labels starting with ``__`` are then removed, as Prometheus does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from vigil.ingest.prom.relabel import Relabel, RelabelError, relabel


class ScrapeConfigError(ValueError):
    pass


_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)

_JOB_KEYS = {
    "job_name",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "params",
    "honor_labels",
    "honor_timestamps",
    "static_configs",
    "relabel_configs",
    "metric_relabel_configs",
}


def duration(text: Any, where: str) -> float:
    """Prometheus' duration (``15s``, ``1m30s``, ``500ms``) in seconds."""
    match = _DURATION.match(str(text).strip())
    if not match or not str(text).strip():
        raise ScrapeConfigError(f"{where}: {text!r} is not a duration like 15s or 1m")
    return sum(int(g) * u for g, u in zip(match.groups(), _UNITS, strict=True) if g)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    labels: dict[str, str]  # job, instance and the others, stored on every series


@dataclass(frozen=True, slots=True)
class ScrapeJob:
    name: str
    interval: float
    timeout: float
    honor_labels: bool = False
    honor_timestamps: bool = True
    targets: list[Target] = field(default_factory=list)
    metric_relabel: list[Relabel] = field(default_factory=list)


def load(path: Path) -> list[ScrapeJob]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScrapeConfigError(f"cannot read the scrape config {path}: {exc}") from None
    return parse(text, str(path))


def parse(text: str, where: str = "scrape config") -> list[ScrapeJob]:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ScrapeConfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ScrapeConfigError(f"{where}: must be a mapping with scrape_configs")
    unknown = set(raw) - {"global", "scrape_configs"}
    if unknown:
        raise ScrapeConfigError(f"{where}: unsupported section(s) {sorted(unknown)}")
    glob = raw.get("global") or {}
    if set(glob) - {"scrape_interval", "scrape_timeout"}:
        raise ScrapeConfigError(f"{where}: global supports scrape_interval and scrape_timeout only")
    interval = duration(glob.get("scrape_interval", "1m"), f"{where}: global.scrape_interval")
    timeout = duration(glob.get("scrape_timeout", "10s"), f"{where}: global.scrape_timeout")
    jobs: list[ScrapeJob] = []
    for i, job in enumerate(raw.get("scrape_configs") or []):
        jobs.append(_job(job, f"{where}: scrape_configs[{i}]", interval, timeout))
    names = [j.name for j in jobs]
    if len(names) != len(set(names)):
        raise ScrapeConfigError(f"{where}: job names must be unique")
    return jobs


def _job(raw: Any, where: str, interval: float, timeout: float) -> ScrapeJob:
    if not isinstance(raw, dict) or not raw.get("job_name"):
        raise ScrapeConfigError(f"{where}: a scrape config needs a job_name")
    unknown = set(raw) - _JOB_KEYS
    if unknown:
        raise ScrapeConfigError(f"{where}: unsupported field(s) {sorted(unknown)}")
    name = str(raw["job_name"])
    if "scrape_interval" in raw:
        interval = duration(raw["scrape_interval"], f"{where}.scrape_interval")
    if "scrape_timeout" in raw:
        timeout = duration(raw["scrape_timeout"], f"{where}.scrape_timeout")
    timeout = min(timeout, interval)
    scheme = str(raw.get("scheme", "http"))
    if scheme not in ("http", "https"):
        raise ScrapeConfigError(f"{where}.scheme: must be http or https")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ScrapeConfigError(f"{where}.params: must map names to lists of values")
    try:
        rules = [
            Relabel.parse(r, f"{where}.relabel_configs[{n}]")
            for n, r in enumerate(raw.get("relabel_configs") or [])
        ]
        metric_rules = [
            Relabel.parse(r, f"{where}.metric_relabel_configs[{n}]")
            for n, r in enumerate(raw.get("metric_relabel_configs") or [])
        ]
    except RelabelError as exc:
        raise ScrapeConfigError(str(exc)) from None
    base = {
        "job": name,
        "__scheme__": scheme,
        "__metrics_path__": str(raw.get("metrics_path", "/metrics")),
    }
    for key, values in params.items():
        vals = values if isinstance(values, list) else [values]
        if vals:
            base[f"__param_{key}"] = str(vals[0])
    targets: list[Target] = []
    for n, group in enumerate(raw.get("static_configs") or []):
        if not isinstance(group, dict) or set(group) - {"targets", "labels"}:
            raise ScrapeConfigError(f"{where}.static_configs[{n}]: targets and labels only")
        extra = {str(k): str(v) for k, v in (group.get("labels") or {}).items()}
        for address in group.get("targets") or []:
            target = _target({**base, **extra, "__address__": str(address)}, rules, params)
            if target is not None:
                targets.append(target)
    return ScrapeJob(
        name=name,
        interval=interval,
        timeout=timeout,
        honor_labels=bool(raw.get("honor_labels", False)),
        honor_timestamps=bool(raw.get("honor_timestamps", True)),
        targets=targets,
        metric_relabel=metric_rules,
    )


def _target(labels: dict[str, str], rules: list[Relabel], params: dict[str, Any]) -> Target | None:
    out = relabel(labels, rules)
    if out is None or not out.get("__address__"):
        return None
    query: list[tuple[str, str]] = []
    for key, values in params.items():
        vals = [str(v) for v in (values if isinstance(values, list) else [values])]
        # A relabelled __param_<name> replaces the first value, as in Prometheus.
        first = out.get(f"__param_{key}", vals[0] if vals else "")
        query += [(key, first)] + [(key, v) for v in vals[1:]]
    scheme = out.get("__scheme__") or "http"
    url = f"{scheme}://{out['__address__']}{out.get('__metrics_path__') or '/metrics'}"
    if query:
        url += "?" + urlencode(query)
    out.setdefault("instance", out["__address__"])
    return Target(url, {k: v for k, v in sorted(out.items()) if not k.startswith("__") and v})
