"""Silences: matchers plus a time window, one-off or recurring (maintenance windows).

A silence holds back every notification whose labels all match its matchers while it is
active. Matchers map a label to an exact value, or to ``~regex`` (full match). Labels of a
notification: ``alarm`` (the group), ``severity``, ``kind``, ``topic``, ``channel`` and its
message attributes. Active: between ``starts`` and ``ends`` (either may be open), and, for a
recurring window, within ``duration_s`` after a time the ``cron`` expression (five fields,
evaluated in ``tz``) fires. Pure: the time is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError


class SilenceError(ValueError):
    """A silence that cannot be used (bad regex, cron expression or time zone)."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: Mapping[str, str]
    starts: float | None = None
    ends: float | None = None
    cron: str | None = None
    duration_s: float = 0.0
    tz: str = "UTC"
    comment: str = ""
    tenant: str = "default"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for value in self.matchers.values():
            if value.startswith("~"):
                try:
                    re.compile(value[1:])
                except re.error as exc:
                    raise SilenceError(f"bad matcher regex {value[1:]!r}: {exc}") from None
        if self.cron is not None:
            if self.duration_s <= 0:
                raise SilenceError("a recurring silence needs a positive duration")
            _zone(self.tz)
            try:
                CronSim(self.cron, datetime.now(_zone(self.tz)))
            except CronSimError as exc:
                raise SilenceError(f"bad cron expression {self.cron!r}: {exc}") from None
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise SilenceError("a silence must end after it starts")

    def active(self, now: float) -> bool:
        if self.starts is not None and now < self.starts:
            return False
        if self.ends is not None and now >= self.ends:
            return False
        if self.cron is None:
            return True
        zone = _zone(self.tz)
        local = datetime.fromtimestamp(now, zone)
        # The latest firing at or before now (CronSim yields strictly earlier times in
        # reverse, so start one second later to include an exact hit).
        previous = next(CronSim(self.cron, local + timedelta(seconds=1), reverse=True))
        return now - previous.timestamp() < self.duration_s

    def until(self, now: float) -> float | None:
        """When the window active at ``now`` ends (None: open-ended)."""
        end = self.ends
        if self.cron is not None:
            local = datetime.fromtimestamp(now, _zone(self.tz))
            previous = next(CronSim(self.cron, local + timedelta(seconds=1), reverse=True))
            window_end = previous.timestamp() + self.duration_s
            end = window_end if end is None else min(end, window_end)
        return end

    @property
    def defers(self) -> bool:
        """A mute rule's hold is a deferral to the window's end (``notify.mutes``); a
        silence's hold is final (Alertmanager's)."""
        return "mute_rule" in self.extra

    def matches(self, labels: Mapping[str, str]) -> bool:
        for name, want in self.matchers.items():
            have = labels.get(name)
            if have is None:
                return False
            if want.startswith("~"):
                if _regex(want[1:]).fullmatch(have) is None:
                    return False
            elif have != want:
                return False
        return True


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SilenceError(f"unknown time zone {name!r}") from None


def silencing(silences: list[Silence], labels: Mapping[str, str], now: float) -> Silence | None:
    """The first active silence matching ``labels``, if any."""
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None
