"""The rows and texts of incidents: their insert rows, timeline lines (with the secret part
of target URLs hidden), targets without duplicates, timestamps. Pure: no I/O."""

from __future__ import annotations

import time
from typing import Any

import orjson

from vigil.notify.interface import Target, redact
from vigil.state.incidents import Incident


def event_row(incident_id: str, at_ms: int, kind: str, detail: str) -> dict[str, Any]:
    return {"incident_id": incident_id, "at_ms": at_ms, "kind": kind, "detail": detail}


def incident_row(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.id,
        "tenant": inc.tenant,
        "alarm_key": inc.alarm_key,
        "open_key": inc.alarm_key,
        "status": "open",
        "severity": inc.severity,
        "title": inc.title,
        "policy": inc.policy,
        "chain": orjson.dumps(inc.chain).decode(),
        "step": inc.step,
        "next_due_ms": inc.next_due_ms,
        "token": inc.token,
        "context": orjson.dumps(inc.context).decode(),
        "opened_ms": inc.opened_ms,
    }


def step_text(step: dict[str, Any], count: int) -> str:
    again = f" (repeat {step['round']})" if step["round"] else ""
    return f"level {step['level'] + 1}{again}: {count} notification(s) to " + ", ".join(
        shown(ref) for ref in step["targets"]
    )


def shown(ref: str) -> str:
    """A target reference as incident timelines show it: a URL's path and query (where
    webhook, Slack and PagerDuty secrets live) replaced by a digest (interface.redact)."""
    channel, _, endpoint = ref.partition(":")
    return redact(channel, endpoint) if "://" in endpoint else ref


def unique(targets: list[Target]) -> list[Target]:
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.id or target.name, target)
    return list(seen.values())


def iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
