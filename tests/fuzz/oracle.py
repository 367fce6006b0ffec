"""Send probes, judge answers, keep the counts and the findings."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import cbor2
import grpc
import httpx
import orjson
from google.rpc import status_pb2

# The protocols' error shapes, named by ``Probe.shape``.
SHAPES = ("aws-json", "aws-query", "aws-cbor", "rest-json", "otlp", "v1", "grpc")
# Words of the store's own error text that must never reach a client.
STORE_WORDS = ("DB::", "ClickHouse", "Code: ", "clickhouse", "chdb", "Traceback", "SELECT ")


@dataclass(frozen=True, slots=True)
class Probe:
    """One hostile request. ``server`` is ``api`` (AWS and /api/v1) or ``otlp``."""

    protocol: str
    method: str
    path: str
    shape: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    server: str = "api"
    follow: str = ""  # "insights": poll the query it started and judge how it ended

    def describe(self) -> str:
        body = self.body[:300].decode("utf-8", "replace")
        params = "&".join(f"{k}={v[:60]}" for k, v in self.params[:8])
        target = self.headers.get("X-Amz-Target", "")
        return f"{self.method} {self.path}?{params} {target} {body!r}"


@dataclass(slots=True)
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    hangs: int = 0
    bad_shape: int = 0
    leaks: int = 0
    slowest: float = 0.0

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.statuses.update(other.statuses)
        self.server_errors += other.server_errors
        self.hangs += other.hangs
        self.bad_shape += other.bad_shape
        self.leaks += other.leaks
        self.slowest = max(self.slowest, other.slowest)


@dataclass(frozen=True, slots=True)
class Finding:
    protocol: str
    kind: str  # "5xx", "hang", "shape", "leak", "dead"
    detail: str
    probe: str


class Fuzzer:
    """Sends probes to one server; ``bound`` seconds is a hang."""

    def __init__(
        self, api_url: str, otlp_url: str, bound: float = 10.0, grpc_target: str = ""
    ) -> None:
        self.urls = {"api": api_url, "otlp": otlp_url}
        self.bound = bound
        self.channel = grpc.insecure_channel(grpc_target) if grpc_target else None
        self.client = httpx.Client(timeout=httpx.Timeout(bound, connect=5.0))
        self.tallies: dict[str, Tally] = {}
        self.findings: list[Finding] = []

    def close(self) -> None:
        self.client.close()
        if self.channel is not None:
            self.channel.close()

    def run(self, probe: Probe) -> Finding | None:
        tally = self.tallies.setdefault(probe.protocol, Tally())
        tally.sent += 1
        if probe.server == "grpc":
            return self._run_grpc(probe, tally)
        started = time.monotonic()
        try:
            response = self._send(probe)
        except httpx.TimeoutException:
            tally.hangs += 1
            return self._found(probe, "hang", f"no answer within {self.bound} s")
        except httpx.TransportError:
            # A kept-alive connection the server closed as the request went out: once more
            # on a new connection; a second failure is a finding.
            started = time.monotonic()
            try:
                response = self._send(probe)
            except httpx.TimeoutException:
                tally.hangs += 1
                return self._found(probe, "hang", f"no answer within {self.bound} s")
            except httpx.TransportError as exc:
                return self._found(probe, "dead", f"transport error: {exc!r}")
        elapsed = time.monotonic() - started
        tally.slowest = max(tally.slowest, elapsed)
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
            return self._found(probe, "5xx", f"{response.status_code} {response.text[:300]}")
        problem = judge_shape(probe.shape, response)
        if problem:
            tally.bad_shape += 1
            return self._found(probe, "shape", problem)
        if response.status_code >= 400 and any(w in response.text for w in STORE_WORDS):
            tally.leaks += 1
            return self._found(probe, "leak", response.text[:300])
        if probe.follow == "insights" and response.status_code == 200:
            return self._follow_insights(probe, response.json().get("queryId", ""), tally)
        return None

    def _run_grpc(self, probe: Probe, tally: Tally) -> Finding | None:
        """gRPC answers in its own shape by construction; the finding is a status that
        means the server failed (INTERNAL, UNKNOWN, DATA_LOSS) rather than refused, a
        hang, or a dead port. Bytes go as they are: no serializer on either side."""
        assert self.channel is not None, "Fuzzer built without a gRPC target"
        call = self.channel.unary_unary(probe.path)
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                call(probe.body, timeout=self.bound)
                code = grpc.StatusCode.OK
                break
            except grpc.RpcError as exc:
                code = exc.code()
                detail = exc.details() or ""
                if code is grpc.StatusCode.UNAVAILABLE and attempt == 1:
                    continue  # a reconnect, as for HTTP's kept-alive race
                break
        tally.slowest = max(tally.slowest, time.monotonic() - started)
        tally.statuses[_GRPC_AS_HTTP.get(code, 500)] += 1
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            tally.hangs += 1
            return self._found(probe, "hang", f"no answer within {self.bound} s")
        if code is grpc.StatusCode.UNAVAILABLE:
            return self._found(probe, "dead", f"gRPC UNAVAILABLE: {detail}")
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS):
            tally.server_errors += 1
            return self._found(probe, "5xx", f"gRPC {code.name}: {detail[:300]}")
        return None

    def _send(self, probe: Probe) -> httpx.Response:
        return self.client.request(
            probe.method,
            self.urls[probe.server] + probe.path + _query(probe.params),
            content=probe.body or None,
            headers=probe.headers,
        )

    def _follow_insights(self, probe: Probe, query_id: str, tally: Tally) -> Finding | None:
        """A query the API accepted must end Complete (or Cancelled), not Failed with the
        store's words (issue 18 item 11: refuse it at StartQuery instead)."""
        deadline = time.monotonic() + self.bound
        while time.monotonic() < deadline:
            answer = self.client.post(
                self.urls["api"] + "/",
                content=orjson.dumps({"queryId": query_id}),
                headers={
                    "X-Amz-Target": "Logs_20140328.GetQueryResults",
                    "Content-Type": "application/x-amz-json-1.1",
                },
            )
            if answer.status_code >= 500:
                tally.server_errors += 1
                return self._found(probe, "5xx", f"GetQueryResults {answer.status_code}")
            status = answer.json().get("status") if answer.status_code == 200 else "Gone"
            if status == "Failed":
                tally.leaks += 1
                return self._found(probe, "leak", f"query ended Failed: {answer.text[:300]}")
            if status not in ("Running", "Scheduled"):
                return None
            time.sleep(0.05)
        tally.hangs += 1
        return self._found(probe, "hang", f"query still running after {self.bound} s")

    def _found(self, probe: Probe, kind: str, detail: str) -> Finding:
        finding = Finding(probe.protocol, kind, detail, probe.describe())
        self.findings.append(finding)
        return finding

    def alive(self) -> bool:
        try:
            return self.client.get(self.urls["api"] + "/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def total(self) -> Tally:
        out = Tally()
        for tally in self.tallies.values():
            out.add(tally)
        return out


def _query(params: list[tuple[str, str]]) -> str:
    """The query string, percent-encoding even what is not valid UTF-8 (lone surrogates)."""
    if not params:
        return ""
    return "?" + "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in params
    )


