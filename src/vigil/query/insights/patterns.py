"""``pattern`` and ``diff``: log template clustering with drain3, in Python.

``cluster`` groups messages into templates (variable tokens become ``<*>``) and answers one
row per template: ``@pattern``, ``@patternId``, ``@sampleCount``, ``@ratio``,
``@severityLabel`` and ``@logSamples`` (up to three messages, as a JSON list).
``diff`` clusters the current and the previous period together and answers, per template,
``@sampleCount`` (current), ``@previousSampleCount``, ``@changeInSampleCount`` and
``@diffType`` (``NEW``, ``GONE``, ``INCREASED``, ``DECREASED`` or ``UNCHANGED``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_SAMPLES = 3
_LEVELS = (
    ("FATAL", ("FATAL", "CRITICAL")),
    ("ERROR", ("ERROR", "ERR", "EXCEPTION", "FAILED", "FAILURE")),
    ("WARN", ("WARN", "WARNING")),
    ("INFO", ("INFO",)),
    ("DEBUG", ("DEBUG", "TRACE")),
)
_WORDS = re.compile(r"[A-Za-z]+")

PATTERN_COLUMNS = (
    ("@pattern", "str"),
    ("@patternId", "str"),
    ("@sampleCount", "num"),
    ("@ratio", "num"),
    ("@severityLabel", "str"),
    ("@logSamples", "str"),
)
DIFF_COLUMNS = (
    ("@pattern", "str"),
    ("@patternId", "str"),
    ("@sampleCount", "num"),
    ("@previousSampleCount", "num"),
    ("@changeInSampleCount", "num"),
    ("@diffType", "str"),
    ("@severityLabel", "str"),
    ("@logSamples", "str"),
)


@dataclass(slots=True)
class _Cluster:
    counts: list[int] = field(default_factory=lambda: [0, 0])
    samples: list[str] = field(default_factory=list)


def _miner() -> Any:
    # drain3 logs every new cluster at INFO; keep the server's log for what matters.
    logging.getLogger("drain3").setLevel(logging.WARNING)
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = 0.4
    config.drain_depth = 4
    config.parametrize_numeric_tokens = True
    return TemplateMiner(config=config)


def _clusters(periods: list[Iterable[str]]) -> tuple[dict[int, _Cluster], Any]:
    miner = _miner()
    clusters: dict[int, _Cluster] = {}
    for index, messages in enumerate(periods):
        for message in messages:
            result = miner.add_log_message(message)
            cluster = clusters.setdefault(result["cluster_id"], _Cluster())
            cluster.counts[index] += 1
            if index == 0 and len(cluster.samples) < MAX_SAMPLES:
                cluster.samples.append(message)
    return clusters, miner


def _templates(miner: Any) -> dict[int, str]:
    return {c.cluster_id: c.get_template() for c in miner.drain.clusters}


def severity(template: str) -> str:
    words = {w.upper() for w in _WORDS.findall(template)}
    for label, names in _LEVELS:
        if words.intersection(names):
            return label
    return "UNKNOWN"


def pattern_id(template: str) -> str:
    return hashlib.sha1(template.encode()).hexdigest()[:32]


def cluster(messages: Iterable[str]) -> list[dict[str, Any]]:
    clusters, miner = _clusters([messages])
    templates = _templates(miner)
    total = sum(c.counts[0] for c in clusters.values()) or 1
    rows: list[dict[str, Any]] = []
    for cid, c in clusters.items():
        template = templates[cid]
        rows.append(
            {
                "@pattern": template,
                "@patternId": pattern_id(template),
                "@sampleCount": c.counts[0],
                "@ratio": round(c.counts[0] / total, 6),
                "@severityLabel": severity(template),
                "@logSamples": orjson.dumps(c.samples).decode(),
            }
        )
    rows.sort(key=lambda r: (-int(r["@sampleCount"]), str(r["@pattern"])))
    return rows


def diff(current: Iterable[str], previous: Iterable[str]) -> list[dict[str, Any]]:
    clusters, miner = _clusters([current, previous])
    templates = _templates(miner)
    rows: list[dict[str, Any]] = []
    for cid, c in clusters.items():
        now, before = c.counts
        template = templates[cid]
        if before == 0:
            kind = "NEW"
        elif now == 0:
            kind = "GONE"
        elif now > before:
            kind = "INCREASED"
        elif now < before:
            kind = "DECREASED"
        else:
            kind = "UNCHANGED"
        rows.append(
            {
                "@pattern": template,
                "@patternId": pattern_id(template),
                "@sampleCount": now,
                "@previousSampleCount": before,
                "@changeInSampleCount": now - before,
                "@diffType": kind,
                "@severityLabel": severity(template),
                "@logSamples": orjson.dumps(c.samples).decode(),
            }
        )
    rows.sort(key=lambda r: (-abs(int(r["@changeInSampleCount"])), str(r["@pattern"])))
    return rows
