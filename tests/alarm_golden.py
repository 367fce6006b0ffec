"""Reads the alarm timelines of tests/golden/alarms (format in its README.md).

Kept small on purpose so that it can move onto the shared golden frame
(tests/golden/frame.py, issue 10) when that lands: a file is a list of steps in order.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

T0 = 1_796_601_600  # 2026-12-07 00:00:00 UTC; file times are offsets from it (+ 10 h)
BASE = T0 + 10 * 3600

OPS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
    "band": "LessThanLowerOrGreaterThanUpperThreshold",
    "below": "LessThanLowerThreshold",
    "above": "GreaterThanUpperThreshold",
}


def offset(text: str) -> int:
    """``90s``, ``5m``, ``2h``, ``-3d`` → seconds."""
    match = re.fullmatch(r"(-?\d+)([smhd]?)", text)
    if not match:
        raise ValueError(f"bad time {text!r}")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * unit


@dataclass
class Step:
    kind: str  # alarm | composite | points | generate | set | eval | expect
    line: int
    args: dict[str, Any] = field(default_factory=dict)


def _alarm(words: list[str]) -> dict[str, Any]:
    name, *rest = words
    opts = dict(w.split("=", 1) for w in rest)
    ns, metric = opts.pop("metric").rsplit("/", 1)
    stat = opts.pop("stat", "Maximum")
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": ns,
        "MetricName": metric,
        "Period": offset(opts.pop("period", "60")),
        "EvaluationPeriods": int(opts.pop("n", "1")),
        "ComparisonOperator": OPS[opts.pop("op", ">")],
        "Threshold": float(opts.pop("threshold", "0")),
        "TreatMissingData": opts.pop("treat", "missing"),
    }
    params["Statistic" if stat[0].isupper() else "ExtendedStatistic"] = stat
    if "m" in opts:
        params["DatapointsToAlarm"] = int(opts.pop("m"))
    if "low" in opts:
        params["EvaluateLowSampleCountPercentile"] = opts.pop("low")
    if "dims" in opts:
        params["Dimensions"] = [
            {"Name": k, "Value": v}
            for k, v in (p.split(":", 1) for p in opts.pop("dims").split(","))
        ]
    if opts:
        raise ValueError(f"unknown alarm options {sorted(opts)}")
    return params


def load(path: Path) -> list[Step]:
    steps: list[Step] = []
    block: Step | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not text.strip():
            continue
        if raw.startswith((" ", "\t")):
            if block is None:
                raise ValueError(f"{path.name}:{number}: indented line outside a block")
            when, *values = text.split()
            block.args["points"].append((offset(when), values))
            continue
        words = shlex.split(text)
        head, rest = words[0], words[1:]
        block = None
        if head == "alarm":
            steps.append(Step("alarm", number, {"params": _alarm(rest)}))
        elif head == "alarm-json":
            steps.append(Step("alarm", number, {"params": json.loads(text.split(None, 1)[1])}))
        elif head == "composite":
            name, *rule = rest
            params = {"AlarmName": name, "AlarmRule": " ".join(rule)}
            steps.append(Step("composite", number, {"params": params}))
        elif head == "composite-json":
            steps.append(Step("composite", number, {"params": json.loads(text.split(None, 1)[1])}))
        elif head == "points":
            ns, metric = rest[0].rsplit("/", 1)
            opts = dict(w.split("=", 1) for w in rest[1:] if "=" in w)
            plain = [w for w in rest[1:] if "=" not in w]
            dims = [tuple(p.split(":", 1)) for p in plain[0].split(",")] if plain else []
            args = {"ns": ns, "metric": metric, "dims": dims, "points": [], **opts}
            block = Step("points", number, args)
            steps.append(block)
        elif head == "generate":
            ns, metric = rest[0].rsplit("/", 1)
            opts = dict(w.split("=", 1) for w in rest[1:])
            steps.append(Step("generate", number, {"ns": ns, "metric": metric, **opts}))
        elif head == "set":
            steps.append(Step("set", number, {"name": rest[0], "state": rest[1]}))
        elif head == "eval":
            if rest[0] != "at":
                raise ValueError(f"{path.name}:{number}: write 'eval at T'")
            steps.append(Step("eval", number, {"at": offset(rest[1])}))
        elif head == "expect":
            name, what = rest[0], rest[1]
            if what == "reason":
                steps.append(Step("expect", number, {"name": name, "reason": " ".join(rest[2:])}))
            elif what == "reason-starts":
                steps.append(
                    Step("expect", number, {"name": name, "reason_starts": " ".join(rest[2:])})
                )
            elif what == "actions":
                steps.append(Step("expect", number, {"name": name, "actions": int(rest[2])}))
            else:
                steps.append(Step("expect", number, {"name": name, "state": what}))
        else:
            raise ValueError(f"{path.name}:{number}: unknown directive {head!r}")
    return steps


def samples(values: list[str]) -> list[float]:
    """``5``, ``5,6``, ``20*5`` (twenty samples of 5)."""
    out: list[float] = []
    for item in ",".join(values).split(","):
        if "*" in item:
            count, value = item.split("*")
            out.extend([float(value)] * int(count))
        elif item:
            out.append(float(item))
    return out
