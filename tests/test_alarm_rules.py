"""Composite alarms: the AlarmRule language and the evaluation with action suppression
(pure; clock and child states passed in)."""

from __future__ import annotations

import pytest

from vigil.rules.alarms import rule as rules
from vigil.rules.alarms.composite import evaluate_composite
from vigil.rules.alarms.model import ALARM, INSUFFICIENT_DATA, OK, AlarmState, CompositeAlarm


def _truth(text: str, states: dict[str, str]) -> bool:
    return rules.evaluate(rules.parse(text), states.get)


def test_grammar_and_truth() -> None:
    states = {"a": ALARM, "b": OK, "c": INSUFFICIENT_DATA, "my alarm": ALARM}
    assert _truth("ALARM(a) AND OK(b)", states)
    assert _truth("ALARM('a') OR ALARM(\"b\")", states)
    assert not _truth("NOT ALARM(a)", states)
    assert _truth("NOT ALARM(a) OR INSUFFICIENT_DATA(c)", states)  # NOT binds tighter
    assert not _truth("ALARM(b) OR ALARM(a) AND FALSE", states)  # AND binds tighter
    assert _truth("(ALARM(b) OR ALARM(a)) AND TRUE", states)
    assert _truth('ALARM("my alarm")', states)
    assert _truth("ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a)", states)
    assert _truth("AT_LEAST(2, ALARM, (a, b, 'my alarm'))", states)
    assert not _truth("AT_LEAST(3, ALARM, (a, b, 'my alarm'))", states)
    assert _truth("AT_LEAST(60%, NOT OK, (a, b, c))", states)  # 2 of 3 ≥ 60 %
    assert not _truth("AT_LEAST(70%, NOT OK, (a, b, c))", states)
    assert not _truth("ALARM(unknown)", states)


def test_printer_round_trips() -> None:
    text = "ALARM(a) OR NOT (OK(b) AND AT_LEAST(50%, NOT ALARM, (c, d)))"
    tree = rules.parse(text)
    assert rules.parse(rules.to_text(tree)) == tree


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("ALARM(a) AND", 13),
        ("ALARM(a) XOR OK(b)", 10),
        ("ALARM a", 7),
        ("ALARM(a", 8),
        ("AT_LEAST(x, ALARM, (a))", 10),
        ('OK("a)', 4),
        ("BOGUS(a)", 1),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int) -> None:
    with pytest.raises(rules.RuleError) as err:
        rules.parse(text)
    assert err.value.position == position
    assert f"at position {position}" in str(err.value)


def test_validation_missing_cycles_and_size() -> None:
    composites = {"top": "ALARM(mid)", "mid": "ALARM(leaf) OR ALARM(new)"}
    known = {"top", "mid", "leaf"}
    with pytest.raises(rules.RuleCheckError, match="do not exist"):
        rules.validate("ALARM(leaf) OR ALARM(ghost)", "new", known.__contains__, composites.get)
    with pytest.raises(rules.RuleCheckError, match="cycle"):
        rules.validate("ALARM(top)", "new", known.__contains__, composites.get)
    rules.validate("ALARM(leaf)", "new", known.__contains__, composites.get)
    many = " OR ".join(f"ALARM(a{i})" for i in range(101))
    with pytest.raises(rules.RuleCheckError, match="at most 100"):
        rules.validate(many, "new", lambda _n: True, lambda _n: None)
    with pytest.raises(rules.RuleError):
        rules.parse("TRUE OR " * 2000 + "TRUE")


def _composite(**kw: object) -> CompositeAlarm:
    base: dict[str, object] = {
        "tenant": "t",
        "name": "health",
        "arn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:health",
        "rule": "ALARM(errors) OR ALARM(latency)",
        "alarm_actions": ("arn:aws:sns:us-east-1:000000000000:page",),
        "ok_actions": ("arn:aws:sns:us-east-1:000000000000:page",),
    }
    base.update(kw)
    return CompositeAlarm(**base)  # type: ignore[arg-type]


