"""The X-Ray API and daemon with real clients (boto3, botocore, UDP sockets, httpx):
bad input, in-progress segments, sampling rules and targets, OTLP service graph,
trace ↔ logs."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.vigil_process import VigilProcess
from tests.xray_helpers import new_id, new_trace_id, summaries, wait_for, xray_client
from vigil.ingest import xray_daemon, xray_native
from vigil.ingest.xray_daemon import KernelDrops, size_receive_buffer

HEADER = b'{"format": "json", "version": 1}\n'


def _segment(trace_id: str, **fields: Any) -> dict[str, Any]:
    now = time.time()
    doc = {"name": "svc", "id": new_id(), "trace_id": trace_id, "start_time": now - 1}
    doc["end_time"] = now
    doc.update(fields)
    return doc


def test_put_trace_segments_refuses_bad_documents_alone(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    good = _segment(new_trace_id())
    bad = [
        _segment(new_trace_id(), end_time=time.time() - 10),
        _segment("1-abc-123"),
        _segment(new_trace_id(), annotations={"not.valid": 1}),
        {k: v for k, v in _segment(new_trace_id()).items() if k != "end_time"},
        _segment(new_trace_id(), metadata={"default": {"blob": "x" * 70_000}}),
    ]
    answer = xray.put_trace_segments(
        TraceSegmentDocuments=[json.dumps(good), "{not json", *(json.dumps(d) for d in bad)]
    )
    problems = answer["UnprocessedTraceSegments"]
    assert len(problems) == 6
    messages = " | ".join(p["Message"] for p in problems)
    for fragment in (
        "not valid JSON",
        "end_time is before start_time",
        "trace_id must look like",
        "letters, digits",
        "end_time is required",
        "over 65536",
    ):
        assert fragment in messages
    assert {p["Id"] for p in problems} >= {bad[0]["id"], bad[1]["id"]}
    assert all(p["ErrorCode"] == "InvalidSegment" for p in problems)
    ids = [good["trace_id"], bad[0]["trace_id"]]
    traces = wait_for(
        lambda: (
            xray.batch_get_traces(TraceIds=ids)["Traces"] and xray.batch_get_traces(TraceIds=ids)
        ),
        timeout=5,
    ) or xray.batch_get_traces(TraceIds=ids)
    assert [t["Id"] for t in traces["Traces"]] == [good["trace_id"]]
    assert traces["UnprocessedTraceIds"] == [bad[0]["trace_id"]]


def test_unknown_and_malformed_trace_ids(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    unknown, malformed = new_trace_id(), "not-a-trace-id"
    answer = xray.batch_get_traces(TraceIds=[unknown, malformed])
    assert answer["Traces"] == []
    assert sorted(answer["UnprocessedTraceIds"]) == sorted([unknown, malformed])
    assert xray.get_trace_graph(TraceIds=[unknown])["Services"] == []
    with vigil.client() as http:
        missing = http.get(f"/api/v1/traces/{unknown}")
        assert missing.status_code == 404
        assert http.get("/api/v1/traces/xyz").json()["error"]["field"] == "trace_id"


def test_malformed_filter_expression_names_the_position(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    now = time.time()
    with pytest.raises(ClientError) as caught:
        xray.get_trace_summaries(
            StartTime=now - 60, EndTime=now, FilterExpression='service("a") AND duration >'
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidRequestException"
    assert "position 27" in error["Message"]
    with vigil.client() as http:
        answer = http.get("/api/v1/traces", params={"filter": "http.status = 'x'"})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "filter"
    assert "position 14" in answer.json()["error"]["message"]


def test_in_progress_segment_is_partial_until_completed(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    trace_id, span_id = new_trace_id(), new_id()
    start = time.time() - 2
    run = uuid.uuid4().hex[:10]
    begun = {
        "name": "job",
        "id": span_id,
        "trace_id": trace_id,
        "start_time": start,
        "in_progress": True,
        "annotations": {"run": run},
    }
    assert (
        xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(begun)])[
            "UnprocessedTraceSegments"
        ]
        == []
    )
    window = (start - 5, time.time() + 5)
    (partial,) = summaries(xray, 'service("job") AND partial', *window) and [
        s for s in summaries(xray, "partial", *window) if s["Id"] == trace_id
    ]
    assert partial["IsPartial"] is True
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    assert json.loads(trace["Segments"][0]["Document"])["in_progress"] is True

    done = dict(begun, in_progress=False, end_time=time.time())
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(done)])
    found = summaries(xray, f'annotation.run = "{run}"', *window)
    assert [(s["Id"], s["IsPartial"]) for s in found] == [(trace_id, False)]
    assert trace_id not in {s["Id"] for s in summaries(xray, "partial", *window)}
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    (segment,) = trace["Segments"]
    assert json.loads(segment["Document"])["in_progress"] is False


def _metric(vigil: VigilProcess, outcome: str) -> float:
    with vigil.client() as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith(f'vigil_xray_datagrams_total{{outcome="{outcome}"}}'):
                return float(line.split()[-1])
    return 0.0


def test_daemon_drops_and_counts_bad_datagrams_and_keeps_listening(vigil: VigilProcess) -> None:
    xray = xray_client(vigil)
    address = vigil.xray_address
    malformed, rejected = _metric(vigil, "malformed"), _metric(vigil, "rejected")
    big_trace, small_trace = new_trace_id(), new_trace_id()
    big = _segment(big_trace, metadata={"default": {"blob": ""}})
    room = 65_000 - len(HEADER) - len(json.dumps(big))
    big["metadata"]["default"]["blob"] = "x" * room
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"\x00\xff garbage", address)
        udp.sendto(b'{"format": "json"', address)
        udp.sendto(HEADER + b'{"name": "broken", "id": ', address)
        udp.sendto(HEADER + json.dumps(_segment(new_trace_id(), end_time=1.0)).encode(), address)
        udp.sendto(b"y" * 65_507, address)
        udp.sendto(HEADER + json.dumps(big).encode(), address)
        udp.sendto(HEADER + json.dumps(_segment(small_trace)).encode(), address)

    def stored() -> list[str]:
        return [t["Id"] for t in xray.batch_get_traces(TraceIds=[big_trace, small_trace])["Traces"]]

    assert sorted(wait_for(lambda: len(stored()) == 2 and stored())) == sorted(
        [big_trace, small_trace]
    )
    (trace,) = xray.batch_get_traces(TraceIds=[big_trace])["Traces"]
    assert len(json.loads(trace["Segments"][0]["Document"])["metadata"]["default"]["blob"]) == room
    assert _metric(vigil, "malformed") - malformed == 3
    assert _metric(vigil, "rejected") - rejected == 2


def test_sampling_rules_and_targets(vigil: VigilProcess) -> None:
    tenant = f"sampling-{uuid.uuid4().hex[:6]}"
    xray = xray_client(vigil, tenant)
    rule = {
        "RuleName": "checkout",
        "Priority": 10,
        "FixedRate": 0.2,
        "ReservoirSize": 4,
        "ServiceName": "shop",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "POST",
        "URLPath": "/checkout*",
        "ResourceARN": "*",
        "Version": 1,
    }
    created = xray.create_sampling_rule(SamplingRule=rule)["SamplingRuleRecord"]["SamplingRule"]
    assert created["RuleARN"].endswith(":sampling-rule/checkout")
    with pytest.raises(ClientError) as dup:
        xray.create_sampling_rule(SamplingRule=rule)
    assert dup.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as bad_rate:
        xray.create_sampling_rule(SamplingRule=dict(rule, RuleName="x", FixedRate=1.5))
    assert "at 'samplingRule.fixedRate'" in bad_rate.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as default:
        xray.delete_sampling_rule(RuleName="Default")
    assert default.value.response["Error"]["Code"] == "InvalidRequestException"
    xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "FixedRate": 0.5})
    rules = {
        r["SamplingRule"]["RuleName"]: r["SamplingRule"]
        for r in xray.get_sampling_rules()["SamplingRuleRecords"]
    }
    assert list(rules) == ["checkout", "Default"]
    assert rules["Default"]["FixedRate"] == 0.5

    # What SDKs do: ask the daemon port (TCP) for targets. Two clients, one three times
    # busier than the other, share the reservoir of 4 as 3 + 1.
    host, port = vigil.xray_address
    daemon = boto3.client(
        "xray",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    now = time.time()

    def report(client: str, requests: int) -> dict[str, Any]:
        doc = {
            "RuleName": "checkout",
            "ClientID": client,
            "Timestamp": now,
            "RequestCount": requests,
            "SampledCount": requests // 5,
            "BorrowCount": 1,
        }
        answer: dict[str, Any] = xray.get_sampling_targets(SamplingStatisticsDocuments=[doc])
        return answer

    report("a" * 24, 300)
    answer = report("b" * 24, 100)
    (target,) = answer["SamplingTargetDocuments"]
    assert target["FixedRate"] == 0.2
    assert target["Interval"] == 10
    assert target["ReservoirQuota"] == 1
    assert report("a" * 24, 300)["SamplingTargetDocuments"][0]["ReservoirQuota"] == 3
    unknown = xray.get_sampling_targets(
        SamplingStatisticsDocuments=[
            {
                "RuleName": "nope",
                "ClientID": "c" * 24,
                "Timestamp": now,
                "RequestCount": 1,
                "SampledCount": 0,
            }
        ]
    )
    assert unknown["UnprocessedStatistics"][0]["RuleName"] == "nope"
    (stats,) = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    assert (stats["RuleName"], stats["RequestCount"], stats["SampledCount"]) == (
        "checkout",
        700,
        140,
    )
    # The daemon port answers the default tenant's rules, and nothing but sampling.
    assert "Default" in {
        r["SamplingRule"]["RuleName"] for r in daemon.get_sampling_rules()["SamplingRuleRecords"]
    }
    with pytest.raises(ClientError) as refused:
        daemon.get_service_graph(StartTime=now - 60, EndTime=now)
    assert refused.value.response["Error"]["Code"] == "UnknownOperationException"
    assert xray.delete_sampling_rule(RuleName="checkout")["SamplingRuleRecord"]
    assert [
        r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]
    ] == ["Default"]


def _otlp(service: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }


def _span(
    trace: str,
    span: str,
    name: str,
    kind: int,
    start: float,
    end: float,
    parent: str = "",
    status: int = 0,
    **attrs: object,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(int(start * 1e9)),
        "endTimeUnixNano": str(int(end * 1e9)),
        "status": {"code": status},
        "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in attrs.items()],
    }
    if parent:
        out["parentSpanId"] = parent
    return out


def test_otlp_service_graph_and_trace_logs(vigil: VigilProcess) -> None:
    tenant = f"graph-{uuid.uuid4().hex[:6]}"
    xray = xray_client(vigil, tenant)
    headers = {"X-Vigil-Tenant": tenant}
    now = time.time()
    traces = []
    for i in range(4):
        trace = uuid.uuid4().hex
        traces.append(trace)
        root, call, server, db = (uuid.uuid4().hex[:16] for _ in range(4))
        fail = i == 0
        httpx.post(
            f"{vigil.otlp_http_url}/v1/traces",
            headers=headers,
            timeout=30,
            json=_otlp(
                "gateway",
                [
                    _span(
                        trace,
                        root,
                        "GET /buy",
                        2,
                        now - 5,
                        now - 4,
                        **{"http.response.status_code": 502 if fail else 200},  # type: ignore[arg-type]
                    ),
                    _span(
                        trace,
                        call,
                        "POST",
                        3,
                        now - 4.9,
                        now - 4.1,
                        root,
                        **{"server.address": "inventory"},  # type: ignore[arg-type]
                    ),
                ],
            ),
        ).raise_for_status()
        httpx.post(
            f"{vigil.otlp_http_url}/v1/traces",
            headers=headers,
            timeout=30,
            json=_otlp(
                "inventory",
                [
                    _span(
                        trace,
                        server,
                        "POST /reserve",
                        2,
                        now - 4.8,
                        now - 4.2,
                        call,
                        status=2 if fail else 0,
                    ),
                    _span(
                        trace,
                        db,
                        "UPDATE",
                        3,
                        now - 4.7,
                        now - 4.3,
                        server,
                        **{"db.system": "postgresql", "db.name": "stock"},  # type: ignore[arg-type]
                    ),
                ],
            ),
        ).raise_for_status()
    logs = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "inventory"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(int((now - 4.5) * 1e9)),
                                "body": {"stringValue": f"reserving {n}"},
                                "traceId": traces[0],
                                "spanId": "00000000000000aa",
                            }
                            for n in range(3)
                        ]
                        + [
                            {
                                "timeUnixNano": str(int((now - 4.5) * 1e9)),
                                "body": {"stringValue": "unrelated"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    httpx.post(
        f"{vigil.otlp_http_url}/v1/logs", headers=headers, json=logs, timeout=30
    ).raise_for_status()

    graph = xray.get_service_graph(StartTime=now - 60, EndTime=now + 5)["Services"]
    names = {s["ReferenceId"]: s.get("Name", s["Type"]) for s in graph}
    edges = {
        (names[s["ReferenceId"]], names[e["ReferenceId"]]): e["SummaryStatistics"]
        for s in graph
        for e in s["Edges"]
    }
    assert set(edges) == {("client", "gateway"), ("gateway", "inventory"), ("inventory", "stock")}
    (client,) = [s for s in graph if s["Type"] == "client"]
    assert client["Names"] == []
    assert "Name" not in client
    # Every request that entered the root service came from the client.
    assert edges[("client", "gateway")]["TotalCount"] == len(traces)
    assert edges[("gateway", "inventory")]["TotalCount"] == 4
    assert edges[("gateway", "inventory")]["FaultStatistics"]["TotalCount"] == 1
    # Every request of an edge and of a node falls in one bucket of its histogram.
    for service in graph:
        assert sum(b["Count"] for b in service.get("ResponseTimeHistogram", [])) == (
            service["SummaryStatistics"]["TotalCount"] if "SummaryStatistics" in service else 0
        )
        for e in service["Edges"]:
            assert (
                sum(b["Count"] for b in e["ResponseTimeHistogram"])
                == (e["SummaryStatistics"]["TotalCount"])
            )
    assert {names[s["ReferenceId"]]: s["Type"] for s in graph}["stock"] == "Database::postgresql"
    gateway = next(s for s in graph if s.get("Name") == "gateway")
    assert gateway["Root"] is True
    assert gateway["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1

    with httpx.Client(base_url=vigil.url, headers=headers, timeout=30) as http:
        service_map = http.get("/api/v1/service-map", params={"start": "now-5m"}).json()
        edge = next(e for e in service_map["edges"] if e["source"] == "gateway|")
        assert (edge["target"], edge["requests"], edge["faults"]) == ("inventory|", 4, 1)
        assert edge["p50_ms"] is not None
        assert edge["histogram"]
        one = http.get(f"/api/v1/traces/{traces[0]}").json()
        assert one["log_count"] == 3
        assert sorted(entry["body"] for entry in one["logs"]) == [
            f"reserving {n}" for n in range(3)
        ]
        listed = http.get("/api/v1/traces", params={"service": "gateway", "start": "now-5m"}).json()
        assert {t["trace_id"]: t["log_count"] for t in listed["traces"]}[traces[0]] == 3
        found = http.get("/api/v1/traces", params={"filter": "fault", "start": "now-5m"}).json()
        assert [(t["trace_id"], t["log_count"]) for t in found["traces"]] == [(traces[0], 3)]
        just_logs = http.get(f"/api/v1/traces/1-{traces[0][:8]}-{traces[0][8:]}/logs").json()
        assert just_logs["log_count"] == 3


def test_sampled_summaries_and_pages(vigil: VigilProcess) -> None:
    """Sampling keeps a stable subset chosen by trace id; pages of a filtered search (two
    passes: ids, then summaries) add up to the whole result, each trace once."""
    tenant = f"sampled-{uuid.uuid4().hex[:8]}"
    xray = xray_client(vigil, tenant)
    service = tenant
    docs = [json.dumps(_segment(new_trace_id(), name=service)) for _ in range(60)]
    assert not xray.put_trace_segments(TraceSegmentDocuments=docs)["UnprocessedTraceSegments"]
    start, end = time.time() - 120, time.time() + 5
    expr = f'service("{service}")'
    everything = {s["Id"] for s in summaries(xray, expr, start, end)}
    assert len(everything) == 60
    # Without a filter (ids first, then their summaries): the same traces, newest first.
    page = xray.get_trace_summaries(StartTime=start, EndTime=end)["TraceSummaries"]
    assert {s["Id"] for s in page} == everything
    assert [s["StartTime"] for s in page] == sorted((s["StartTime"] for s in page), reverse=True)
    assert all(s["EntryPoint"]["Name"] == service for s in page)

    def sampled(**strategy: Any) -> set[str]:
        extra: dict[str, Any] = {"SamplingStrategy": strategy} if strategy else {}
        page = xray.get_trace_summaries(
            StartTime=start, EndTime=end, FilterExpression=expr, Sampling=True, **extra
        )
        return {s["Id"] for s in page["TraceSummaries"]}

    half = sampled(Name="FixedRate", Value=0.5)
    assert 0 < len(half) < 60
    assert half <= everything
    assert sampled(Name="FixedRate", Value=0.5) == half
    assert sampled(Name="FixedRate", Value=0.25) <= half
    # Far fewer traces in the window than a partial scan looks at: all of them.
    assert sampled() == everything
    for bad in ({"Name": "FixedRate", "Value": 0.0}, {"Name": "PartialScan", "Value": 0.5}):
        with pytest.raises(ClientError) as err:
            sampled(**bad)
        assert err.value.response["Error"]["Code"] == "InvalidRequestException"

    seen: list[str] = []
    cursor = None
    headers = {"X-Vigil-Tenant": tenant}
    with httpx.Client(base_url=vigil.url, timeout=30, headers=headers) as http:
        while True:
            params = {"filter": expr, "start": str(start), "end": str(end), "limit": "7"}
            page = http.get(
                "/api/v1/traces", params={**params, **({"cursor": cursor} if cursor else {})}
            ).json()
            seen += [t["Id"] for t in page["traces"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == 60
    assert set(seen) == everything


def test_daemon_reports_its_receive_buffer_and_kernel_drops(vigil: VigilProcess) -> None:
    with vigil.client() as http:
        text = http.get("/metrics").text
    sizes = [line for line in text.splitlines() if line.startswith("vigil_xray_receive_buffer")]
    assert sizes
    assert float(sizes[0].split()[-1]) > 0
    assert "vigil_xray_kernel_dropped_datagrams_total" in text


def test_kernel_drops_are_read_for_the_socket(caplog: pytest.LogCaptureFixture) -> None:
    """A socket nobody reads, with a small buffer: what the kernel drops is counted, and
    warned about once with the fix; a small buffer alone is no warning (issue 16)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with caplog.at_level("INFO", logger="vigil.ingest.xray_daemon"):
            size_receive_buffer(sink, 1 << 30)  # more than any rmem_max allows
            drops = KernelDrops(sink)
            assert drops.drops() == 0
            drops.check()
            assert not [r for r in caplog.records if r.levelname == "WARNING"]
            size_receive_buffer(sink, 4096)
            drops = KernelDrops(sink)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(200):
                    udp.sendto(b"x" * 1000, sink.getsockname())
            assert (drops.drops() or 0) > 0
            drops.check()
            drops.check()
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1
        assert "sysctl -w net.core.rmem_max=16777216" in warnings[0]


@pytest.mark.parametrize("native", [True, False])
def test_receivers_split_headers_alike(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batched native receiver and the plain one give the daemon the same documents."""
    if not native:
        monkeypatch.setattr("vigil.ingest.xray_daemon.NativeReceiver", None)
    elif xray_native.NativeReceiver is None:
        pytest.skip("native receiver not built")
    sent = [
        HEADER + b'{"a": 1}',
        b'{"format":"json","version":1}\n{"b": 2}',
        b'{ "version": 1, "format": "json" }\n{"c": 3}',
        b"no header",
        b'{"format": "xml"}\n{"d": 4}',
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        receive = xray_daemon._receiver(sink)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for datagram in sent:
                udp.sendto(datagram, sink.getsockname())
        docs: list[bytes] = []
        others: list[bytes] = []
        deadline = time.monotonic() + 5
        while len(docs) + len(others) < len(sent) and time.monotonic() < deadline:
            bodies, rest = receive(100)
            docs += bodies
            others += rest
    valid = [
        body for body in (d.partition(b"\n") for d in others) if xray_daemon._valid_header(body[0])
    ]
    assert sorted(docs + [body[2] for body in valid]) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']
    assert len(docs) + len(others) == len(sent)
