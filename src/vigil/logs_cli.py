"""``vigil logs query`` and ``vigil logs tail``: the Logs pillar from a terminal.

Both talk to a running server over its JSON API (``--url``, env ``VIGIL_URL``, default
``http://127.0.0.1:8080``; ``--api-key`` / ``VIGIL_API_KEY`` when the server wants one).
``query`` starts a Logs Insights query, shows progress on standard error while it runs
and prints the result as a table (or ``--json``). ``tail`` prints the newest events of a
group, then follows new ones like ``tail -f`` (optionally through a filter pattern).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

import httpx
import orjson

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_CELL = 120


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser("logs", help="query and follow logs on a running vigil")
    logs_sub = logs.add_subparsers(dest="logs_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("VIGIL_URL", DEFAULT_URL))
    common.add_argument("--api-key", default=os.environ.get("VIGIL_API_KEY", "").split(",")[0])
    common.add_argument("--tenant", default=os.environ.get("VIGIL_TENANT"))
    q = logs_sub.add_parser("query", parents=[common], help="run a Logs Insights query")
    q.add_argument("query", help="the Logs Insights query")
    q.add_argument("--group", "-g", action="append", default=[], help="log group (repeatable)")
    q.add_argument("--since", default="1h", help="how far back: 15m, 1h, 7d or a time")
    q.add_argument("--until", default="now", help="end of the range (default now)")
    q.add_argument("--limit", type=int, default=None, help="at most this many rows")
    q.add_argument("--json", action="store_true", help="print the rows as JSON")
    q.add_argument("--timeout", type=float, default=900.0, help="give up after this many s")
    t = logs_sub.add_parser("tail", parents=[common], help="follow a log group")
    t.add_argument("group")
    t.add_argument("--filter", "-f", default="", help="CloudWatch filter pattern")
    t.add_argument("--lines", "-n", type=int, default=10, help="events shown at start")
    t.add_argument(
        "--min-severity",
        help="only this severity or above (TRACE…FATAL; the OTLP severity, else the JSON"
        " level/severity field)",
    )
    t.add_argument("--interval", type=float, default=1.0, help="seconds between polls")


def _client(args: argparse.Namespace) -> httpx.Client:
    headers = {}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    if args.tenant:
        headers["X-Vigil-Tenant"] = args.tenant
    return httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=30)


def _since(text: str) -> str:
    return f"now-{text}" if text[:1].isdigit() and text[-1:].isalpha() else text


def _fail(response: httpx.Response) -> int:
    try:
        err = response.json()["error"]
        print(f"vigil: {err['message']}", file=sys.stderr)
    except (ValueError, KeyError, TypeError):
        print(f"vigil: HTTP {response.status_code}: {response.text[:300]}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        with _client(args) as client:
            if args.logs_command == "query":
                return query(client, args, out)
            return tail(client, args, out)
    except httpx.HTTPError as exc:
        print(f"vigil: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def query(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {
        "query": args.query,
        "groups": args.group,
        "start": _since(args.since),
        "end": _since(args.until) if args.until != "now" else "now",
    }
    if args.limit is not None:
        body["limit"] = args.limit
    started = client.post("/api/v1/logs/insights", json=body)
    if started.status_code != 202:
        return _fail(started)
    query_id = started.json()["query_id"]
    began = time.monotonic()
    progress = sys.stderr.isatty()
    try:
        while True:
            answer = client.get(f"/api/v1/logs/insights/{query_id}")
            if answer.status_code != 200:
                return _fail(answer)
            result = answer.json()
            if result["status"] not in ("Scheduled", "Running"):
                break
            if progress:
                print(f"\r{result['status']}… {time.monotonic() - began:.1f} s", end="",
                      file=sys.stderr)  # fmt: skip
            if time.monotonic() - began > args.timeout:
                client.delete(f"/api/v1/logs/insights/{query_id}")
                print("vigil: query timed out and was stopped", file=sys.stderr)
                return 1
            time.sleep(0.1)
    except KeyboardInterrupt:
        client.delete(f"/api/v1/logs/insights/{query_id}")
        raise
    if progress:
        print("\r\033[K", end="", file=sys.stderr)
    if result["status"] != "Complete":
        print(f"vigil: query {result['status'].lower()}: {result.get('error', '')}",
              file=sys.stderr)  # fmt: skip
        return 1
    rows: list[dict[str, str]] = [
        {k: v for k, v in row.items() if k != "@ptr"} for row in result["results"]
    ]
    fields = [f for f in result["fields"] if f != "@ptr"]
    if args.json:
        out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(table(fields, rows))
    stats = result["statistics"]
    print(
        f"{len(rows)} rows, {int(stats['recordsMatched'])} records matched of"
        f" {int(stats['recordsScanned'])} scanned ({_bytes(stats['bytesScanned'])})"
        f" in {time.monotonic() - began:.2f} s",
        file=sys.stderr,
    )
    return 0


def table(fields: list[str], rows: list[dict[str, str]]) -> str:
    """A plain text table: one column per field, cells cut at MAX_CELL characters."""
    if not fields:
        return "(no results)\n"

    def cell(value: str) -> str:
        value = value.replace("\n", " ")
        return value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"

    cells = [[cell(row.get(f, "")) for f in fields] for row in rows]
    widths = [max([len(f), *(len(r[i]) for r in cells)]) for i, f in enumerate(fields)]
    lines = [
        " | ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True)).rstrip(),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [
        " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    ]
    return "\n".join(lines) + "\n"


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def tail(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {"group": args.group, "limit": max(1, args.lines)}
    if args.filter:
        params["filter"] = args.filter
    if args.min_severity:
        params["min_severity"] = args.min_severity
    cursor = None
    while True:
        if cursor is not None:
            params["cursor"] = cursor
            params["limit"] = 1000
        response = client.get("/api/v1/logs/tail", params=params)
        if response.status_code != 200:
            return _fail(response)
        answer = response.json()
        for event in answer["events"]:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
            ms = event["timestamp"] % 1000
            out.write(f"{stamp}.{ms:03d}Z {event['log_stream']} {event['message']}\n")
        out.flush()
        cursor = answer["next_cursor"]
        time.sleep(args.interval)
