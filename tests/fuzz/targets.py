"""One generator of hostile requests per protocol (``PROTOCOLS``)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
import cbor2
from botocore.model import OperationModel, ServiceModel
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from tests.fuzz.languages import hostile_text
from tests.fuzz.oracle import Canary, Probe
from tests.fuzz.values import (
    HOSTILE_NUMBERS,
    HOSTILE_STRINGS,
    ShapeWalker,
    dump_json,
    form_body,
    hostile_scalar,
    mutate_bytes,
    mutate_json,
    nested,
    query_pairs,
)
from tests.otlp_payloads import gauge_request, kv, log, logs_request, span, spans_request

# The operations vigil answers (the rest are refused by name, which costs nothing to test).
LOGS_OPS = [
    "CreateLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "TagResource",
    "ListTagsForResource",
    "CreateLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "GetLogRecord",
    "GetLogGroupFields",
    "PutMetricFilter",
    "DescribeMetricFilters",
    "TestMetricFilter",
    "StartQuery",
    "GetQueryResults",
    "StopQuery",
    "DescribeQueries",
    "PutQueryDefinition",
    "DescribeQueryDefinitions",
    "CreateScheduledQuery",
    "GetScheduledQuery",
    "ListScheduledQueries",
]
CW_OPS = [
    "PutMetricData",
    "GetMetricData",
    "GetMetricStatistics",
    "ListMetrics",
    "TagResource",
    "ListTagsForResource",
]
XRAY_OPS = [
    "PutTraceSegments",
    "GetTraceSummaries",
    "BatchGetTraces",
    "GetTraceGraph",
    "GetServiceGraph",
    "GetSamplingRules",
    "GetSamplingTargets",
    "CreateSamplingRule",
    "UpdateSamplingRule",
    "GetSamplingStatisticSummaries",
]


@dataclass(frozen=True, slots=True)
class Context:
    canary: Canary
    rate: float = 0.25  # how often a member is replaced by a hostile value

    def names(self) -> dict[str, str]:
        # Writes go to a playground, never to the canary's group or namespace (which only
        # the language probes read): the canary proves nothing else changed them.
        return {
            "logGroupName": self.canary.playground,
            "logGroupIdentifier": self.canary.playground,
            "logStreamName": "s",
            "Namespace": "Fuzz/Playground",
            "MetricName": "C",
            "Id": "m1",
            "Stat": "Sum",
            "queryString": "fields @message | limit 5",
            "filterPattern": "canary",
        }


@cache
def model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def _walker(rng: random.Random, ctx: Context) -> ShapeWalker:
    # Mostly-valid inputs reach the handlers' own code; mostly-broken ones the front door.
    return ShapeWalker(rng, rng.choice([0.0, 0.02, 0.1, ctx.rate]), ctx.names())


def _input(rng: random.Random, ctx: Context, op: OperationModel) -> dict[str, Any]:
    if op.input_shape is None:
        return {}
    value = _walker(rng, ctx).value(op.input_shape)
    return value if isinstance(value, dict) else {"__body": value}


def _json_body(rng: random.Random, doc: Any) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return rng.randbytes(rng.randint(0, 64))
    if roll < 0.1:
        return dump_json(rng, nested(rng, rng.choice([1000, 5000])))
    body = dump_json(rng, doc.get("__body", doc) if isinstance(doc, dict) else doc)
    return mutate_bytes(rng, body, 1) if roll < 0.2 else body


# --- AWS protocols -----------------------------------------------------------------------


def logs_json(rng: random.Random, ctx: Context) -> Probe:
    op = model("logs").operation_model(rng.choice(LOGS_OPS))
    return _aws_json("logs-json", "Logs_20140328", "1.1", op, rng, ctx)


@cache
def served(service: str) -> list[str]:
    """Every operation vigil answers for a botocore model (its operation tables, through
    the support matrix's reader): alarms, anomaly detectors, dashboards, SNS — and what
    lands later — are fuzzed without a list to keep."""
    from vigil.api.aws.support import served_operations

    return sorted(served_operations()[service])


def _cloudwatch_op(rng: random.Random) -> OperationModel:
    # Half the draws on the data plane's operations, half over everything served.
    ops = CW_OPS if rng.random() < 0.5 else served("cloudwatch")
    return model("cloudwatch").operation_model(rng.choice(ops))


def cloudwatch_json(rng: random.Random, ctx: Context) -> Probe:
    op = _cloudwatch_op(rng)
    return _aws_json("cloudwatch-json", "GraniteServiceVersion20100801", "1.0", op, rng, ctx)


def _aws_json(
    protocol: str, prefix: str, version: str, op: OperationModel, rng: random.Random, ctx: Context
) -> Probe:
    doc = _input(rng, ctx, op)
    return Probe(
        protocol,
        "POST",
        "/",
        "aws-json",
        _json_body(rng, doc),
        {
            "X-Amz-Target": f"{prefix}.{op.name}",
            "Content-Type": f"application/x-amz-json-{version}",
        },
    )


def cloudwatch_cbor(rng: random.Random, ctx: Context) -> Probe:
    """Smithy RPC v2 CBOR (issue 17): the model-drawn input as CBOR (times as tag 1 at
    random), or deep nesting, random and mutated bytes."""
    op = _cloudwatch_op(rng)
    doc = _input(rng, ctx, op)
    roll = rng.random()
    if roll < 0.05:
        body = rng.randbytes(rng.randint(0, 64))
    elif roll < 0.1:
        depth = rng.choice([1000, 5000, 100_000])
        body = (b"\x81" if rng.random() < 0.5 else b"\xa1\x61a") * depth + b"\x01"
    else:
        body = _cbor_body(rng, doc)
        if roll < 0.2:
            body = mutate_bytes(rng, body, 1)
    return Probe(
        "cloudwatch-cbor",
        "POST",
        f"/service/GraniteServiceVersion20100801/operation/{op.name}",
        "aws-cbor",
        body,
        {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"},
    )


def _cbor_body(rng: random.Random, doc: Any) -> bytes:
    def convert(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: convert(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if key.endswith(("Time", "Timestamp")) and rng.random() < 0.7:
            return cbor2.CBORTag(1, value)
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return value.encode("utf-8", "surrogatepass")  # not text: a byte string
        return value

    try:
        return bytes(cbor2.dumps(convert(doc), default=lambda enc, v: enc.encode(str(v))))
    except Exception:  # a value cbor2 will not write: random bytes instead
        return rng.randbytes(rng.randint(1, 64))


def cloudwatch_query(rng: random.Random, ctx: Context) -> Probe:
    return _aws_query("cloudwatch-query", _cloudwatch_op(rng), "2010-08-01", rng, ctx)


def sns_query(rng: random.Random, ctx: Context) -> Probe:
    op = model("sns").operation_model(rng.choice(served("sns")))
    return _aws_query("sns-query", op, "2010-03-31", rng, ctx)


def _aws_query(
    protocol: str, op: OperationModel, version: str, rng: random.Random, ctx: Context
) -> Probe:
    doc = _input(rng, ctx, op)
    pairs = query_pairs(op.input_shape, doc) if op.input_shape is not None else []
    pairs = [("Action", op.name), ("Version", version), *pairs]
    if rng.random() < 0.1:  # a member of a shape it cannot have (item 12)
        pairs.append(
            (
                rng.choice(
                    [
                        "EntityMetricData.member.1.Entity.Attributes",
                        "MetricData.member.1",
                        "Dimensions.member.1.Name.x",
                    ]
                ),
                "true",
            )
        )
    if rng.random() < 0.05:
        pairs = [p for p in pairs if p[0] not in ("Action", "Version")]
    body = form_body(rng, pairs)
    if rng.random() < 0.3:  # the same form as a GET
        return Probe(protocol, "GET", "/", "aws-query", params=[(k, v[:4000]) for k, v in pairs])
    return Probe(
        protocol,
        "POST",
        "/",
        "aws-query",
        body,
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


def xray_rest(rng: random.Random, ctx: Context) -> Probe:
    op = model("xray").operation_model(rng.choice(XRAY_OPS))
    doc = _input(rng, ctx, op)
    http = op.http
    return Probe(
        "xray-rest",
        http["method"],
        http["requestUri"].split("?")[0],
        "rest-json",
        _json_body(rng, doc),
        {"Content-Type": "application/json"},
    )


# --- OTLP --------------------------------------------------------------------------------


def _otlp_seed(rng: random.Random) -> tuple[str, Message]:
    now = time.time_ns()
    kind = rng.choice(["traces", "metrics", "logs"])
    if kind == "traces":
        spans = [span(os.urandom(16), os.urandom(8), "op", now) for _ in range(rng.randint(1, 3))]
        return kind, spans_request("fuzz", spans)
    if kind == "metrics":
        return kind, gauge_request("fuzz", "fuzz.gauge", [(now, 1.0), (now + 1, 2.0)])
    records = [log("hello", now, k="v", n=1), log("world", now)]
    return kind, logs_request("fuzz", records)


def otlp_protobuf(rng: random.Random, _: Context) -> Probe:
    kind, message = _otlp_seed(rng)
    if rng.random() < 0.1:  # values out of range, well encoded
        message = _extreme_message(rng, kind, message)
    body = message.SerializeToString()
    if rng.random() < 0.85:
        body = mutate_bytes(rng, body, rng.randint(1, 6))
    return Probe(
        "otlp-protobuf",
        "POST",
        f"/v1/{kind}",
        "otlp",
        body,
        {"Content-Type": "application/x-protobuf"},
        server="otlp",
    )


def _extreme_message(rng: random.Random, kind: str, message: Message) -> Message:
    big = rng.choice([0, 1, 2**63, 2**64 - 1, 10**19])
    if kind == "traces":
        sp = message.resource_spans[0].scope_spans[0].spans[0]  # type: ignore[attr-defined]
        sp.start_time_unix_nano, sp.end_time_unix_nano = big, rng.choice([0, 2**64 - 1])
        sp.attributes.append(kv("k" * rng.choice([1, 10000]), "v" * rng.choice([1, 100000])))
    elif kind == "logs":
        rec = message.resource_logs[0].scope_logs[0].log_records[0]  # type: ignore[attr-defined]
        rec.time_unix_nano = big
        rec.severity_number = rng.choice([0, 24, 25, 2**31 - 1])
    else:
        point = message.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]  # type: ignore[attr-defined]
        point.time_unix_nano = big
        point.as_double = rng.choice([float("nan"), float("inf"), -1e308])
    return message


def otlp_json(rng: random.Random, _: Context) -> Probe:
    kind, message = _otlp_seed(rng)
    doc = MessageToDict(message)
    if rng.random() < 0.9:
        doc = mutate_json(rng, doc, rng.randint(1, 4))
    return Probe(
        "otlp-json",
        "POST",
        f"/v1/{kind}",
        "otlp",
        _json_body(rng, doc),
        {"Content-Type": "application/json"},
        server="otlp",
    )


# --- vigil's own reads -------------------------------------------------------------------

V1_READS: list[tuple[str, list[str]]] = [
    (
        "/api/v1/logs",
        [
            "group",
            "stream",
            "start",
            "end",
            "q",
            "regex",
            "severity",
            "min_severity",
            "attr",
            "trace_id",
            "limit",
        ],
    ),
    ("/api/v1/logs/groups", ["prefix", "limit"]),
    ("/api/v1/metrics/series", ["namespace", "name", "dimension", "prefix", "limit", "unit"]),
    (
        "/api/v1/metrics/datapoints",
        ["namespace", "name", "statistic", "period", "start", "end", "dimension", "unit"],
    ),
    ("/api/v1/metrics/functions", []),
    (
        "/api/v1/traces",
        [
            "service",
            "name",
            "start",
            "end",
            "filter",
            "min_duration_ms",
            "max_duration_ms",
            "error",
            "limit",
        ],
    ),
    ("/api/v1/traces/0123456789abcdef0123456789abcdef", ["logs", "log_limit"]),
    ("/api/v1/service-map", ["start", "end"]),
    ("/api/v1/logs/tail", ["group", "filter", "limit"]),
]


def v1_reads(rng: random.Random, ctx: Context) -> Probe:
    if rng.random() < 0.2:
        return _v1_metrics_query(rng, ctx)
    path, names = rng.choice(V1_READS)
    params: list[tuple[str, str]] = []
    for name in names:
        if rng.random() < 0.5:
            value = hostile_scalar(rng) if rng.random() < 0.6 else _plausible(name, ctx)
            params.append((name, str(value)[:5000]))
    return Probe("v1", "GET", path, "v1", params=params)


def _plausible(name: str, ctx: Context) -> str:
    return {
        "group": ctx.canary.group,
        "namespace": ctx.canary.namespace,
        "name": "C",
        "statistic": "Sum",
        "period": "60",
        "start": "now-1h",
        "end": "now",
        "dimension": "a=b",
        "attr": "k=v",
        "limit": "5",
    }.get(name, "x")


def _v1_metrics_query(rng: random.Random, ctx: Context) -> Probe:
    doc: Any = {
        "start": "now-1h",
        "end": "now",
        "queries": [
            {
                "id": "m1",
                "namespace": ctx.canary.namespace,
                "name": "C",
                "stat": "Sum",
                "period": 60,
            },
            {"id": "e1", "expression": hostile_text(rng, "metric-math")},
        ],
    }
    doc = mutate_json(rng, doc, rng.randint(0, 3))
    return Probe(
        "v1",
        "POST",
        "/api/v1/metrics/query",
        "v1",
        _json_body(rng, doc),
        {"Content-Type": "application/json"},
    )


# --- the languages -----------------------------------------------------------------------


def insights(rng: random.Random, ctx: Context) -> Probe:
    now = int(time.time())
    doc = {
        "logGroupName": ctx.canary.group,
        "startTime": now - 3600,
        "endTime": now + 60,
        "queryString": hostile_text(rng, "insights"),
    }
    return Probe(
        "insights",
        "POST",
        "/",
        "aws-json",
        dump_json(rng, doc),
        _target("Logs_20140328.StartQuery", "1.1"),
        follow="insights",
    )


def metric_math(rng: random.Random, ctx: Context) -> Probe:
    now = time.time()
    doc = {
        "StartTime": now - 3600,
        "EndTime": now,
        "MetricDataQueries": [
            {
                "Id": "m1",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {"Namespace": ctx.canary.namespace, "MetricName": "C"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {"Id": "e1", "Expression": hostile_text(rng, "metric-math")},
        ],
    }
    return Probe(
        "metric-math",
        "POST",
        "/",
        "aws-json",
        dump_json(rng, doc),
        _target("GraniteServiceVersion20100801.GetMetricData", "1.0"),
    )


def filter_pattern(rng: random.Random, ctx: Context) -> Probe:
    pattern = hostile_text(rng, "filter-pattern")
    if rng.random() < 0.5:
        messages = [rng.choice(HOSTILE_STRINGS) or "x" for _ in range(rng.randint(1, 3))]
        messages += ['{"a": [{"b": "c"}], "level": "ERROR", "n": 2}', "a" * 40 + "!"]
        doc: Any = {"filterPattern": pattern, "logEventMessages": messages}
        target = "TestMetricFilter"
    else:
        doc = {
            "logGroupName": ctx.canary.group,
            "filterPattern": pattern,
            "startTime": rng.choice([0, int(time.time() * 1000) - 3_600_000]),
        }
        target = "FilterLogEvents"
    return Probe(
        "filter-pattern",
        "POST",
        "/",
        "aws-json",
        dump_json(rng, doc),
        _target(f"Logs_20140328.{target}", "1.1"),
    )


def xray_filter(rng: random.Random, _: Context) -> Probe:
    now = time.time()
    doc = {
        "StartTime": now - 3600,
        "EndTime": now,
        "FilterExpression": hostile_text(rng, "xray-filter"),
    }
    if rng.random() < 0.1:
        doc["StartTime"] = rng.choice(HOSTILE_NUMBERS)
    return Probe(
        "xray-filter",
        "POST",
        "/TraceSummaries",
        "rest-json",
        dump_json(rng, doc),
        {"Content-Type": "application/json"},
    )


def alarm_rule(rng: random.Random, _: Context) -> Probe:
    doc = {
        "AlarmName": f"fuzz-composite-{rng.randint(0, 20)}",
        "AlarmRule": hostile_text(rng, "alarm-rule"),
        "ActionsEnabled": rng.random() < 0.5,
    }
    return Probe(
        "alarm-rule",
        "POST",
        "/",
        "aws-json",
        dump_json(rng, doc),
        _target("GraniteServiceVersion20100801.PutCompositeAlarm", "1.0"),
    )


def dashboard_body(rng: random.Random, ctx: Context) -> Probe:
    """PutDashboard's body is JSON inside a JSON string: widgets of every type, mutated."""
    now = int(time.time())
    widget = {
        "type": rng.choice(["metric", "log", "text", "alarm", "explorer", "custom", "x"]),
        "x": rng.choice([0, 23, 24, -1, 2**63]),
        "y": rng.choice([0, 1000, -5]),
        "width": rng.choice([6, 0, 25, 1e309]),
        "height": rng.choice([6, 0, 1001]),
        "properties": {
            "metrics": [
                [ctx.canary.namespace, "C"],
                [{"expression": hostile_text(rng, "metric-math")}],
            ],
            "query": f"SOURCE '{ctx.canary.group}' | " + hostile_text(rng, "insights"),
            "markdown": rng.choice(HOSTILE_STRINGS),
            "alarms": [rng.choice(HOSTILE_STRINGS)],
            "period": rng.choice([60, 0, -1, 7, 10**12]),
            "stat": rng.choice(["Sum", "p99", "TM(1%:", "", "x" * 300]),
            "region": "us-east-1",
            "start": rng.choice(["-PT3H", "P", "-PT99999999999H", str(now)]),
        },
    }
    body = {"widgets": [widget] * rng.randint(0, 3), "start": "-PT1H", "periodOverride": "auto"}
    text = dump_json(rng, mutate_json(rng, body) if rng.random() < 0.5 else body)
    doc = {
        "DashboardName": rng.choice(["fuzz-board", "", "x" * 256, "a/b", "ok-1"]),
        "DashboardBody": text.decode("utf-8", "replace"),
    }
    return Probe(
        "dashboard-body",
        "POST",
        "/",
        "aws-json",
        dump_json(rng, doc),
        _target("GraniteServiceVersion20100801.PutDashboard", "1.0"),
    )


OTLP_GRPC = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


def otlp_grpc(rng: random.Random, _: Context) -> Probe:
    kind, message = _otlp_seed(rng)
    if rng.random() < 0.1:
        message = _extreme_message(rng, kind, message)
    body = message.SerializeToString()
    if rng.random() < 0.85:
        body = mutate_bytes(rng, body, rng.randint(1, 6))
    path = OTLP_GRPC[kind] if rng.random() < 0.95 else "/opentelemetry.proto.nope/Export"
    return Probe("otlp-grpc", "POST", path, "grpc", body, server="grpc")


def _target(target: str, version: str) -> dict[str, str]:
    return {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}


PROTOCOLS: dict[str, Callable[[random.Random, Context], Probe]] = {
    "otlp-protobuf": otlp_protobuf,
    "otlp-json": otlp_json,
    "logs-json": logs_json,
    "cloudwatch-json": cloudwatch_json,
    "cloudwatch-query": cloudwatch_query,
    "cloudwatch-cbor": cloudwatch_cbor,
    "xray-rest": xray_rest,
    "v1": v1_reads,
    "insights": insights,
    "metric-math": metric_math,
    "filter-pattern": filter_pattern,
    "xray-filter": xray_filter,
    "sns-query": sns_query,
    "alarm-rule": alarm_rule,
    "dashboard-body": dashboard_body,
    "otlp-grpc": otlp_grpc,
}
