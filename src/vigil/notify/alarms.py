"""Alarm state changes → notifications, as CloudWatch publishes them, plus incidents.

Consumes the alarms pillar's events (``rules/alarms/interface.py``: ``AlarmEvent``; read
here through the ``AlarmStateChange`` protocol, the fields this module uses, so notify
does not import rules). Each event's actions that are SNS topic ARNs are notified:

* → ALARM: the alarm's incident opens (or the open one gets the repeat) and its first
  escalation step runs. The policy is the one named by the tag
  ``vigil:escalation-policy`` of the first action topic that has it; without one, the
  chain is a single step: the action topics.
* → OK: the alarm's open incident is resolved (resolve notifications to PagerDuty and
  webhooks it paged) and the OK actions' topics get CloudWatch's OK message.
* → INSUFFICIENT_DATA: its actions' topics get the message.

Subject ``ALARM: "name" in US East (N. Virginia)``; Message: the JSON CloudWatch sends
(``event.sns_message()``). The idempotency key is the alarm, the transition time and the
new state, so an event delivered twice (the alarms pillar retries undelivered events
from its history after a restart) is recorded once.

``publish(event)`` is the sink: it queues and returns at once; ``drain()`` (run by the
pillar's task) delivers queued events in order; ``deliver(event)`` does one, durably.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from vigil.notify.escalation import Escalations, OpenRequest
from vigil.notify.graph import Graphs
from vigil.notify.interface import Kind, Notification, Severity
from vigil.notify.loglines import LogLines
from vigil.notify.topics import PublishRequest, Topics

log = logging.getLogger(__name__)

POLICY_TAG = "vigil:escalation-policy"
_RANK = {"info": 0, "warning": 1, "critical": 2}


class AlarmStateChange(Protocol):
    """What notify reads of an alarm event (read-only)."""

    @property
    def tenant(self) -> str: ...

    @property
    def alarm_name(self) -> str: ...

    @property
    def alarm_arn(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def old_state(self) -> str: ...

    @property
    def new_state(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def timestamp_ms(self) -> int: ...

    @property
    def actions(self) -> list[str]: ...

    def sns_message(self) -> dict[str, Any]: ...


def subject(event: AlarmStateChange, message: Mapping[str, Any]) -> str:
    region = str(message.get("Region", event.region))
    text = f'{event.new_state}: "{event.alarm_name}" in {region}'
    # SNS subjects are printable ASCII, at most 100 characters.
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= 100 else text[:97] + "..."


class AlarmNotifier:
    def __init__(
        self,
        topics: Topics,
        escalations: Escalations,
        public_url: str,
        graphs: Graphs | None = None,
        lines: LogLines | None = None,
    ) -> None:
        self.topics = topics
        self.graphs = graphs
        self.lines = lines
        # Log lines cost a store read per ALARM event: a burst gets them for its first
        # ``lines_per_pass`` events only (a storm of pages must not wait on log reads).
        self.lines_per_pass = 20
        self._lines_left = self.lines_per_pass
        self.escalations = escalations
        self.public_url = public_url.rstrip("/")
        self._queue: asyncio.Queue[AlarmStateChange] = asyncio.Queue()

    def publish(self, event: AlarmStateChange) -> None:
        """The alarms pillar's sink: queue and return (never blocks)."""
        self._queue.put_nowait(event)

    async def drain(self) -> int:
        """Deliver every queued event, in order; how many. Consecutive ALARM events open
        their incidents in one transaction (a burst of alarms costs one commit)."""
        events: list[AlarmStateChange] = []
        self._lines_left = self.lines_per_pass
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        tags: dict[tuple[str, str], dict[str, str] | None] = {}
        opening: list[OpenRequest] = []
        for event in events:
            try:
                request = await self._prepare(event, tags)
                if isinstance(request, tuple):
                    opening.append(request)
                    continue
                await self._open(opening)
                await self._other(event, request, tags)
            except Exception:
                log.exception("alarm %s: notification failed", event.alarm_name)
        await self._open(opening)
        return len(events)

    async def deliver(self, event: AlarmStateChange) -> None:
        """One event, durably recorded when this returns."""
        tags: dict[tuple[str, str], dict[str, str] | None] = {}
        self._lines_left = max(self._lines_left, 1)
        request = await self._prepare(event, tags)
        if isinstance(request, tuple):
            await self._open([request])
        else:
            await self._other(event, request, tags)

    async def _open(self, opening: list[OpenRequest]) -> None:
        if opening:
            batch = list(opening)
            opening.clear()
            await self.escalations.open_many(batch)

    async def _tags(
        self, tenant: str, topics: list[str], cache: dict[tuple[str, str], dict[str, str] | None]
    ) -> dict[str, dict[str, str]]:
        missing = [t for t in topics if (tenant, t) not in cache]
        if missing:
            found = await self.topics.topic_tags(tenant, missing)
            for topic in missing:
                cache[tenant, topic] = found.get(topic)
        return {t: tags for t in topics if (tags := cache[tenant, t]) is not None}

    async def _prepare(
        self, event: AlarmStateChange, cache: dict[tuple[str, str], dict[str, str] | None]
    ) -> OpenRequest | Notification | None:
        """The incident to open (ALARM), else the notification for the topics."""
        topics = [a for a in event.actions if a.startswith("arn:") and ":sns:" in a]
        message = event.sns_message()
        tags = await self._tags(event.tenant, topics, cache)
        note = Notification(
            key=f"alarm/{event.alarm_arn}/{event.timestamp_ms}/{event.new_state}",
            subject=subject(event, message),
            message=orjson.dumps(message).decode(),
            kind=_kind(event.new_state),
            severity=_severity(tags.values()),
            group=event.alarm_arn,
            links={"alarm": f"{self.public_url}/alarms/{quote(event.alarm_name, safe='')}"},
            details={"AlarmName": event.alarm_name, "NewStateReason": event.reason},
        )
        if self.graphs is not None:
            note = self.graphs.attach(event.tenant, note, message, event.timestamp_ms)
        if self.lines is not None and event.new_state == "ALARM" and self._lines_left > 0:
            self._lines_left -= 1
            found = await self.lines.for_alarm(event.tenant, message, event.timestamp_ms)
            if found:
                note = replace(note, details={**note.details, "log_lines": found})
        if event.new_state != "ALARM":
            return note
        if not topics:
            return None
        policy = next((tags[t][POLICY_TAG] for t in topics if POLICY_TAG in tags.get(t, {})), None)
        return (event.tenant, event.alarm_arn, note, policy, topics)

    async def _other(
        self,
        event: AlarmStateChange,
        note: Notification | None,
        cache: dict[tuple[str, str], dict[str, str] | None],
    ) -> None:
        """OK (resolve the incident) and INSUFFICIENT_DATA: publish to the topics."""
        if note is None:
            return
        incident_id = None
        if event.new_state == "OK":
            resolved = await self.escalations.resolve_alarm(
                event.tenant, event.alarm_arn, "the alarm returning to OK"
            )
            incident_id = resolved.id if resolved is not None else None
        for topic in [a for a in event.actions if a.startswith("arn:") and ":sns:" in a]:
            if cache.get((event.tenant, topic)) is None:
                log.warning("alarm %s: action topic %s does not exist", event.alarm_name, topic)
                continue
            await self.topics.publish(
                event.tenant,
                PublishRequest(
                    topic_arn=topic,
                    message=note.message,
                    subject=note.subject,
                    kind=note.kind,
                    severity=note.severity,
                    group=note.group,
                    incident_id=incident_id,
                    links=note.links,
                    details=note.details,
                    key=f"{note.key}/{topic}",
                ),
            )


def _kind(state: str) -> Kind:
    return "trigger" if state == "ALARM" else "resolve" if state == "OK" else "message"


def _severity(tag_sets: Sequence[Mapping[str, str]] | Any) -> Severity:
    found = [t.get("severity", "").lower() for t in tag_sets]
    best: Severity = "warning"
    ranked = [s for s in found if s in _RANK]
    for name in ("info", "warning", "critical"):
        if name in ranked:
            best = name
    return best
