"""A burst of ALARM events opens its incidents in one transaction (``_open_batch``): one
incident per alarm, a repeat inside the burst or of an already open incident attaches to
it, every target hears each new incident once, and redelivering the burst changes
nothing. Injected clock; a local webhook receiver."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.notify_receivers import HttpReceiver
from tests.notify_stack import Stack
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifySettings


@dataclass
class Event:
    alarm_name: str
    timestamp_ms: int
    actions: list[str]
    tenant: str = "default"
    region: str = "us-east-1"
    old_state: str = "OK"
    new_state: str = "ALARM"
    reason: str = "Threshold Crossed"

    @property
    def alarm_arn(self) -> str:
        return f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{self.alarm_name}"

    def sns_message(self) -> dict[str, Any]:
        return {"AlarmName": self.alarm_name, "NewStateValue": self.new_state}


def test_burst_opens_each_incident_once(tmp_path: Path) -> None:
    http = HttpReceiver().start()
    stack = Stack(tmp_path, NotifySettings(pipeline=Settings(rates={}, flap_threshold=0)))
    try:
        sns = stack.sns()
        topic = sns.create_topic(Name="ops")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="webhook", Endpoint=f"{http.url}/a")
        sns.subscribe(TopicArn=topic, Protocol="webhook", Endpoint=f"{http.url}/b")
        t = int(stack.clock.now * 1000)

        async def publish(events: list[Event]) -> None:
            for e in events:
                stack.parts.alarms.publish(e)

        stack.run(publish([Event("db", t, [topic])]))
        stack.tick()  # "db" is open before the burst
        burst = [
            Event("api", t + 1000, [topic]),
            Event("web", t + 1000, [topic]),
            Event("db", t + 1000, [topic]),  # repeat of an open incident
            Event("api", t + 2000, [topic]),  # repeat inside the burst
            Event("queue", t + 1000, [topic]),
        ]
        stack.run(publish(burst))
        stack.tick()
        stack.run(publish(burst))  # redelivered (a restart): nothing new
        stack.tick()
        incidents = httpx.get(f"{stack.url}/api/v1/incidents").json()["incidents"]
        titles = Counter(i["title"].split('"')[1] for i in incidents)
        assert titles == {"db": 1, "api": 1, "web": 1, "queue": 1}
        got = Counter((r.path, r.json()["details"]["AlarmName"]) for r in http.received)
        assert got == {
            (path, alarm): 1 for path in ("/a", "/b") for alarm in ("db", "api", "web", "queue")
        }
        db = next(i for i in incidents if '"db"' in i["title"])
        history = httpx.get(f"{stack.url}/api/v1/incidents/{db['id']}").json()["history"]
        assert [h["kind"] for h in history].count("repeat") == 2
    finally:
        stack.close()
        http.stop()
