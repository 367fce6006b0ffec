"""CloudWatch's alarm mute rules (PutAlarmMuteRule & co.) as silences of the pipeline.

A rule is a schedule — ``cron(min hour dom month dow)`` (recurring) or
``at(yyyy-MM-ddThh:mm)`` (one time), read in ``Timezone`` (default UTC) — a ``Duration``
(ISO 8601, PT1M to P15D) each occurrence lasts, optional ``StartDate``/``ExpireDate``, and
the alarms it targets by name (at most 100). While a rule is active its alarms still
evaluate and change state (the alarms pillar never sees mute rules); their notifications
are not sent. Each one is kept in the outbox as ``pending`` with the reason "muted by
alarm mute rule NAME" until the occurrence ends, then goes through the pipeline again:
so an alarm still in ALARM when the mute ends pages then (CloudWatch: "their configured
actions will trigger"), and a trigger followed by a resolve within the window collapse
into the newest (the group stage). Nothing muted is dropped and every hold is listed.

A rule is stored as a silence (``notify_silences``, id ``mute/<name>``) whose matcher is
the alarm names and whose ``extra`` holds the rule as CloudWatch describes it; the silence
stage applies it (``Silence.defer``). Pure: the time is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from vigil.notify.silences import Silence

PREFIX = "mute/"
MAX_TARGETS = 100
MIN_DURATION, MAX_DURATION = 60, 15 * 86400
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d)\)$")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class MuteRuleError(ValueError):
    """A rule CloudWatch would refuse; the message names the field."""


def duration(text: str) -> int:
    match = _DURATION.match(text)
    if match is None or not any(match.groups()) or text.endswith("T"):
        raise MuteRuleError(f"Rule.Schedule.Duration {text!r} is not an ISO 8601 duration (PT4H)")
    w, d, h, m, s = (int(g or 0) for g in match.groups())
    seconds = w * 604800 + d * 86400 + h * 3600 + m * 60 + s
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise MuteRuleError("Rule.Schedule.Duration must be between PT1M and P15D")
    return seconds


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MuteRuleError(f"Rule.Schedule.Timezone {name!r} is not a time zone") from None


def to_silence(
    name: str,
    tenant: str,
    description: str,
    rule: Mapping[str, Any],
    alarm_names: list[str],
    start: float | None,
    expire: float | None,
    tags: list[dict[str, str]],
    updated: float,
) -> Silence:
    """The silence of a rule as PutAlarmMuteRule gives it (checked)."""
    schedule = rule.get("Schedule") or {}
    expression = str(schedule.get("Expression", "")).strip()
    seconds = duration(str(schedule.get("Duration", "")))
    tz = str(schedule.get("Timezone") or "UTC")
    zone = _zone(tz)
    if len(alarm_names) > MAX_TARGETS:
        raise MuteRuleError(f"MuteTargets.AlarmNames may name at most {MAX_TARGETS} alarms")
    if start is not None and expire is not None and expire <= start:
        raise MuteRuleError("ExpireDate must be after StartDate")
    cron: str | None = None
    starts, ends = start, expire
    if (m := _CRON.match(expression)) is not None:
        cron = m.group(1).strip()
        if len(cron.split()) != 5:
            raise MuteRuleError(
                "Rule.Schedule.Expression: cron() takes five fields"
                " (Minutes Hours Day-of-month Month Day-of-week)"
            )
        try:
            CronSim(cron, datetime.now(zone))
        except CronSimError as exc:
            raise MuteRuleError(f"Rule.Schedule.Expression {expression!r}: {exc}") from None
        mute_type = "RECURRING"
    elif (m := _AT.match(expression)) is not None:
        at = datetime.fromisoformat(m.group(1)).replace(tzinfo=zone).timestamp()
        starts = at if start is None else max(at, start)
        ends = at + seconds if expire is None else min(at + seconds, expire)
        mute_type = "ONE_TIME"
    else:
        raise MuteRuleError(
            f"Rule.Schedule.Expression {expression!r} must be cron(…) or at(yyyy-MM-ddThh:mm)"
        )
    return Silence(
        id=PREFIX + name,
        matchers={"alarm_name": "~(?:" + "|".join(re.escape(n) for n in alarm_names) + ")"}
        if alarm_names
        else {"alarm_name": "~(?!)"},  # no targets: mutes nothing
        starts=starts,
        ends=ends,
        cron=cron,
        duration_s=float(seconds) if cron else 0.0,
        tz=tz,
        comment=description,
        tenant=tenant,
        extra={
            "mute_rule": {
                "Name": name,
                "Description": description,
                "Rule": {
                    "Schedule": {
                        "Expression": expression,
                        "Duration": schedule.get("Duration"),
                        "Timezone": tz,
                    }
                },
                "MuteTargets": {"AlarmNames": list(alarm_names)},
                "StartDate": start,
                "ExpireDate": expire,
                "Tags": list(tags),
                "MuteType": mute_type,
                "LastUpdatedTimestamp": updated,
            }
        },
    )


def describe(silence: Silence, arn: str, now: float) -> dict[str, Any]:
    """GetAlarmMuteRule's answer for a rule's silence at ``now``."""
    rule = dict(silence.extra["mute_rule"])
    out: dict[str, Any] = {
        "Name": rule["Name"],
        "AlarmMuteRuleArn": arn,
        "Description": rule.get("Description") or "",
        "Rule": rule["Rule"],
        "MuteTargets": rule["MuteTargets"],
        "Status": status(silence, now),
        "MuteType": rule["MuteType"],
        "LastUpdatedTimestamp": _dt(rule["LastUpdatedTimestamp"]),
    }
    for key in ("StartDate", "ExpireDate"):
        if rule.get(key) is not None:
            out[key] = _dt(rule[key])
    return out


def status(silence: Silence, now: float) -> str:
    """ACTIVE while muting, EXPIRED once it can never mute again, else SCHEDULED."""
    if silence.active(now):
        return "ACTIVE"
    if silence.ends is not None and now >= silence.ends:
        return "EXPIRED"
    return "SCHEDULED"


def reason(name: str) -> str:
    """The reason recorded with a notification a rule holds back."""
    return f"muted by alarm mute rule {name}"


def is_mute_rule(silence: Silence) -> bool:
    return silence.id.startswith(PREFIX) and "mute_rule" in silence.extra


def targets(silence: Silence) -> list[str]:
    return list(silence.extra["mute_rule"]["MuteTargets"]["AlarmNames"])


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
