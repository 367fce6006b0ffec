"""Reads the alarm timelines of tests/golden/alarms (format in its README.md).

Files are read by the shared golden frame (tests/golden/frame.py); each block becomes
steps (``steps(block)``) that tests/test_alarm_golden.py runs in order.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from tests.golden.frame import Block

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


def steps(block: Block) -> list[Step]:
    """The steps of one block of the shared golden frame (tests/golden/frame.py)."""
    text, line = block.text, block.line
    if block.verb == "load":
        if block.kind == "alarm":
            return [Step("alarm", line, {"params": _alarm(shlex.split(text))})]
        if block.kind == "alarm-json":
            return [Step("alarm", line, {"params": json.loads(text)})]
        if block.kind == "composite":
            name, rule = text.split(None, 1)
            return [Step("composite", line, {"params": {"AlarmName": name, "AlarmRule": rule}})]
        if block.kind == "composite-json":
            return [Step("composite", line, {"params": json.loads(text)})]
        if block.kind == "points":
            ns, metric = block.words[0].rsplit("/", 1)
            plain = block.words[1:]
            dims = [tuple(p.split(":", 1)) for p in plain[0].split(",")] if plain else []
            points = []
            for body in block.body:
                when, *values = body.split()
                points.append((offset(when), values))
            args = {"ns": ns, "metric": metric, "dims": dims, "points": points, **block.options}
            return [Step("points", line, args)]
        if block.kind == "generate":
            ns, metric = block.words[0].rsplit("/", 1)
            return [Step("generate", line, {"ns": ns, "metric": metric, **block.options})]
        if block.kind == "set":
            name, state = block.words
            return [Step("set", line, {"name": name, "state": state})]
        raise block.fail(f"unknown load kind {block.kind!r}")
    if block.verb == "eval":
        return [Step("eval", line, {"at": None if block.at is None else offset(block.at)})]
    out = []
    for number, body in enumerate(block.body, start=block.line + 1):
        name, what, *rest = body.split(" ", 2)
        tail = rest[0] if rest else ""
        if what == "reason":
            out.append(Step("expect", number, {"name": name, "reason": tail}))
        elif what == "reason-starts":
            out.append(Step("expect", number, {"name": name, "reason_starts": tail}))
        elif what == "actions":
            out.append(Step("expect", number, {"name": name, "actions": int(tail)}))
        else:
            out.append(Step("expect", number, {"name": name, "state": what}))
    return out


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
