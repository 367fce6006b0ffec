"""Grafana's X-Ray data source against vigil: the requests it makes (recorded from its
source in tests/fixtures/grafana/xray.json) replayed as raw signed HTTP against a served
vigil holding traces written with boto3, and the answers checked for what the plugin
reads (pkg/datasource/*.go): groups, trace summaries with their Http member, traces and
trace graphs, the service map (of a group too), per-period statistics and insights."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.grafana_replay import boto3_client, calls, ok, send, server_args
from tests.vigil_process import VigilProcess

CALLS = calls("xray.json")


def _id() -> str:
    return uuid.uuid4().hex[:16]


def _trace(at: float, fault: bool = False, env: str = "prod") -> tuple[str, list[str]]:
    """A request through grafana-frontend → grafana-backend (two segments)."""
    trace_id = f"1-{int(at):08x}-{uuid.uuid4().hex[:24]}"
    call = _id()
    front = {
        "name": "grafana-frontend",
        "id": _id(),
        "trace_id": trace_id,
        "start_time": at,
        "end_time": at + 0.2,
        "origin": "AWS::EC2::Instance",
        "http": {
            "request": {"method": "GET", "url": "http://shop/cart", "client_ip": "10.0.0.7"},
            "response": {"status": 500 if fault else 200},
        },
        "fault": fault,
        "annotations": {"env": env},
        "subsegments": [
            {
                "name": "grafana-backend",
                "id": call,
                "start_time": at + 0.01,
                "end_time": at + 0.15,
                "namespace": "remote",
                "http": {"request": {"method": "GET", "url": "http://backend/items"}},
            }
        ],
    }
    back = {
        "name": "grafana-backend",
        "id": _id(),
        "trace_id": trace_id,
        "parent_id": call,
        "start_time": at + 0.02,
        "end_time": at + 0.14,
        "fault": fault,
    }
    return trace_id, [json.dumps(front), json.dumps(back)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = VigilProcess(tmp_path_factory.mktemp("grafana-xray") / "data", *server_args())
    server.start()
    xray = boto3_client(server, "xray")
    now = time.time()
    ids = []
    docs: list[str] = []
    for i in range(6):
        trace_id, pair = _trace(now - 600 + i * 60, fault=i == 5, env="prod" if i % 2 else "dev")
        ids.append(trace_id)
        docs += pair
    assert xray.put_trace_segments(TraceSegmentDocuments=docs)["UnprocessedTraceSegments"] == []
    group = f"prod-{uuid.uuid4().hex[:6]}"
    xray.create_group(GroupName=group, FilterExpression='annotation.env = "prod"')
    values = {"${START}": int(now - 1800), "${END}": int(now + 60), "${GROUP}": group}
    values["${TRACE_ID}"] = ids[5]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # segments are searchable once the writer commits
        found = ok(send(server, CALLS["trace-list-no-filter"], values))["TraceSummaries"]
        if len(found) == 6:
            break
        time.sleep(0.2)
    yield {"server": server, "values": values, "ids": ids, "group": group, "xray": xray}
    assert server.stop() == 0, server.log_text()[-3000:]


def _call(served: dict[str, Any], name: str) -> Any:
    return ok(send(served["server"], CALLS[name], served["values"]))


def test_the_fixture_names_its_source_and_every_call_has_one() -> None:
    data = json.loads((Path(__file__).parent / "fixtures/grafana/xray.json").read_text())
    assert "grafana/x-ray-datasource" in data["source"]
    assert all(c["from"].startswith("pkg/datasource/") for c in data["calls"])


def test_health_check_and_group_picker(served: dict[str, Any]) -> None:
    for name in ("health-check", "group-picker"):
        groups = _call(served, name)["Groups"]
        names = [g["GroupName"] for g in groups]
        assert names[0] == "Default"
        assert served["group"] in names
        mine = next(g for g in groups if g["GroupName"] == served["group"])
        assert mine["FilterExpression"] == 'annotation.env = "prod"'
        assert mine["GroupARN"].startswith("arn:aws:xray:us-east-1:")
        assert f":group/{served['group']}/" in mine["GroupARN"]
        assert mine["InsightsConfiguration"] == {
            "InsightsEnabled": False,
            "NotificationsEnabled": False,
        }


def test_trace_list_rows(served: dict[str, Any]) -> None:
    """getTraceSummaries.go reads Id, StartTime, Http.HttpMethod/HttpStatus/HttpURL/ClientIp,
    Duration and the annotations of each summary (Http must be present: it is
    dereferenced)."""
    summaries = _call(served, "trace-list")["TraceSummaries"]
    assert {s["Id"] for s in summaries} == set(served["ids"])
    for s in summaries:
        assert isinstance(s["StartTime"], int | float)
        assert s["Duration"] > 0
        assert s["Http"]["HttpMethod"] == "GET"
        assert s["Http"]["HttpURL"] == "http://shop/cart"
        assert s["Http"]["ClientIp"] == "10.0.0.7"
        assert s["Http"]["HttpStatus"] in (200, 500)
        assert "env" in s["Annotations"]
    faulty = next(s for s in summaries if s["Id"] == served["ids"][5])
    assert faulty["HasFault"] is True
    assert faulty["Http"]["HttpStatus"] == 500


def test_trace_analytics_samples_every_trace_at_rate_one(served: dict[str, Any]) -> None:
    summaries = _call(served, "trace-analytics")["TraceSummaries"]
    assert len(summaries) == 6


def test_trace_view(served: dict[str, Any]) -> None:
    traces = _call(served, "trace")["Traces"]
    assert [t["Id"] for t in traces] == [served["ids"][5]]
    names = {json.loads(s["Document"])["name"] for s in traces[0]["Segments"]}
    assert names == {"grafana-frontend", "grafana-backend"}
    services = _call(served, "trace-graph")["Services"]
    edges = {(s.get("Name"), e["ReferenceId"]) for s in services for e in s.get("Edges", [])}
    by_ref = {s["ReferenceId"]: s.get("Name") for s in services}
    assert (
        "grafana-frontend",
        next(r for r, n in by_ref.items() if n == "grafana-backend"),
    ) in edges


def _graph(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Name"]: s for s in answer["Services"] if s.get("Name")}


def test_service_map_of_all_traces_and_of_a_group(served: dict[str, Any]) -> None:
    everything = _graph(_call(served, "service-map"))
    assert everything["grafana-frontend"]["SummaryStatistics"]["TotalCount"] == 6
    assert everything["grafana-backend"]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    prod = _graph(_call(served, "service-map-group"))
    assert prod["grafana-frontend"]["SummaryStatistics"]["TotalCount"] == 3  # env=prod: 1, 3, 5
    assert prod["grafana-frontend"]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1


def test_statistics_per_period(served: dict[str, Any]) -> None:
    """getTimeSeriesServiceStatistics.go appends (Timestamp, a column of
    ServiceSummaryStatistics / EdgeSummaryStatistics) per entry."""
    rows = _call(served, "trace-statistics")["TimeSeriesServiceStatistics"]
    assert sum(r["ServiceSummaryStatistics"]["TotalCount"] for r in rows) == 6
    assert sum(r["ServiceSummaryStatistics"]["FaultStatistics"]["TotalCount"] for r in rows) == 1
    for r in rows:
        assert int(r["Timestamp"]) % 60 == 0
        stats = r["ServiceSummaryStatistics"]
        assert stats["TotalResponseTime"] > 0
        assert stats["OkCount"] + stats["FaultStatistics"]["TotalCount"] == stats["TotalCount"]
        assert r["ResponseTimeHistogram"]


def test_traces_count_sums_the_entry_edges(served: dict[str, Any]) -> None:
    """getAnalytics.go's getTracesCount: the sum of TotalCount over every entry (service
    or edge statistics) is the number of traces."""
    answer = _call(served, "traces-count")
    total = 0
    for row in answer["TimeSeriesServiceStatistics"]:
        stats = row.get("ServiceSummaryStatistics") or row["EdgeSummaryStatistics"]
        total += stats["TotalCount"]
    assert total == 6


def test_insights_answer_empty_and_well_formed(served: dict[str, Any]) -> None:
    assert _call(served, "insights") == {"InsightSummaries": []}
    assert _call(served, "insights-all") == {"InsightSummaries": []}


def test_groups_lifecycle_and_refusals(served: dict[str, Any]) -> None:
    xray = served["xray"]
    name = f"g-{uuid.uuid4().hex[:6]}"
    made = xray.create_group(GroupName=name, FilterExpression='service("grafana-backend")')
    assert made["Group"]["FilterExpression"] == 'service("grafana-backend")'
    got = xray.get_group(GroupARN=made["Group"]["GroupARN"])["Group"]
    assert got == made["Group"]
    changed = xray.update_group(GroupName=name, FilterExpression="fault = true")["Group"]
    assert changed["FilterExpression"] == "fault = true"
    assert changed["GroupARN"] == made["Group"]["GroupARN"]
    refusals: list[Callable[[], Any]] = [
        lambda: xray.create_group(GroupName=name),
        lambda: xray.create_group(GroupName="Default"),
        lambda: xray.create_group(GroupName="bad name!"),
        lambda: xray.create_group(GroupName=f"x{name}", FilterExpression="service(("),
        lambda: xray.create_group(
            GroupName=f"y{name}", InsightsConfiguration={"InsightsEnabled": True}
        ),
        lambda: xray.delete_group(GroupName="Default"),
        lambda: xray.get_group(GroupName="nope"),
        lambda: xray.get_time_series_service_statistics(
            StartTime=time.time() - 60, EndTime=time.time(), EntitySelectorExpression="fault"
        ),
        lambda: xray.get_time_series_service_statistics(
            StartTime=time.time() - 60, EndTime=time.time(), Period=90
        ),
    ]
    for refused in refusals:
        with pytest.raises(xray.exceptions.InvalidRequestException):
            refused()
    xray.delete_group(GroupName=name)
    with pytest.raises(xray.exceptions.InvalidRequestException):
        xray.get_group(GroupName=name)
