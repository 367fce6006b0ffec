"""Composite alarm evaluation and action suppression (pure; clock passed in).

``evaluate_composite(alarm, state, now_ms, state_of)``: the rule true → ALARM, else OK;
one event per transition. The reason names the child whose change decided it, as
CloudWatch writes it (``arn:…:alarm:X transitioned to ALARM at Monday 07 December, 2026
10:01:00 UTC``) with ``{"triggeringAlarms": [...]}`` as reason data.

ActionsSuppressor, as CloudWatch documents it:

* a transition while the suppressor is in ALARM: actions suppressed (``Alarm``);
* a transition while it is not: actions wait ``WaitPeriod`` (``WaitPeriod``); if the
  suppressor goes to ALARM meanwhile, the wait is discarded and actions are suppressed;
* the suppressor leaving ALARM starts ``ExtensionPeriod`` (``ExtensionPeriod``);
* a new transition discards a running wait or extension and starts a new wait;
* when a wait or extension ends, the composite takes the actions of its current state
  (an event with ``deferred`` set and the same old/new states as the transition).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from vigil.rules.alarms import reasons as words
from vigil.rules.alarms import rule as rules
from vigil.rules.alarms.evaluate import transition
from vigil.rules.alarms.interface import AlarmEvent
from vigil.rules.alarms.model import ALARM, OK, AlarmState, CompositeAlarm

StateOf = Callable[[str], AlarmState | None]


def evaluate_composite(
    alarm: CompositeAlarm, state: AlarmState, now_ms: int, state_of: StateOf
) -> tuple[AlarmState, list[AlarmEvent]]:
    tree = rules.parse(alarm.rule)

    def value(name: str) -> str | None:
        child = state_of(name)
        return child.value if child is not None else None

    truth = rules.evaluate(tree, value)
    new_value = ALARM if truth else OK
    events: list[AlarmEvent] = []
    if new_value != state.value:
        reason, data = _reason(alarm, tree, new_value, now_ms, state_of)
        trigger = {
            "AlarmRule": alarm.rule,
            "TriggeringChildren": orjson.loads(data)["triggeringAlarms"],
        }
        state, events = transition(alarm, state, new_value, reason, data, now_ms, trigger)
        state.extra["old"] = events[0].old_state
        if alarm.suppressor:
            _suppress_on_transition(alarm, state, events[0], now_ms, state_of)
    elif alarm.suppressor:
        events.extend(_suppressor_changes(alarm, state, now_ms, state_of))
    return state, events


def _suppressor_state(alarm: CompositeAlarm, state_of: StateOf) -> str | None:
    assert alarm.suppressor is not None
    child = state_of(rules.alarm_name(alarm.suppressor))
    return child.value if child is not None else None


def _suppress_on_transition(
    alarm: CompositeAlarm, state: AlarmState, event: AlarmEvent, now_ms: int, state_of: StateOf
) -> None:
    if _suppressor_state(alarm, state_of) == ALARM:
        state.suppressed_by, state.suppress_until_ms = "Alarm", 0
        state.suppressed_reason = f"Alarm {rules.alarm_name(alarm.suppressor or '')} is in ALARM"
    elif alarm.wait_period > 0:
        state.suppressed_by = "WaitPeriod"
        state.suppress_until_ms = now_ms + alarm.wait_period * 1000
        state.suppressed_reason = "Actions suppressed by WaitPeriod"
    else:
        state.suppressed_by, state.suppressed_reason, state.suppress_until_ms = None, None, 0
        return
    event.suppressed_by = state.suppressed_by
    event.actions = []


def _suppressor_changes(
    alarm: CompositeAlarm, state: AlarmState, now_ms: int, state_of: StateOf
) -> list[AlarmEvent]:
    """Wait and extension periods running out, the suppressor going in or out of ALARM."""
    suppressor = _suppressor_state(alarm, state_of)
    if state.suppressed_by == "WaitPeriod":
        if suppressor == ALARM:
            state.suppressed_by, state.suppress_until_ms = "Alarm", 0
            state.suppressed_reason = (
                f"Alarm {rules.alarm_name(alarm.suppressor or '')} is in ALARM"
            )
            return []
        if now_ms >= state.suppress_until_ms:
            return _release(alarm, state, now_ms)
        return []
    if state.suppressed_by == "Alarm" and suppressor != ALARM:
        if alarm.extension_period <= 0:
            return _release(alarm, state, now_ms)
        state.suppressed_by = "ExtensionPeriod"
        state.suppress_until_ms = now_ms + alarm.extension_period * 1000
        state.suppressed_reason = "Actions suppressed by ExtensionPeriod"
        return []
    if state.suppressed_by == "ExtensionPeriod":
        if suppressor == ALARM:
            state.suppressed_by, state.suppress_until_ms = "Alarm", 0
            return []
        if now_ms >= state.suppress_until_ms:
            return _release(alarm, state, now_ms)
    return []


def _release(alarm: CompositeAlarm, state: AlarmState, now_ms: int) -> list[AlarmEvent]:
    """A wait or extension ended: take the actions of the current state."""
    state.suppressed_by, state.suppressed_reason, state.suppress_until_ms = None, None, 0
    if not alarm.actions_enabled:
        return []
    event = AlarmEvent(
        tenant=alarm.tenant,
        alarm_name=alarm.name,
        alarm_arn=alarm.arn,
        alarm_type=alarm.kind,
        description=alarm.description,
        account_id=alarm.account_id,
        region=alarm.region,
        old_state=str(state.extra.get("old", OK)),
        new_state=state.value,
        reason=state.reason,
        reason_data=state.reason_data,
        timestamp_ms=now_ms,
        actions=list(alarm.actions_for(state.value)),
        ok_actions=list(alarm.ok_actions),
        alarm_actions=list(alarm.alarm_actions),
        insufficient_data_actions=list(alarm.insufficient_data_actions),
        trigger={"AlarmRule": alarm.rule},
        deferred=True,
    )
    return [event]


def next_deadline(state: AlarmState) -> int | None:
    """When a running wait or extension ends (epoch ms), for the scheduler."""
    if state.suppressed_by in ("WaitPeriod", "ExtensionPeriod"):
        return state.suppress_until_ms
    return None


def _reason(
    alarm: CompositeAlarm, tree: rules.Node, new_value: str, now_ms: int, state_of: StateOf
) -> tuple[str, str]:
    """The child whose latest transition decided the rule, in CloudWatch's words: the
    most recent among the children in the composite's new state (else among all; the
    first named wins a tie)."""
    found = [(n, c) for n in rules.children(tree) if (c := state_of(n)) is not None]
    candidates = [(n, c) for n, c in found if c.value == new_value] or found
    latest: tuple[int, str, AlarmState] | None = None
    for name, child in candidates:
        if latest is None or child.transitioned_ms > latest[0]:
            latest = (child.transitioned_ms, name, child)
    if latest is None:
        return "Unchecked: no child alarm has a state", orjson.dumps(
            {"triggeringAlarms": []}
        ).decode()
    when, name, child = latest
    arn = _child_arn(alarm, name)
    reason = f"{arn} transitioned to {child.value} at {words.composite_time(when or now_ms)}"
    data = {
        "triggeringAlarms": [
            {
                "arn": arn,
                "state": {"value": child.value, "timestamp": words.iso_time_ms(when or now_ms)},
            }
        ]
    }
    return reason, orjson.dumps(data).decode()


def _child_arn(alarm: CompositeAlarm, name: str) -> str:
    return f"arn:aws:cloudwatch:{alarm.region}:{alarm.account_id}:alarm:{name}"
