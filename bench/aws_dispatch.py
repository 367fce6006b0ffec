"""CPU per call of the AWS front door alone: routing, body reading, parsing, model
validation, the handler call, serialization and counting, for a model-validated JSON 1.1
call (DescribeLogGroups) and a raw one (PutLogEvents with 100 events, as the Logs service
takes it), and (revisions with the operation-table interface) X-Ray's PutTraceSegments (50
documents) and CloudWatch's GetMetricData (5 queries), both model-validated. The service
answers at once, so the figure is the dispatcher's. Requests go
through the ASGI app in process (no sockets): process CPU time, not wall time, so that a
busy machine disturbs it less.

``--baseline-src DIR`` (a ``src`` directory of another revision, e.g. ``git archive main
src | tar -x -C /tmp/base`` plus the ``.so`` files) measures that revision too, alternating
``--rounds`` times, and prints the medians and the ratio this / baseline.

    .venv/bin/python bench/aws_dispatch.py [--calls 3000] [--baseline-src DIR --rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent.parent


def _service() -> Any:
    """A Logs service that answers at once, in whichever service interface this revision
    has (an operation table, or the older ``call``)."""
    from vigil.api.aws import interface

    async def describe(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"logGroups": [{"logGroupName": "/app", "creationTime": 1, "storedBytes": 0}]}

    async def put(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"nextSequenceToken": "1"}

    table = {"DescribeLogGroups": describe, "PutLogEvents": put}
    base = getattr(interface, "AwsService", object)
    if hasattr(interface, "Handler"):

        class Current(base):  # type: ignore[misc, valid-type]
            model = "logs"
            validation_error = "InvalidParameterException"
            raw_operations = frozenset({"PutLogEvents"})

            def operations(self) -> Any:
                return table

        return Current()

    class Older:
        model = "logs"
        validation_error = "InvalidParameterException"
        raw_operations = frozenset({"PutLogEvents"})
        operations = frozenset(table)

        async def call(self, operation: str, params: dict[str, Any], ctx: Any) -> Any:
            return await table[operation](params, ctx)

    return Older()


def _hot_services() -> list[Any]:
    """X-Ray and CloudWatch services that answer at once: PutTraceSegments (rest-json, the
    X-Ray SDKs' hot path, model-validated) and GetMetricData (JSON 1.0, model-validated)."""
    from vigil.api.aws import interface

    if not hasattr(interface, "Handler"):
        return []

    async def put(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"UnprocessedTraceSegments": []}

    async def get(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"MetricDataResults": [], "Messages": []}

    class XRay(interface.AwsService):
        model = "xray"
        validation_error = "InvalidRequestException"

        def operations(self) -> Any:
            return {"PutTraceSegments": put}

    class CloudWatch(interface.AwsService):
        model = "cloudwatch"
        validation_error = "InvalidParameterValue"

        def operations(self) -> Any:
            return {"GetMetricData": get}

    return [XRay(), CloudWatch()]


def measure(calls: int) -> dict[str, float]:
    """µs of CPU per call, per operation, in this process's revision of vigil."""
    import httpx

    from vigil.api.app import build_app
    from vigil.api.aws.dispatch import AwsDispatcher

    try:
        from vigil.auth import Authenticator
    except ImportError:  # revisions before the layers' moves
        from vigil.api.auth import Authenticator  # type: ignore[no-redef, import-not-found]

    aws = AwsDispatcher([_service(), *_hot_services()], Authenticator([]), {})
    app = build_app(aws.routes(), Authenticator([]), lambda: True, exempt=aws.is_aws)
    events = [{"timestamp": 1_700_000_000_000 + i, "message": f"line {i} " * 8} for i in range(100)]
    segments = [
        orjson.dumps(
            {
                "trace_id": f"1-5f5e1000-{i:024x}",
                "id": f"{i:016x}",
                "name": "checkout",
                "start_time": 1_700_000_000.0,
                "end_time": 1_700_000_000.5,
            }
        ).decode()
        for i in range(50)
    ]
    query = {
        "Id": "m1",
        "MetricStat": {
            "Metric": {
                "Namespace": "App",
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Host", "Value": "a"}],
            },
            "Period": 60,
            "Stat": "p99",
        },
    }
    # (path, headers, body) per operation.
    requests: dict[str, tuple[str, dict[str, str], bytes]] = {
        operation: (
            "/",
            {
                "X-Amz-Target": f"Logs_20140328.{operation}",
                "Content-Type": "application/x-amz-json-1.1",
            },
            body,
        )
        for operation, body in {
            "DescribeLogGroups": orjson.dumps({"logGroupNamePrefix": "/app", "limit": 10}),
            "PutLogEvents": orjson.dumps(
                {"logGroupName": "/app", "logStreamName": "s", "logEvents": events}
            ),
        }.items()
    }
    if len(aws.served()) > 1:
        requests["PutTraceSegments"] = (
            "/TraceSegments",
            {"Content-Type": "application/json"},
            orjson.dumps({"TraceSegmentDocuments": segments}),
        )
        requests["GetMetricData"] = (
            "/",
            {
                "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData",
                "Content-Type": "application/x-amz-json-1.0",
            },
            orjson.dumps(
                {
                    "MetricDataQueries": [query] * 5,
                    "StartTime": 1_700_000_000,
                    "EndTime": 1_700_003_600,
                }
            ),
        )

    async def run() -> dict[str, float]:
        out = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            for operation, (path, headers, body) in requests.items():
                for _ in range(calls // 10):  # warm-up
                    await client.post(path, content=body, headers=headers)
                started = time.process_time()
                for _ in range(calls):
                    response = await client.post(path, content=body, headers=headers)
                    assert response.status_code == 200, response.text
                out[operation] = (time.process_time() - started) / calls * 1e6
        return out

    return asyncio.run(run())


def _in(src: str | None, calls: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, str(HERE)) if p)}
    code = (
        f"import orjson, bench.aws_dispatch as b; print(orjson.dumps(b.measure({calls})).decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--baseline-src")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    this_src = str(HERE / "src")
    if not args.baseline_src:
        for operation, us in _in(this_src, args.calls).items():
            print(f"{operation:20s} {us:8.1f} µs CPU per call")
        return
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(args.rounds):
        runs["baseline"].append(_in(args.baseline_src, args.calls))
        runs["this"].append(_in(this_src, args.calls))
    for operation in runs["this"][0]:
        base = statistics.median(r[operation] for r in runs["baseline"])
        this = statistics.median(r[operation] for r in runs["this"])
        print(
            f"{operation:20s} baseline {base:7.1f} µs  this {this:7.1f} µs CPU per call"
            f"  (medians of {args.rounds})  ratio this / baseline {this / base:.2f}"
        )


if __name__ == "__main__":
    main()