def test_composite_transitions_and_reason() -> None:
    children = {"errors": AlarmState(OK), "latency": AlarmState(OK)}
    state, events = evaluate_composite(_composite(), AlarmState(), 1000, children.get)
    assert state.value == OK
    assert len(events) == 1
    children["latency"] = AlarmState(ALARM, transitioned_ms=1_796_637_660_000)
    state, events = evaluate_composite(_composite(), state, 1_796_637_661_000, children.get)
    assert state.value == ALARM
    assert state.reason == (
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:latency transitioned to ALARM at"
        " Monday 07 December, 2026 10:01:00 UTC"
    )
    assert events[0].actions == ["arn:aws:sns:us-east-1:000000000000:page"]
    assert events[0].sns_message()["AlarmRule"] == "ALARM(errors) OR ALARM(latency)"
    same, events = evaluate_composite(_composite(), state, 1_796_637_662_000, children.get)
    assert events == []
    assert same.value == ALARM


def test_suppressor_wait_and_extension_periods() -> None:
    alarm = _composite(suppressor="maint", wait_period=120, extension_period=180)
    kids = {"errors": AlarmState(OK), "latency": AlarmState(OK), "maint": AlarmState(OK)}
    state, _ = evaluate_composite(alarm, AlarmState(OK), 0, kids.get)
    # 1. composite to ALARM, suppressor OK: actions wait, then run when the wait ends
    kids["errors"] = AlarmState(ALARM, transitioned_ms=10_000)
    state, [event] = evaluate_composite(alarm, state, 10_000, kids.get)
    assert event.actions == []
    assert event.suppressed_by == "WaitPeriod"
    state, events = evaluate_composite(alarm, state, 129_000, kids.get)
    assert events == []
    state, [late] = evaluate_composite(alarm, state, 130_000, kids.get)
    assert late.deferred
    assert late.actions == list(alarm.alarm_actions)
    assert (late.old_state, late.new_state) == (OK, ALARM)
    # 2. back to OK, the suppressor goes to ALARM within the wait: suppressed, then the
    #    extension after it leaves ALARM, then the actions of the current state
    kids["errors"] = AlarmState(OK, transitioned_ms=200_000)
    state, [event] = evaluate_composite(alarm, state, 200_000, kids.get)
    assert event.suppressed_by == "WaitPeriod"
    kids["maint"] = AlarmState(ALARM, transitioned_ms=250_000)
    state, events = evaluate_composite(alarm, state, 250_000, kids.get)
    assert events == []
    assert state.suppressed_by == "Alarm"
    state, events = evaluate_composite(alarm, state, 400_000, kids.get)
    assert events == []  # the wait would have ended at 320 s: discarded
    kids["maint"] = AlarmState(OK, transitioned_ms=500_000)
    state, events = evaluate_composite(alarm, state, 500_000, kids.get)
    assert state.suppressed_by == "ExtensionPeriod"
    assert events == []
    state, [late] = evaluate_composite(alarm, state, 680_000, kids.get)
    assert late.new_state == OK
    assert late.actions == list(alarm.ok_actions)
    # 3. suppressor already in ALARM at the transition: suppressed by the alarm
    kids["maint"] = AlarmState(ALARM, transitioned_ms=700_000)
    kids["latency"] = AlarmState(ALARM, transitioned_ms=710_000)
    state, [event] = evaluate_composite(alarm, state, 710_000, kids.get)
    assert event.suppressed_by == "Alarm"
    assert event.actions == []


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("(" * 5000 + "TRUE" + ")" * 5000, 101),  # issue 18: deep nesting was a 500
        ("NOT " * 2000 + "TRUE", 401),
        (" OR ".join(["TRUE"] * 1200), 806),
    ],
)
def test_a_rule_nested_past_the_bound_is_refused_at_its_position(text: str, position: int) -> None:
    with pytest.raises(rules.RuleError) as refused:
        rules.parse(text)
    assert refused.value.position == position
    assert f"nested deeper than {rules.MAX_DEPTH} levels" in str(refused.value)


def test_rules_up_to_the_bound_parse_and_evaluate() -> None:
    for text in ("(" * 99 + "TRUE" + ")" * 99, " OR ".join(["FALSE"] * 99) + " OR TRUE"):
        tree = rules.parse(text)
        assert rules.evaluate(tree, lambda _: None) is True
        assert rules.to_text(tree).count("TRUE") == 1
