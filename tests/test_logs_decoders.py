"""Pure parts of the Logs pillar: field discovery, trace correlation, the PutLogEvents
decoder's limits, schedule expressions and value formatting."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.ingest.interface import RequestError
from vigil.ingest.logmetrics import emf_metrics
from vigil.model.logfields import flatten, named_trace_id, parse_object, trace_id_of
from vigil.model.logs import LogColumns
from vigil.query.insights.runner import format_value
from vigil.rules.schedule import ScheduleError, due, parse_schedule

NOW = 1_795_600_000_000


def test_flatten_like_insights_discovers_fields() -> None:
    obj = {"a": {"b": 1, "c": [True, {"d": None}, "x"]}, "e": {}, "f": [], "g": 2.5}
    assert flatten(obj) == [
        ("a.b", "1"),
        ("a.c.0", "true"),
        ("a.c.2", "x"),
        ("e", "{}"),
        ("f", "[]"),
        ("g", "2.5"),
    ]
    assert len(flatten({f"k{i}": i for i in range(500)})) == 200
    assert parse_object('  {"a": 1}') == {"a": 1}
    assert parse_object("[1]") is None
    assert parse_object("{bad") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1-5f84c7a3-1bd6d8a1e2c34c2b8e0f1a2b", "5f84c7a31bd6d8a1e2c34c2b8e0f1a2b"),
        ("0AF7651916CD43DD8448EB211C80319C", "0af7651916cd43dd8448eb211c80319c"),
        ("00000000000000000000000000000000", None),
        ("nope", None),
        (12, None),
    ],
)
def test_trace_ids(value: object, expected: str | None) -> None:
    for key in ("trace_id", "traceId", "@xrayTraceId"):
        found = trace_id_of({key: value})
        assert (found.hex() if found else None) == expected
    trace = named_trace_id('{"traceId": "0af7651916cd43dd8448eb211c80319c", "x": 1}')
    assert trace == bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    assert named_trace_id('{"level": "INFO"}') is None
    assert named_trace_id("trace_id=abc but not JSON") is None


def test_put_log_events_rejections_and_fields() -> None:
    day = 86_400_000
    xray = "1-5f84c7a3-1bd6d8a1e2c34c2b8e0f1a2b"
    events = [
        {"timestamp": NOW - 1000, "message": f'{{"level": "ERROR", "trace_id": "{xray}"}}'},
        {"timestamp": NOW + 2 * 3_600_000 + 1, "message": "future"},
        {"timestamp": NOW + 2 * 3_600_000 + 2, "message": "future"},
    ]  # fmt: skip
    result = decode_put_log_events(
        events, tenant="t", group="g", stream="s", now_ms=NOW, retention_days=None
    )
    assert result.rejected_info == {"tooNewLogEventStartIndex": 1}
    old = decode_put_log_events(
        [
            {"timestamp": NOW - 14 * day - 10, "message": "old"},
            {"timestamp": NOW - 14 * day + 10, "message": "ok"},
        ],
        tenant="t", group="g", stream="s", now_ms=NOW, retention_days=None,
    )  # fmt: skip
    assert old.rejected_info == {"tooOldLogEventEndIndex": 0}
    logs = result.decoded.logs
    assert logs is not None
    assert len(logs) == 1
    row = logs.to_arrow().to_pylist()[0]
    assert row["trace_id"].hex() == "5f84c7a31bd6d8a1e2c34c2b8e0f1a2b"
    # Built directly as Arrow: the same row the list-built LogColumns gave.
    expected = LogColumns(
        tenant=["t"], log_group=["g"], log_stream=["s"], timestamp=[(NOW - 1000) * 1_000_000],
        observed_timestamp=[0], severity_number=[0], severity_text=[""],
        body=[str(events[0]["message"])], attributes=[[]], attributes_typed=[[]], resource=[[]],
        resource_typed=[[]], scope_name=[""], scope_version=[""],
        trace_id=[bytes.fromhex("5f84c7a31bd6d8a1e2c34c2b8e0f1a2b")], span_id=[b"\0" * 8],
        flags=[0], service=[""],
    )  # fmt: skip
    assert logs.to_arrow().equals(expected.to_arrow())
    assert result.decoded.rejected.count == 2
    expired = decode_put_log_events(
        [{"timestamp": NOW - 2 * day, "message": "x"}, {"timestamp": NOW, "message": "y"}][:1],
        tenant="t", group="g", stream="s", now_ms=NOW, retention_days=1,
    )  # fmt: skip
    assert expired.rejected_info == {"expiredLogEventEndIndex": 0}


def test_put_log_events_batch_limits() -> None:
    def decode(events: list[dict[str, object]]) -> None:
        decode_put_log_events(
            events, tenant="t", group="g", stream="s", now_ms=NOW, retention_days=None
        )

    decode([{"timestamp": NOW, "message": "é" * ((1_048_576 - 26) // 2)}])
    with pytest.raises(RequestError, match="Upload too large"):
        decode([{"timestamp": NOW, "message": "é" * ((1_048_576 - 26) // 2 + 1)}])
    with pytest.raises(RequestError, match="10000"):
        decode([{"timestamp": NOW, "message": "x"}] * 10_001)
    with pytest.raises(RequestError, match="chronological"):
        decode([{"timestamp": NOW, "message": "x"}, {"timestamp": NOW - 1, "message": "y"}])


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_schedules() -> None:
    hourly = parse_schedule("rate(1 hour)")
    assert not due(hourly, ms("2026-11-24T10:00:00"), ms("2026-11-24T10:59:59"))
    assert due(hourly, ms("2026-11-24T10:00:00"), ms("2026-11-24T11:00:00"))
    top = parse_schedule("cron(0 * * * ? *)")
    assert due(top, ms("2026-11-24T10:59:00"), ms("2026-11-24T11:00:00"))
    assert not due(top, ms("2026-11-24T11:00:00"), ms("2026-11-24T11:59:59"))
    weekdays = parse_schedule("cron(30 9 ? * MON-FRI *)")
    # 2026-11-28 is a Saturday, 2026-11-30 a Monday
    assert not due(weekdays, ms("2026-11-28T00:00:00"), ms("2026-11-29T23:59:00"))
    assert due(weekdays, ms("2026-11-29T23:59:00"), ms("2026-11-30T09:30:00"))
    every15 = parse_schedule("cron(*/15 * * * ? *)")
    assert due(every15, ms("2026-11-24T10:14:00"), ms("2026-11-24T10:15:00"))
    assert not due(every15, ms("2026-11-24T10:15:00"), ms("2026-11-24T10:29:00"))
    for bad in ("rate(0 hours)", "rate(1 fortnight)", "cron(* * *)", "cron(61 * * * ? *)", "x"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_schedule_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(ScheduleError):
        parse_schedule(text)


def test_format_value() -> None:
    assert format_value(2.0, "num") == "2"
    assert format_value(0.1 + 0.2, "num") == "0.3"
    assert format_value(float("nan"), "num") is None
    assert format_value(datetime(2026, 1, 2, 3, 4, 5, 678000), "time") == "2026-01-02 03:04:05.678"
    assert format_value(1, "bool") == "true"
    assert format_value('"quoted"', "json") == "quoted"
    assert format_value("[1,2]", "json") == "[1,2]"


def test_emf_pre_check_never_hides_an_emf_line() -> None:
    emf = orjson.dumps(
        {
            "_aws": {
                "Timestamp": NOW,
                "CloudWatchMetrics": [
                    {"Namespace": "App", "Dimensions": [[]], "Metrics": [{"Name": "Latency"}]}
                ],
            },
            "Latency": 12,
        }
    ).decode()

    def table(bodies: list[str]) -> pa.Table:
        n = len(bodies)
        return pa.table(
            {"tenant": ["t"] * n, "timestamp": pa.array([NOW * 10**6] * n, pa.timestamp("ns")),
             "body": bodies}
        )  # fmt: skip

    assert emf_metrics(table(["plain", '{"level": "INFO"}'])) == {}
    # "_aws" as text but not an EMF object: found by the pre-check, refused by the parse.
    assert emf_metrics(table(['mentions _aws and "_aws"'])) == {}
    points = emf_metrics(table(["plain", emf]))["metrics"].to_pylist()
    assert [(p["namespace"], p["name"], p["value"]) for p in points] == [("App", "Latency", 12.0)]
    # A slice whose buffer holds an EMF line outside it: the exact scan still decides.
    sliced = table([emf, "plain"]).slice(1)
    assert emf_metrics(sliced) == {}
