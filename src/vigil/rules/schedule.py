"""Schedule expressions of scheduled queries, as EventBridge writes them. Pure.

``rate(5 minutes)``, ``rate(1 hour)``, ``rate(1 day)``; ``cron(min hour day month weekday
year)`` with ``*``, ``?``, numbers, ``a-b`` ranges, ``a,b`` lists, ``*/n`` and ``a/n`` steps,
``JAN``…``DEC`` and ``SUN``…``SAT`` (weekdays 1-7 = SUN-SAT), evaluated in UTC.
``due(expr, last_ms, now_ms)`` tells whether a run fell due in ``(last_ms, now_ms]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MINUTE_MS = 60_000
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.I)
_CRON = re.compile(r"^cron\((.*)\)$", re.I)
_UNIT_MS = {"minute": MINUTE_MS, "hour": 60 * MINUTE_MS, "day": 1440 * MINUTE_MS}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
MAX_SCAN_MINUTES = 366 * 1440


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Schedule:
    rate_ms: int | None = None
    fields: tuple[frozenset[int] | None, ...] = ()  # minute hour day month weekday year

    def period_ms(self) -> int:
        return self.rate_ms or 3_600_000

    def matches(self, moment: datetime) -> bool:
        values = (
            moment.minute,
            moment.hour,
            moment.day,
            moment.month,
            (moment.isoweekday() % 7) + 1,
            moment.year,
        )
        return all(f is None or v in f for f, v in zip(self.fields, values, strict=True))


def parse_schedule(text: str) -> Schedule:
    match = _RATE.match(text.strip())
    if match:
        amount = int(match.group(1))
        if amount < 1:
            raise ScheduleError("a rate must be at least 1")
        return Schedule(rate_ms=amount * _UNIT_MS[match.group(2).lower().rstrip("s")])
    match = _CRON.match(text.strip())
    if not match:
        raise ScheduleError(
            f"{text!r} is not a schedule expression: use rate(1 hour) or cron(0 * * * ? *)"
        )
    parts = match.group(1).split()
    if len(parts) != 6:
        raise ScheduleError(
            "cron() takes 6 fields: minutes hours day-of-month month day-of-week year"
        )
    ranges = ((0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199))
    names: tuple[dict[str, int], ...] = ({}, {}, {}, _MONTHS, _DAYS, {})
    fields = tuple(
        _field(part, lo, hi, table)
        for part, (lo, hi), table in zip(parts, ranges, names, strict=True)
    )
    return Schedule(fields=fields)


def _field(text: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int] | None:
    if text in ("*", "?"):
        return None
    out: set[int] = set()
    for item in text.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/", 1)
            step = _number(step_text, names)
            if step < 1:
                raise ScheduleError(f"bad step in {text!r}")
        if item in ("*", "?"):
            start, end = lo, hi
        elif "-" in item:
            a, b = item.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(item, names)
            end = hi if step > 1 else start
        if not lo <= start <= end <= hi:
            raise ScheduleError(f"{text!r} is outside {lo}-{hi}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _number(text: str, names: dict[str, int]) -> int:
    key = text.strip().upper()
    if key in names:
        return names[key]
    try:
        return int(key)
    except ValueError:
        raise ScheduleError(f"{text!r} is not a number") from None


def due(schedule: Schedule, last_ms: int, now_ms: int) -> bool:
    """Whether a run fell due after ``last_ms`` and by ``now_ms``."""
    if now_ms <= last_ms:
        return False
    if schedule.rate_ms is not None:
        return now_ms - last_ms >= schedule.rate_ms
    first = (last_ms // MINUTE_MS + 1) * MINUTE_MS
    moment = datetime.fromtimestamp(first / 1000, tz=UTC)
    for _ in range(min(MAX_SCAN_MINUTES, (now_ms - first) // MINUTE_MS + 1)):
        if schedule.matches(moment):
            return True
        moment += timedelta(minutes=1)
    return False
