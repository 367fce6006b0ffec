"""``/api/v1/alarms/{name}`` on an in-process vigil with an injected clock: an alarm made
and edited through the UI's API is the alarm boto3 sees (and the reverse), refused
definitions store nothing, history, and the backtest over data written through boto3.
Evaluation rounds are driven by the test; nothing sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alarm_runtime import Clock, Harness, running

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    data_dir: Path = tmp_path_factory.mktemp("alarm-detail") / "data"
    with running(data_dir, Clock(T0 + 3600)) as harness:
        yield harness


@pytest.fixture
def cw(vigil: Harness) -> Iterator[Any]:
    client = vigil.client()
    yield client
    client.close()


@pytest.fixture
def http(vigil: Harness) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vigil.url, timeout=60) as client:
        yield client


def _definition(ns: str, threshold: float = 80.0) -> dict[str, Any]:
    return {
        "AlarmDescription": "cpu over the line",
        "Namespace": ns,
        "MetricName": "Cpu",
        "Dimensions": [{"Name": "Host", "Value": "a"}],
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }


def _feed(cw: Any, ns: str, values: list[float]) -> None:
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Cpu",
                "Dimensions": [{"Name": "Host", "Value": "a"}],
                "Timestamp": datetime.fromtimestamp(T0 + i * 60 + 5, UTC),
                "Value": v,
            }
            for i, v in enumerate(values)
        ],
    )


def test_an_alarm_made_through_the_ui_api_is_the_alarm_boto3_sees(
    vigil: Harness, cw: Any, http: httpx.Client
) -> None:
    ns, name = f"Ui/{uuid.uuid4().hex[:8]}", f"cpu-{uuid.uuid4().hex[:6]}"
    r = http.put(f"/api/v1/alarms/{name}", json=_definition(ns))
    assert r.status_code == 200, r.text
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["Threshold"] == 80.0
    assert alarm["DatapointsToAlarm"] == 2
    assert alarm["Dimensions"] == [{"Name": "Host", "Value": "a"}]
    got = http.get(f"/api/v1/alarms/{name}").json()
    assert got["kind"] == "MetricAlarm"
    assert got["state"] == "INSUFFICIENT_DATA"
    assert got["definition"]["MetricName"] == "Cpu"
    assert got["definition"]["AlarmArn"].endswith(f":alarm:{name}")
    # editing keeps the name, replaces the definition; history has both
    r = http.put(f"/api/v1/alarms/{name}", json=_definition(ns, threshold=90.0))
    assert r.status_code == 200, r.text
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["Threshold"] == 90.0
    items = http.get(f"/api/v1/alarms/{name}/history").json()["items"]
    assert [i["summary"] for i in items] == [f'Alarm "{name}" updated', f'Alarm "{name}" created']
    assert items[0]["type"] == "ConfigurationUpdate"
    # the list the UI shows has it
    listed = http.get("/api/v1/alarms", params={"name": name}).json()["alarms"]
    assert [a["name"] for a in listed] == [name]
    # a state change shows in its history with the evaluator's reason
    _feed(cw, ns, [95.0, 96.0, 97.0])
    vigil.tick(T0 + 3 * 60)
    got = http.get(f"/api/v1/alarms/{name}").json()
    assert got["state"] == "ALARM"
    states = http.get(f"/api/v1/alarms/{name}/history", params={"type": "StateUpdate"}).json()
    assert states["items"][0]["summary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert states["items"][0]["time_ms"] == (T0 + 180) * 1000
    # graphs of its metric get its state changes as annotations; other metrics do not
    metric = {"namespace": ns, "name": "Cpu", "dimensions": {"Host": "a"}}
    body = {"start": str((T0 - 60) * 1000), "end": str((T0 + 600) * 1000), "metrics": [metric]}
    ann = http.post("/api/v1/alarm-annotations", json=body).json()["alarms"]
    assert [a["name"] for a in ann] == [name]
    assert ann[0]["changes"] == [
        {"time_ms": (T0 + 180) * 1000, "old": "INSUFFICIENT_DATA", "new": "ALARM"}
    ]
    assert ann[0]["threshold"] == 90.0
    other = {**metric, "dimensions": {"Host": "b"}}
    r = http.post("/api/v1/alarm-annotations", json={**body, "metrics": [other]})
    assert r.json()["alarms"] == []
    later = {**body, "start": str((T0 + 300) * 1000)}
    [a] = http.post("/api/v1/alarm-annotations", json=later).json()["alarms"]
    assert a["changes"] == []
    assert a["before"] == "ALARM"
    r = http.post("/api/v1/alarm-annotations", json={**body, "metrics": [{"name": 3}]})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "metrics[0]"
    # the batch form (a dashboard's graphs in one request): per group, the same names the
    # single form answers for that group; each alarm once
    single = {**body, "alarms": [name]}
    groups: list[dict[str, Any]] = [
        {"metrics": [metric]},
        {"metrics": [other]},
        {"alarms": [name]},
        {"metrics": [other], "alarms": ["no-such-alarm"]},
        {},
    ]
    batch = {"start": body["start"], "end": body["end"], "groups": groups}
    got = http.post("/api/v1/alarm-annotations", json=batch).json()
    assert got["groups"] == [[name], [], [name], [], []]
    assert got["alarms"] == http.post("/api/v1/alarm-annotations", json=single).json()["alarms"]
    for group, names in zip(groups, got["groups"], strict=True):
        alone = http.post("/api/v1/alarm-annotations", json={**body, "metrics": [], **group})
        assert [a["name"] for a in alone.json()["alarms"]] == names
    r = http.post("/api/v1/alarm-annotations", json={**batch, "metrics": [metric]})
    assert r.status_code == 400  # groups, or metrics and alarms: not both
    assert r.json()["error"]["field"] == "groups"
    r = http.post("/api/v1/alarm-annotations", json={**batch, "groups": [{}, {"metrics": [3]}]})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "groups[1].metrics[0]"
    r = http.post("/api/v1/alarm-annotations", json={**batch, "groups": [{}] * 501})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "groups"
    r = http.delete(f"/api/v1/alarms/{name}")
    assert r.status_code == 200
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    assert http.get(f"/api/v1/alarms/{name}").status_code == 404


def test_a_refused_definition_stores_nothing(http: httpx.Client, cw: Any) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    bad = _definition("Ui/Bad") | {"Period": 45}
    r = http.put(f"/api/v1/alarms/{name}", json=bad)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationError"
    assert "Period must be 10, 20, 30 or a multiple of 60" in r.json()["error"]["message"]
    wrong_type = _definition("Ui/Bad") | {"Threshold": "high"}
    r = http.put(f"/api/v1/alarms/{name}", json=wrong_type)
    assert r.status_code == 400
    assert "Threshold" in r.json()["error"]["message"]
    r = http.put(f"/api/v1/alarms/{name}", content=b"{not json")
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "body"
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    assert http.get(f"/api/v1/alarms/{name}").status_code == 404
    assert http.get(f"/api/v1/alarms/{name}/backtest").status_code == 404
    assert http.get(f"/api/v1/alarms/{name}/history").status_code == 404


def test_backtest_over_data_written_through_boto3(
    vigil: Harness, cw: Any, http: httpx.Client
) -> None:
    ns, name = f"Ui/{uuid.uuid4().hex[:8]}", f"bt-{uuid.uuid4().hex[:6]}"
    _feed(cw, ns, [10, 20, 30, 90, 10, 95, 96, 20, 10, 10, 10, 10])
    r = http.put(f"/api/v1/alarms/{name}", json=_definition(ns))
    assert r.status_code == 200, r.text
    r = http.get(
        f"/api/v1/alarms/{name}/backtest", params={"start": str(T0), "end": str(T0 + 20 * 60)}
    )
    assert r.status_code == 200, r.text
    bt = r.json()
    assert bt["evaluations"] == 21
    assert bt["step"] == 60
    changes = [((c["time"] - T0) // 60, c["new"]) for c in bt["changes"]]
    # 2 of the newest 3 real points of the five periods before T over 80: at 6m 90 10 95
    # → ALARM; at 9m 96 20 10 → OK; at 17m the five periods before hold no point
    assert changes == [(1, "OK"), (6, "ALARM"), (9, "OK"), (17, "INSUFFICIENT_DATA")]
    assert bt["final"] == "INSUFFICIENT_DATA"
    assert bt["changes"][1]["reason"].startswith("Threshold Crossed: 2 out of the last 3")
    series = bt["series"]
    assert series["period"] == 60
    by_time = dict(zip(series["times"], series["values"], strict=True))
    assert by_time[T0 + 5 * 60] == 95.0
    assert by_time[T0 + 15 * 60] is None
    assert bt["threshold"] == 80.0
    assert bt["comparison"] == "GreaterThanThreshold"
    # the alarm form's preview backtests a definition not saved: the same answer
    rng = {"start": str(T0), "end": str(T0 + 20 * 60)}
    preview = http.post("/api/v1/alarm-backtest", params=rng, json=_definition(ns)).json()
    assert preview["changes"] == bt["changes"]
    r = http.post("/api/v1/alarm-backtest", params=rng, json=_definition(ns) | {"Period": 7})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationError"
    # the default range is the 7 days up to the clock's now
    vigil.clock.set(T0 + 3600)
    whole = http.get(f"/api/v1/alarms/{name}/backtest").json()
    assert whole["end"] == vigil.clock.seconds
    assert whole["end"] - whole["start"] == 7 * 86400
    assert [c["new"] for c in whole["changes"]] == ["OK", "ALARM", "OK", "INSUFFICIENT_DATA"]
    # bad ranges are refused, naming the parameter
    r = http.get(f"/api/v1/alarms/{name}/backtest", params={"start": "now-30d"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "start"
    r = http.get(f"/api/v1/alarms/{name}/backtest", params={"start": str(T0 + 60), "end": str(T0)})
    assert r.status_code == 400


def test_a_composite_alarm_has_no_backtest(cw: Any, http: httpx.Client) -> None:
    child, parent = f"child-{uuid.uuid4().hex[:6]}", f"parent-{uuid.uuid4().hex[:6]}"
    assert http.put(f"/api/v1/alarms/{child}", json=_definition("Ui/C")).status_code == 200
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=f'ALARM("{child}")')
    got = http.get(f"/api/v1/alarms/{parent}").json()
    assert got["kind"] == "CompositeAlarm"
    assert got["definition"]["AlarmRule"] == f'ALARM("{child}")'
    r = http.get(f"/api/v1/alarms/{parent}/backtest")
    assert r.status_code == 400
    assert "composite" in r.json()["error"]["message"]