def judge_shape(shape: str, response: httpx.Response) -> str | None:
    """None when the answer is in the protocol's shape; else what is wrong with it."""
    status = response.status_code
    if status < 400:
        return None
    text = response.content
    if shape == "aws-query":
        if b"<ErrorResponse" not in text or b"<Code>" not in text:
            return f"query-protocol error is not an XML ErrorResponse: {text[:200]!r}"
        return None
    if shape == "otlp":
        kind = response.headers.get("content-type", "")
        if "protobuf" in kind:
            try:
                status_pb2.Status.FromString(text)
            except Exception as exc:  # any decode failure is the finding
                return f"OTLP error body is not a google.rpc.Status: {exc!r}"
            return None
        return _json_object(text, ("message", "code"), "OTLP")
    if shape == "v1":
        return _json_object(text, ("error",), "/api/v1")
    if shape == "aws-cbor":
        try:
            body = cbor2.loads(text)
        except Exception as exc:  # any decode failure is the finding
            return f"CBOR error body is not CBOR: {exc!r} {text[:200]!r}"
        if not isinstance(body, dict) or "__type" not in body:
            return f"CBOR error lacks __type: {text[:200]!r}"
        return None
    if shape == "rest-json":
        if response.headers.get("x-amzn-errortype"):
            return None
        return _json_object(text, ("__type", "code"), "rest-json")
    return _json_object(text, ("__type",), "AWS JSON")


