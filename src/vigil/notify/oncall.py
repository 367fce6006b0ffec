"""On-call schedules: rotations with a hand-off time and zone, and overrides. Pure
evaluation (``on_call(spec, t)``), stored specs (``Schedules``).

A spec::

    {"time_zone": "Europe/Berlin",
     "rotations": [{"members": ["alice@example.com", "slack:https://hooks…"],
                    "start": "2026-12-07", "handoff": "09:00", "every": "weekly"}],
     "overrides": [{"member": "carol@example.com", "start": 1796000000, "end": 1796086400}]}

The rotation hands off at ``handoff`` local time every day (``daily``) or every seven days
(``weekly``) counted from ``start`` (a local date), so a hand-off stays at 09:00 across
daylight-saving changes. An override covering ``t`` wins; with several rotations the first
whose start is reached applies. A member is a contact: an address (email) or
``<protocol>:<endpoint>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy import Connection, Engine, select

from vigil.notify.interface import Target
from vigil.state.incidents import schedules

_EVERY = {"daily": 1, "weekly": 7}


class ScheduleError(ValueError):
    pass


def check(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ScheduleError("a schedule is a JSON object")
    zone = spec.get("time_zone", "UTC")
    _zone(zone)
    rotations = spec.get("rotations", [])
    if not isinstance(rotations, list) or not rotations:
        raise ScheduleError("rotations must be a non-empty list")
    for i, rot in enumerate(rotations):
        if not isinstance(rot, dict):
            raise ScheduleError(f"rotation {i} must be an object")
        members = rot.get("members")
        if (
            not isinstance(members, list)
            or not members
            or not all(isinstance(m, str) and m for m in members)
        ):
            raise ScheduleError(f"rotation {i}: members must be a non-empty list of contacts")
        if rot.get("every", "weekly") not in _EVERY:
            raise ScheduleError(f"rotation {i}: every must be daily or weekly")
        try:
            date.fromisoformat(str(rot.get("start", "")))
            time.fromisoformat(str(rot.get("handoff", "09:00")))
        except ValueError:
            raise ScheduleError(f"rotation {i}: start is YYYY-MM-DD, handoff HH:MM") from None
    for i, o in enumerate(spec.get("overrides", [])):
        if not isinstance(o, dict) or not isinstance(o.get("member"), str):
            raise ScheduleError(f"override {i} needs a member")
        start, end = o.get("start", ""), o.get("end", "")
        if not (_is_number(start) and _is_number(end)):
            raise ScheduleError(f"override {i}: start and end are epoch seconds")
        if end <= start:
            raise ScheduleError(f"override {i} must end after it starts")
    return spec


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def on_call(spec: Mapping[str, Any], t: float) -> str | None:
    """The member on call at epoch second ``t`` (None before every rotation starts)."""
    for override in spec.get("overrides", []):
        if override["start"] <= t < override["end"]:
            return str(override["member"])
    zone = _zone(spec.get("time_zone", "UTC"))
    local = datetime.fromtimestamp(t, zone)
    for rot in spec["rotations"]:
        start = date.fromisoformat(rot["start"])
        handoff = time.fromisoformat(rot.get("handoff", "09:00"))
        days = (local.date() - start).days - (1 if local.time() < handoff else 0)
        if days < 0:
            continue
        members = rot["members"]
        return str(members[(days // _EVERY[rot.get("every", "weekly")]) % len(members)])
    return None


def contact_target(contact: str, schedule: str) -> Target:
    protocol, sep, endpoint = contact.partition(":")
    if not sep or "@" in protocol:
        return Target("email", contact, f"oncall:{schedule}:email:{contact}")
    return Target(protocol, endpoint, f"oncall:{schedule}:{contact}")


class Schedules:
    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock

    def put(self, tenant: str, name: str, spec: Any) -> dict[str, Any]:
        checked = check(spec)
        with self.engine.begin() as conn:
            conn.execute(
                schedules.delete().where(schedules.c.tenant == tenant, schedules.c.name == name)
            )
            conn.execute(
                schedules.insert().values(
                    tenant=tenant,
                    name=name,
                    spec=orjson.dumps(checked).decode(),
                    updated_ms=int(self.clock() * 1000),
                )
            )
        return checked

    def all(self, tenant: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schedules).where(schedules.c.tenant == tenant))
            return {r.name: orjson.loads(r.spec) for r in rows}

    def spec_in(self, conn: Connection, tenant: str, name: str) -> dict[str, Any] | None:
        text = conn.execute(
            select(schedules.c.spec).where(schedules.c.tenant == tenant, schedules.c.name == name)
        ).scalar()
        return None if text is None else dict(orjson.loads(text))

    def who(self, tenant: str, name: str, t: float) -> str | None:
        with self.engine.connect() as conn:
            spec = self.spec_in(conn, tenant, name)
        if spec is None:
            raise ScheduleError(f"no schedule {name!r}")
        return on_call(spec, t)

    def targets_in(self, conn: Connection, tenant: str, name: str) -> list[Target]:
        spec = self.spec_in(conn, tenant, name)
        member = None if spec is None else on_call(spec, self.clock())
        return [] if member is None else [contact_target(member, name)]
