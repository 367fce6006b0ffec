"""The alarm engine: definitions and states in memory (backed by ``state/alarms``), one
evaluation round per tick on an injected clock, events out through one sink.

* ``tick(now)``: every metric alarm that is due (``evaluate.is_due``) is evaluated with
  the data of one batched prefetch (``batch``); composites whose children or suppressor
  changed are re-evaluated at once, parents after children, in the same round; composites
  with a wait or extension period ending are checked on every tick. Transitions and their
  history items are committed in one transaction *before* the events go to the sink.
* API operations (put, delete, SetAlarmState, actions on/off) take the same lock as the
  commit phase of a tick, so a round never resurrects an alarm deleted meanwhile.
* An event whose alarm has actions is recorded as an ``Action`` history item with
  ``delivered`` false; the sink taking it marks it delivered, and ``start`` hands the
  undelivered ones to the sink again (a restart never loses one, and never re-announces a
  state that was announced: states are loaded as they were).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.rules.alarms import rule as rules
from vigil.rules.alarms.batch import Models, prefetch
from vigil.rules.alarms.composite import evaluate_composite, next_deadline
from vigil.rules.alarms.evaluate import evaluate, is_due, transition
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import AlarmEvent, EventSink, deliver
from vigil.rules.alarms.model import Alarm, AlarmState, CompositeAlarm, MetricAlarm
from vigil.rules.alarms.spec import composite_alarm, metric_alarm
from vigil.state.alarms import AlarmStore, HistoryItem, StoredAlarm

log = logging.getLogger("vigil.alarms")


@dataclass(slots=True)
class Entry:
    alarm: Alarm
    spec: dict[str, Any]
    state: AlarmState
    updated_ms: int
    last_eval: int | None = None


class AlarmEngine:
    def __init__(
        self,
        store: AlarmStore,
        reader: MetricReader,
        clock: Callable[[], int] = time.time_ns,
        sink: EventSink | None = None,
    ) -> None:
        self._store = store
        self._reader = reader
        self._clock = clock
        self.sink = sink
        self.models = Models(reader)
        self._alarms: dict[tuple[str, str], Entry] = {}
        self._lock = asyncio.Lock()
        self.evaluations = 0  # metric alarm evaluations done (for /metrics and benches)
        self._pending: dict[int, int | None] = {}  # id(event) → its Action history item
        self._parents: dict[tuple[str, str], list[str]] | None = (
            None  # id(event) → its Action history item
        )

    def now_ms(self) -> int:
        return self._clock() // 1_000_000

    # --- loading -------------------------------------------------------------------------

    async def start(self) -> None:
        rows = await asyncio.to_thread(self._store.load)
        for row in rows:
            state = AlarmState(
                row.state,
                row.reason,
                row.reason_data,
                row.state_updated_ms,
                row.state_transitioned_ms,
            )
            extra = dict(row.extra)
            state.suppressed_by = extra.pop("suppressed_by", None)
            state.suppressed_reason = extra.pop("suppressed_reason", None)
            state.suppress_until_ms = int(extra.pop("suppress_until_ms", 0))
            state.extra = extra
            self._alarms[(row.tenant, row.name)] = Entry(
                _build(row.tenant, row.kind, row.spec), row.spec, state, row.updated_ms
            )
        await self.redeliver()

    async def redeliver(self) -> None:
        if self.sink is None:
            return
        items = await asyncio.to_thread(self._store.undelivered)
        done = []
        for item in items:
            event = item.data.get("event")
            if event is None:
                continue
            try:
                await deliver(self.sink, AlarmEvent(**event))
            except Exception:
                log.exception("alarm event sink failed")
                break
            if item.id is not None:
                done.append(item.id)
        await asyncio.to_thread(self._store.mark_delivered, done)

    # --- reads ---------------------------------------------------------------------------

    def get(self, tenant: str, name: str) -> Entry | None:
        return self._alarms.get((tenant, name))

    def entries(self, tenant: str) -> list[Entry]:
        found = [e for (t, _), e in self._alarms.items() if t == tenant]
        return sorted(found, key=lambda e: e.alarm.name)

    def exists(self, tenant: str, name: str) -> bool:
        return (tenant, name) in self._alarms

    def rule_of(self, tenant: str, name: str) -> str | None:
        entry = self._alarms.get((tenant, name))
        if entry is not None and isinstance(entry.alarm, CompositeAlarm):
            return entry.alarm.rule
        return None

    def parents(self, tenant: str, name: str) -> list[str]:
        """Composites whose rule or suppressor names ``name`` (an index rebuilt lazily
        after definitions change)."""
        if self._parents is None:
            index: dict[tuple[str, str], list[str]] = defaultdict(list)
            for (t, _), e in sorted(self._alarms.items()):
                if isinstance(e.alarm, CompositeAlarm):
                    for child in _references(e.alarm):
                        index[(t, child)].append(e.alarm.name)
            self._parents = index
        return list(self._parents.get((tenant, name), ()))

    # --- writes --------------------------------------------------------------------------

    async def put(self, tenant: str, kind: str, spec: dict[str, Any]) -> None:
        now = self.now_ms()
        alarm = _build(tenant, kind, spec)
        async with self._lock:
            old = self._alarms.get((tenant, alarm.name))
            if old is not None and old.alarm.kind == kind:
                state = old.state
            else:
                state = AlarmState(updated_ms=now, transitioned_ms=now)
            entry = Entry(alarm, spec, state, now)
            verb = "updated" if old is not None else "created"
            history = [
                HistoryItem(
                    tenant,
                    alarm.name,
                    kind,
                    now,
                    "ConfigurationUpdate",
                    f'Alarm "{alarm.name}" {verb}',
                    {
                        "version": "1.0",
                        "type": "Update" if old is not None else "Create",
                        ("updatedAlarm" if old is not None else "createdAlarm"): spec,
                    },
                )
            ]
            await asyncio.to_thread(self._store.put, _stored(entry), history)
            self._alarms[(tenant, alarm.name)] = entry
            self._parents = None
            events: list[AlarmEvent] = []
            if isinstance(alarm, CompositeAlarm):
                commit, events = self._propagate(tenant, {alarm.name}, set(), now, True)
                await self._commit(commit, events)
        await self._publish(events)

    async def put_many(self, tenant: str, kind: str, specs: Sequence[dict[str, Any]]) -> None:
        """Create many new alarms in one transaction (bulk loads and benchmarks)."""
        now = self.now_ms()
        entries = []
        for spec in specs:
            alarm = _build(tenant, kind, spec)
            state = AlarmState(updated_ms=now, transitioned_ms=now)
            entries.append(Entry(alarm, spec, state, now))
        async with self._lock:
            await asyncio.to_thread(self._store.put_many, [_stored(e) for e in entries])
            for entry in entries:
                self._alarms[(tenant, entry.alarm.name)] = entry
            self._parents = None

    async def delete(self, tenant: str, names: Sequence[str]) -> None:
        async with self._lock:
            await asyncio.to_thread(self._store.delete, tenant, names)
            for name in names:
                self._alarms.pop((tenant, name), None)
            self._parents = None

    async def set_actions_enabled(self, tenant: str, names: Sequence[str], enabled: bool) -> None:
        async with self._lock:
            found = [self._alarms[(tenant, n)] for n in names if (tenant, n) in self._alarms]
            for entry in found:
                entry.spec = {**entry.spec, "ActionsEnabled": enabled}
                entry.alarm.actions_enabled = enabled
            await asyncio.to_thread(
                self._store.set_actions_enabled,
                tenant,
                [e.alarm.name for e in found],
                [orjson.dumps(e.spec).decode() for e in found],
            )

    async def set_state(
        self, tenant: str, name: str, value: str, reason: str, reason_data: str | None
    ) -> None:
        """SetAlarmState: the state holds until the next evaluation decides otherwise."""
        now = self.now_ms()
        async with self._lock:
            entry = self._alarms[(tenant, name)]
            state, events = transition(
                entry.alarm, entry.state, value, reason, reason_data, now, _trigger(entry)
            )
            if not events:
                return
            entry.state = state
            commit, more = self._propagate(tenant, {name}, set(), now)
            events += more
            await self._commit([entry, *commit], events)
        await self._publish(events)

    # --- evaluation ----------------------------------------------------------------------

    async def tick(self, now: int | None = None) -> list[AlarmEvent]:
        """One evaluation round at ``now`` (epoch seconds; the clock's time if None)."""
        now = self._clock() // 10**9 if now is None else now
        due = [
            e
            for e in self._alarms.values()
            if isinstance(e.alarm, MetricAlarm) and is_due(e.alarm, e.last_eval, now)
        ]
        metric_alarms = [e.alarm for e in due if isinstance(e.alarm, MetricAlarm)]
        data = await prefetch(self._reader, self.models, metric_alarms, now)
        events: list[AlarmEvent] = []
        async with self._lock:
            changed: dict[str, set[str]] = defaultdict(set)
            commit: list[Entry] = []
            for entry in due:
                current = self._alarms.get((entry.alarm.tenant, entry.alarm.name))
                if current is not entry or not isinstance(entry.alarm, MetricAlarm):
                    continue  # deleted or replaced meanwhile
                entry.last_eval = now
                self.evaluations += 1
                state, new_events = evaluate(entry.alarm, entry.state, now, data.query)
                if new_events:
                    entry.state = state
                    commit.append(entry)
                    events.extend(new_events)
                    changed[entry.alarm.tenant].add(entry.alarm.name)
            timers: dict[str, set[str]] = defaultdict(set)
            for entry in self._alarms.values():
                deadline = next_deadline(entry.state)
                if deadline is not None and deadline <= now * 1000:
                    timers[entry.alarm.tenant].add(entry.alarm.name)
            for tenant in sorted(set(changed) | set(timers)):
                more_commit, more = self._propagate(
                    tenant, changed[tenant], timers[tenant], now * 1000
                )
                commit.extend(e for e in more_commit if e not in commit)
                events.extend(more)
            await self._commit(commit, events)
        await self._publish(events)
        return events

    def _propagate(
        self,
        tenant: str,
        changed: set[str],
        timers: set[str],
        now_ms: int,
        include_self: bool = False,
    ) -> tuple[list[Entry], list[AlarmEvent]]:
        """Re-evaluate the composites that depend on ``changed`` (transitively, parents
        after children) and those in ``timers``; their changed entries and events."""
        commit: list[Entry] = []
        events: list[AlarmEvent] = []
        work = list(changed) if include_self else []
        work += [p for name in changed for p in self.parents(tenant, name)]
        work += sorted(timers)
        steps = 0
        while work and steps < 100_000:  # cycles are refused at creation; a bound anyway
            steps += 1
            name = work.pop(0)
            entry = self._alarms.get((tenant, name))
            if entry is None or not isinstance(entry.alarm, CompositeAlarm):
                continue
            before = (entry.state.value, entry.state.suppressed_by, entry.state.suppress_until_ms)

            def state_of(child: str) -> AlarmState | None:
                found = self._alarms.get((tenant, child))
                return found.state if found is not None else None

            try:
                state, produced = evaluate_composite(entry.alarm, entry.state, now_ms, state_of)
            except rules.RuleError:
                continue
            entry.state = state
            after = (state.value, state.suppressed_by, state.suppress_until_ms)
            if (produced or after != before) and entry not in commit:
                commit.append(entry)
            events.extend(produced)
            if state.value != before[0]:
                work.extend(self.parents(tenant, name))
        return commit, events

    async def _commit(self, entries: list[Entry], events: list[AlarmEvent]) -> None:
        history: list[HistoryItem] = []
        actions: list[tuple[AlarmEvent, HistoryItem]] = []
        for event in events:
            items = _history(event, delivered=self.sink is None)
            history.extend(items)
            actions.extend((event, i) for i in items if i.item_type == "Action")
        await asyncio.to_thread(self._store.save_states, [_stored(e) for e in entries], history)
        for event, item in actions:
            self._pending[id(event)] = item.id

    async def _publish(self, events: list[AlarmEvent]) -> None:
        if self.sink is None or not events:
            return
        delivered = []
        for event in events:
            try:
                await deliver(self.sink, event)
            except Exception:
                log.exception("alarm event sink failed; the event stays in history")
                continue
            ident = self._pending.pop(id(event), None)
            if ident is not None:
                delivered.append(ident)
        await asyncio.to_thread(self._store.mark_delivered, delivered)

    async def prune(self) -> int:
        return await asyncio.to_thread(self._store.prune, self.now_ms())


def _build(tenant: str, kind: str, spec: dict[str, Any]) -> Alarm:
    if kind == "CompositeAlarm":
        return composite_alarm(tenant, spec)
    return metric_alarm(tenant, spec)


def _references(alarm: CompositeAlarm) -> set[str]:
    try:
        names = set(rules.children(rules.parse(alarm.rule)))
    except rules.RuleError:
        names = set()
    if alarm.suppressor:
        names.add(rules.alarm_name(alarm.suppressor))
    return names


def _trigger(entry: Entry) -> dict[str, Any]:
    if isinstance(entry.alarm, CompositeAlarm):
        return {"AlarmRule": entry.alarm.rule}
    from vigil.rules.alarms.evaluate import _trigger as metric_trigger

    return metric_trigger(entry.alarm)


def _stored(entry: Entry) -> StoredAlarm:
    s = entry.state
    extra = dict(s.extra)
    extra.update(
        suppressed_by=s.suppressed_by,
        suppressed_reason=s.suppressed_reason,
        suppress_until_ms=s.suppress_until_ms,
    )
    return StoredAlarm(
        entry.alarm.tenant,
        entry.alarm.name,
        entry.alarm.kind,
        entry.spec,
        entry.updated_ms,
        s.value,
        s.reason,
        s.reason_data,
        s.updated_ms,
        s.transitioned_ms,
        extra,
    )


def _history(event: AlarmEvent, delivered: bool) -> list[HistoryItem]:
    items = []
    if not event.deferred:
        new_state: dict[str, Any] = {"stateValue": event.new_state, "stateReason": event.reason}
        if event.reason_data:
            new_state["stateReasonData"] = orjson.loads(event.reason_data)
        items.append(
            HistoryItem(
                event.tenant,
                event.alarm_name,
                event.alarm_type,
                event.timestamp_ms,
                "StateUpdate",
                f"Alarm updated from {event.old_state} to {event.new_state}",
                {
                    "version": "1.0",
                    "oldState": {"stateValue": event.old_state},
                    "newState": new_state,
                },
            )
        )
    if event.actions:
        items.append(
            HistoryItem(
                event.tenant,
                event.alarm_name,
                event.alarm_type,
                event.timestamp_ms,
                "Action",
                "Alarm action queued for delivery: " + ", ".join(event.actions),
                {"actionState": "Queued", "event": dataclasses.asdict(event)},
                delivered=delivered,
            )
        )
    return items