def _json_object(text: bytes, keys: tuple[str, ...], what: str) -> str | None:
    try:
        body: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return f"{what} error is not JSON: {text[:200]!r}"
    if not isinstance(body, dict) or not any(k in body for k in keys):
        return f"{what} error lacks {'/'.join(keys)}: {text[:200]!r}"
    return None


@dataclass(frozen=True, slots=True)
class Canary:
    group: str
    message: str
    namespace: str
    playground: str  # a log group (with stream "s") the generators may write to


def write_canary(api_url: str) -> Canary:
    """A log event and a metric datapoint written before the run, read back after it."""
    tag = uuid.uuid4().hex[:10]
    canary = Canary(
        f"/fuzz/canary-{tag}", f"canary {tag}", f"FuzzCanary/{tag}", f"/fuzz/playground-{tag}"
    )
    now_ms = int(time.time() * 1000)
    with httpx.Client(base_url=api_url, timeout=30) as http:
        for target, body in (
            ("CreateLogGroup", {"logGroupName": canary.group}),
            ("CreateLogStream", {"logGroupName": canary.group, "logStreamName": "s"}),
            ("CreateLogGroup", {"logGroupName": canary.playground}),
            ("CreateLogStream", {"logGroupName": canary.playground, "logStreamName": "s"}),
            (
                "PutLogEvents",
                {
                    "logGroupName": canary.group,
                    "logStreamName": "s",
                    "logEvents": [{"timestamp": now_ms, "message": canary.message}],
                },
            ),
        ):
            answer = http.post("/", content=orjson.dumps(body), headers=_logs_headers(target))
            assert answer.status_code == 200, answer.text
        answer = http.post(
            "/",
            content=orjson.dumps(
                {
                    "Namespace": canary.namespace,
                    "MetricData": [{"MetricName": "C", "Value": 7.0, "Timestamp": now_ms / 1e3}],
                }
            ),
            headers={
                "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        assert answer.status_code == 200, answer.text
    return canary


def check_canary(api_url: str, canary: Canary) -> str | None:
    """None when the canary's event and datapoint read back exactly once; else the problem."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        deadline = time.monotonic() + 30
        events: list[Any] = []
        total = 0.0
        while time.monotonic() < deadline:
            answer = http.post(
                "/",
                content=orjson.dumps({"logGroupName": canary.group}),
                headers=_logs_headers("FilterLogEvents"),
            )
            events = [e["message"] for e in answer.json().get("events", [])]
            points = http.get(
                "/api/v1/metrics/datapoints",
                params={
                    "namespace": canary.namespace,
                    "name": "C",
                    "statistic": "Sum",
                    "period": "3600",
                    "start": "now-3h",
                    "end": str(int(time.time()) + 3600),
                },
            ).json()
            total = sum(p["value"] for p in points.get("datapoints", []))
            if events == [canary.message] and total == 7.0:
                return None
            time.sleep(0.2)
    return f"canary not intact: events {events!r}, metric sum {total}"


def _logs_headers(operation: str) -> dict[str, str]:
    return {
        "X-Amz-Target": f"Logs_20140328.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }


# gRPC status → the HTTP status OTLP/HTTP answers for it (for the tallies' status counts).
_GRPC_AS_HTTP = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNIMPLEMENTED: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
