"""Sampling rules and reservoir quotas with an injected clock (state in a real SQLite DB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.state.db import open_state
from vigil.state.sampling import DEFAULT_RULE, SamplingError, SamplingRules

S = 10**9


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000 * S

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def rules(tmp_path: Path) -> tuple[SamplingRules, Clock]:
    clock = Clock()
    engine = open_state(str(tmp_path / "state.db"))
    return SamplingRules(engine, clock), clock


def _spec(name: str, reservoir: int = 10) -> dict[str, object]:
    return {"RuleName": name, "Priority": 5, "FixedRate": 0.1, "ReservoirSize": reservoir}


def _report(client: str, requests: int, rule: str = "r") -> dict[str, object]:
    return {"RuleName": rule, "ClientID": client, "RequestCount": requests, "SampledCount": 1}


def test_default_rule_until_replaced(rules: tuple[SamplingRules, Clock]) -> None:
    store, clock = rules
    (default,) = store.rules("t")
    assert (default.name, default.fixed_rate, default.reservoir_size) == (DEFAULT_RULE, 0.05, 1)
    clock.now += 5 * S
    store.update("t", DEFAULT_RULE, {"FixedRate": 0.2})
    (default,) = store.rules("t")
    assert default.fixed_rate == 0.2
    assert default.modified_ms == clock.now // 10**6
    assert store.rules("other")[0].fixed_rate == 0.05
    with pytest.raises(SamplingError):
        store.delete("t", DEFAULT_RULE)
    with pytest.raises(SamplingError):
        store.update("t", DEFAULT_RULE, {"ServiceName": "only-me"})


def test_reservoir_shared_by_demand_and_inactive_clients_drop_out(
    rules: tuple[SamplingRules, Clock],
) -> None:
    store, clock = rules
    store.create("t", _spec("r", reservoir=10))
    active = store.rules("t")

    def quota(client: str, requests: int) -> int:
        targets, _ = store.targets("t", active, [_report(client, requests)])
        return int(targets[0]["ReservoirQuota"])

    assert quota("a", 100) == 10  # alone: the whole reservoir
    assert quota("b", 300) == 7  # 3x a's traffic: 7.5 + 2.5, the tie goes to "a" (id order)
    assert quota("a", 100) == 3  # together they never exceed the reservoir
    clock.now += 31 * S  # b stops reporting: a gets everything back
    assert quota("a", 100) == 10
    assert quota("c", 0) == 0
    (targets, unprocessed) = store.targets("t", active, [_report("a", 5, rule="gone")])
    assert targets == []
    assert unprocessed[0]["RuleName"] == "gone"


def test_idle_clients_share_evenly_and_statistics_cover_a_minute(
    rules: tuple[SamplingRules, Clock],
) -> None:
    store, clock = rules
    store.create("t", _spec("r", reservoir=3))
    active = store.rules("t")
    quotas = [store.targets("t", active, [_report(c, 0)])[0][0]["ReservoirQuota"] for c in "xyz"]
    assert quotas[-1] == 1  # three idle clients: 1 each
    (stats,) = store.statistics("t")
    assert (stats["RequestCount"], stats["SampledCount"]) == (0, 3)
    clock.now += 61 * S
    assert store.statistics("t") == []


def test_rule_checks(rules: tuple[SamplingRules, Clock]) -> None:
    store, _ = rules
    store.create("t", _spec("r"))
    for bad, message in (
        ({**_spec("r")}, "already exists"),
        ({**_spec("p"), "Priority": 0}, "Priority"),
        ({**_spec("f"), "FixedRate": 2.0}, "FixedRate"),
        ({**_spec("v"), "Version": 2}, "Version"),
        ({**_spec(DEFAULT_RULE)}, "Default"),
    ):
        with pytest.raises(SamplingError, match=message):
            store.create("t", bad)
    for i in range(24):
        store.create("t", _spec(f"n{i}"))
    with pytest.raises(SamplingError) as full:
        store.create("t", _spec("one-more"))
    assert full.value.code == "RuleLimitExceededException"
