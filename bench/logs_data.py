"""Realistic log data for the Logs benchmarks: what StructuredLogger writes for an ETL
service (INFO progress lines with durations, batch summaries with record counts and success
rates, WARN/ERROR lines with error types and tracebacks), plus plain-text access and
timeout lines, over several pipelines, hosts and users."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson

PIPELINES = ["orders", "users", "payments", "inventory", "shipping", "search", "email", "audit"]
ERRORS = [
    ("TimeoutError", "upstream timed out after 30s"),
    ("ConnectionError", "connection refused by db-{n}:5432"),
    ("ValueError", "invalid amount {n}"),
    ("KeyError", "'customer_{n}'"),
    ("PermissionError", "token expired for user {n}"),
]
MODULES = [("etl", "run"), ("etl", "batch"), ("api", "handle"), ("pay", "charge")]
PATHS = ["/api/orders", "/api/users/{n}", "/healthz", "/api/search?q=x{n}", "/static/app.js"]


def message(rng: random.Random, ts_ms: int) -> str:
    """One log line; about 80% structured JSON, 20% plain text."""
    stamp = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    roll = rng.random()
    module, function = rng.choice(MODULES)
    base = {
        "timestamp": stamp + "Z",
        "logger": f"vigil.{module}",
        "module": module,
        "function": function,
        "line": rng.randint(10, 400),
        "pipeline": rng.choice(PIPELINES),
        "host": f"worker-{rng.randint(1, 24)}",
    }
    if roll < 0.45:
        body = {
            **base,
            "level": "INFO",
            "message": "processing completed",
            "duration": round(rng.lognormvariate(4, 0.8), 2),
            "items": rng.randint(1, 500),
        }
    elif roll < 0.65:
        body = {
            **base,
            "level": "INFO",
            "message": "batch processing completed",
            "record_count": rng.randint(100, 10_000),
            "success_rate": round(rng.uniform(0.9, 1.0), 4),
            "batch_id": f"b-{rng.getrandbits(40):x}",
        }
    elif roll < 0.72:
        error_type, text = rng.choice(ERRORS)
        body = {
            **base,
            "level": "ERROR",
            "message": "step failed",
            "error_type": error_type,
            "error_message": text.format(n=rng.randint(1, 999)),
            "traceback": f'Traceback (most recent call last):\n  File "{module}.py", line'
            f" {base['line']}, in {function}\n{error_type}: ...",
            "trace_id": f"{rng.getrandbits(128):032x}",
        }
    elif roll < 0.80:
        body = {**base, "level": "WARNING", "message": "retrying", "attempt": rng.randint(1, 5)}
    elif roll < 0.97:
        path = rng.choice(PATHS).format(n=rng.randint(1, 99_999))
        status = rng.choice([200] * 20 + [201, 204, 301, 404, 500, 503])
        ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return (
            f'{ip} - user{rng.randint(1, 5000)} [{stamp}] "GET {path} HTTP/1.1" {status}'
            f" {rng.randint(200, 90_000)} {rng.randint(1, 900)}ms"
        )
    else:
        return (
            f"WARN request {rng.getrandbits(32):08x} to payments-{rng.randint(1, 9)}"
            f" hit a timeout after {rng.randint(5, 60)}s, retrying"
        )
    return orjson.dumps(body).decode()
