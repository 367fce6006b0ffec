"""On-call schedules (rotations across daylight saving, overrides, an escalation level
that pages whoever is on call) and silences through /api/v1, on the injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.notify_receivers import HttpReceiver, SmtpReceiver
from tests.notify_stack import Stack
from vigil.notify.oncall import ScheduleError, check, on_call
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifySettings

BERLIN = ZoneInfo("Europe/Berlin")


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


SPEC = {
    "time_zone": "Europe/Berlin",
    "rotations": [
        {
            "members": ["alice@example.com", "bob@example.com", "carol@example.com"],
            "start": "2026-03-23",
            "handoff": "09:00",
            "every": "weekly",
        }
    ],
}


def test_weekly_rotation_hands_off_at_local_time_across_dst() -> None:
    assert on_call(SPEC, _t("2026-03-23T08:59")) is None  # before the first hand-off
    assert on_call(SPEC, _t("2026-03-23T09:00")) == "alice@example.com"
    # summer time starts 2026-03-29: the hand-off stays at 09:00 local
    assert on_call(SPEC, _t("2026-03-30T08:59")) == "alice@example.com"
    assert on_call(SPEC, _t("2026-03-30T09:00")) == "bob@example.com"
    assert on_call(SPEC, _t("2026-04-06T09:00")) == "carol@example.com"
    assert on_call(SPEC, _t("2026-04-13T09:00")) == "alice@example.com"
    daily = {**SPEC, "rotations": [{**SPEC["rotations"][0], "every": "daily"}]}  # type: ignore[dict-item]
    assert on_call(daily, _t("2026-03-24T10:00")) == "bob@example.com"
    override = {
        **SPEC,
        "overrides": [
            {
                "member": "dave@example.com",
                "start": _t("2026-03-31T00:00"),
                "end": _t("2026-04-01T00:00"),
            }
        ],
    }
    assert on_call(override, _t("2026-03-31T12:00")) == "dave@example.com"
    assert on_call(override, _t("2026-04-01T12:00")) == "bob@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        {"rotations": []},
        {"time_zone": "Mars/Base", "rotations": SPEC["rotations"]},
        {"rotations": [{"members": [], "start": "2026-01-01"}]},
        {"rotations": [{"members": ["a@b.c"], "start": "2026-01-01", "every": "hourly"}]},
        {"rotations": [{"members": ["a@b.c"], "start": "yesterday"}]},
        {**SPEC, "overrides": [{"member": "x@y.z", "start": 10, "end": 5}]},
    ],
)
def test_bad_schedules_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        check(bad)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url) as client:
        yield client


@pytest.fixture
def stack(tmp_path: Path, smtp: SmtpReceiver) -> Iterator[Stack]:
    s = Stack(
        tmp_path,
        NotifySettings(
            smtp_url=smtp.url,
            pipeline=Settings(rates={}, flap_threshold=3, flap_window=600.0, repeat_interval=0),
        ),
    )
    s.clock.now = _t("2026-04-01T12:00")  # bob's week
    yield s
    s.close()


def test_escalation_level_pages_who_is_on_call(
    stack: Stack, smtp: SmtpReceiver, api: httpx.Client
) -> None:
    assert api.put("/api/v1/schedules/primary", json=SPEC).status_code == 200
    who = api.get("/api/v1/schedules/primary/oncall", params={"at": _t("2026-04-07T10:00")})
    assert who.json()["on_call"] == "carol@example.com"
    assert api.get("/api/v1/schedules/primary/oncall").json()["on_call"] == "bob@example.com"
    assert api.put("/api/v1/schedules/bad", json={"rotations": []}).status_code == 400
    policy = {"levels": [{"targets": ["oncall:primary"], "delay": 60, "repeat": 1}]}
    assert api.put("/api/v1/escalation-policies/page", json=policy).status_code == 200
    made = api.post("/api/v1/incidents", json={"title": "disk full", "policy": "page"})
    assert made.status_code == 201, made.text
    stack.tick()
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]
    stack.clock.now += 60
    stack.tick()  # the repeat of level 1 goes to whoever is on call then
    assert [m["Subject"] for m in smtp.messages][-1].startswith("[escalated: level 1, repeat 1]")
    assert api.post("/api/v1/incidents", json={"title": "x", "policy": "nope"}).status_code == 400


def test_silences_are_listed_with_reasons(
    stack: Stack, http: HttpReceiver, api: httpx.Client
) -> None:
    sns = stack.sns()
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="webhook", Endpoint=f"{http.url}/hook")
    made = api.post(
        "/api/v1/silences",
        json={
            "matchers": {"alarm": "~db-.*"},
            "starts": stack.clock.now,
            "ends": stack.clock.now + 3600,
        },
    )
    assert made.status_code == 200, made.text
    silence_id = made.json()["id"]
    nightly = api.post(
        "/api/v1/silences",
        json={
            "matchers": {"severity": "info"},
            "cron": "0 2 * * *",
            "duration": 3600,
            "time_zone": "Europe/Berlin",
            "comment": "backups",
        },
    )
    assert nightly.status_code == 200
    bad_silences: list[dict[str, object]] = [
        {"matchers": {}},
        {"matchers": {"a": "~("}},
        {"matchers": {"a": "b"}, "cron": "x", "duration": 5},
    ]
    for bad in bad_silences:
        assert api.post("/api/v1/silences", json=bad).status_code == 400
    assert len(api.get("/api/v1/silences").json()["silences"]) == 2

    # a silenced incident: recorded as held, with the silence named
    api.post("/api/v1/incidents", json={"title": "db slow", "key": "db-main", "targets": [arn]})
    api.post("/api/v1/incidents", json={"title": "web slow", "key": "web", "targets": [arn]})
    stack.tick()
    assert [r.json()["subject"] for r in http.received] == ["web slow"]
    held = api.get("/api/v1/notifications", params={"status": "held"}).json()["notifications"]
    assert [(n["group"], n["reason"]) for n in held] == [("db-main", f"silenced by {silence_id}")]
    assert api.delete(f"/api/v1/silences/{silence_id}").status_code == 200
    assert api.delete(f"/api/v1/silences/{silence_id}").status_code == 404
