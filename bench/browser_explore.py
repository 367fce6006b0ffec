"""The explorers' speed in headless Chromium (Debian's), against a vigil process.

    .venv/bin/python bench/browser_explore.py [--lines 10000000] [--loads 5] [--load direct|api]

1. **Logs**: a group of ``--lines`` lines spread over the last 6 hours; time from navigation
   to the first rows of an Insights query on screen, for ``… | limit 100`` and for the
   explorer's default ``… | limit 10000``. ``--load direct`` (the default) writes the lines
   into the data directory before the server starts, with the bench-only loader
   ``bench/logs_bulk.py`` (the store's own insert path, then copies shifted in time:
   ~70 s for 10M lines here); ``--load api`` sends them through PutLogEvents (~46 s per
   million here).
2. **A 10,000-span trace** (OTLP/HTTP JSON): navigation to the waterfall drawn, and the
   time from a click collapsing (then expanding) its root to the next frame.
3. **Service map of the last hour** (2,000 traces across 4 services): navigation to the
   graph drawn.

Baselines in the same run, from inside the page: the API calls each view makes (fetch and
JSON parse, no drawing), so the ratio says what the page adds to the server's time.
Best and median of ``--loads`` loads; the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

GROUP = "/bench/explore"
ROOT = Path(__file__).resolve().parent.parent
SPAN_MS = 6 * 3600_000


def aws(http: httpx.Client, op: str, body: dict[str, Any]) -> None:
    r = http.post(
        "/",
        json=body,
        headers={
            "X-Amz-Target": f"Logs_20140328.{op}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    r.raise_for_status()


def load_direct(data_dir: Path, lines: int) -> None:
    """The lines written into the data directory's store before the server opens it (one
    chDB path per process, hence a process of its own)."""
    now = int(time.time() * 1000)
    args = [str(data_dir), GROUP, str(lines), str(now - SPAN_MS), str(SPAN_MS)]
    subprocess.run(
        [sys.executable, "-m", "bench.logs_bulk", *args],
        check=True,
        cwd=ROOT,
    )


def feed_logs(http: httpx.Client, lines: int) -> None:
    aws(http, "CreateLogStream", {"logGroupName": GROUP, "logStreamName": "s"})
    now = int(time.time() * 1000)
    span = SPAN_MS
    batch = 10_000
    for start in range(0, lines, batch):
        n = min(batch, lines - start)
        events = [
            {
                "timestamp": now - span + (start + i) * span // lines,
                "message": f'{{"level":"INFO","i":{start + i},"msg":"request served"}}',
            }
            for i in range(n)
        ]
        aws(
            http, "PutLogEvents", {"logGroupName": GROUP, "logStreamName": "s", "logEvents": events}
        )


def otlp(http: httpx.Client, url: str, service: str, spans: list[dict[str, Any]]) -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    for i in range(0, len(spans), 2000):
        body = {
            "resourceSpans": [
                {"resource": resource, "scopeSpans": [{"spans": spans[i : i + 2000]}]}
            ]
        }
        http.post(f"{url}/v1/traces", json=body).raise_for_status()


def span(
    trace: str, sid: str, name: str, kind: int, start: int, dur_ns: int, parent: str = ""
) -> dict[str, Any]:
    out = {
        "traceId": trace,
        "spanId": sid,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + dur_ns),
    }
    if parent:
        out["parentSpanId"] = parent
    return out


def feed_traces(http: httpx.Client, url: str) -> str:
    now = time.time_ns()
    big = os.urandom(16).hex()
    root = os.urandom(8).hex()
    t0 = now - 10 * 60 * 10**9
    spans = [span(big, root, "batch", 2, t0, 5 * 10**9)]
    for c in range(100):
        cid = os.urandom(8).hex()
        cs = t0 + c * 45_000_000
        spans.append(span(big, cid, f"chunk {c}", 1, cs, 45_000_000, root))
        spans += [
            span(big, os.urandom(8).hex(), f"item {c}.{k}", 1, cs + k * 400_000, 400_000, cid)
            for k in range(99)
        ]
    otlp(http, url, "bulk", spans)
    # 2,000 calls gateway -> orders -> (payments, inventory) over the last hour.
    per: dict[str, list[dict[str, Any]]] = {
        "gateway": [],
        "orders": [],
        "payments": [],
        "inventory": [],
    }
    for k in range(2000):
        tid = os.urandom(16).hex()
        t = now - (3600 - k * 1.7) * 10**9
        t = int(t)
        g, gc, o, pc, ic = (os.urandom(8).hex() for _ in range(5))
        per["gateway"] += [
            span(tid, g, "GET /order", 2, t, 50_000_000),
            span(tid, gc, "call orders", 3, t + 1_000_000, 45_000_000, g),
        ]
        per["orders"] += [
            span(tid, o, "POST /orders", 2, t + 2_000_000, 40_000_000, gc),
            span(tid, pc, "call payments", 3, t + 3_000_000, 20_000_000, o),
            span(tid, ic, "call inventory", 3, t + 25_000_000, 10_000_000, o),
        ]
        per["payments"].append(
            span(tid, os.urandom(8).hex(), "charge", 2, t + 4_000_000, 18_000_000, pc)
        )
        per["inventory"].append(
            span(tid, os.urandom(8).hex(), "reserve", 2, t + 26_000_000, 8_000_000, ic)
        )
    for service, ss in per.items():
        otlp(http, url, service, ss)
    return big


def timed(page: Any, url: str, ready: str) -> float:
    page.goto(url)
    page.wait_for_function(ready, polling="raf", timeout=300_000)
    return float(page.evaluate("performance.now()"))


def api_ms(page: Any, script: str, arg: Any) -> float:
    return float(page.evaluate(script, arg))


# Start, then poll as the page does (a long poll); [ms to the first answer with rows
# (partial results while Running count), ms to Complete].
INSIGHTS_API = """async (req) => { const t = performance.now(); let rows = null;
  const r = await (await fetch('/api/v1/logs/insights', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(req)})).json();
  for (;;) {
    const a = await (await fetch('/api/v1/logs/insights/' + r.query_id + '?wait=2000')).json();
    if (rows === null && a.results) rows = performance.now() - t;
    if (a.status !== 'Running' && a.status !== 'Scheduled') break;
  }
  return [rows, performance.now() - t]; }"""

GET_API = """async (path) => { const t = performance.now();
  await (await fetch(path)).json(); return performance.now() - t; }"""

CLICK_TO_FRAME = """(name) => new Promise((done) => {
  const b = [...document.querySelectorAll('[aria-label]')]
    .find((e) => e.getAttribute('aria-label') === name);
  const t = performance.now(); b.click();
  requestAnimationFrame(() => setTimeout(() => done(performance.now() - t))); })"""


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def report(label: str, ui: list[float], base: list[float]) -> None:
    u, b = min(ui), min(base)
    print(
        f"{label}: best {u:.0f} ms, median {statistics.median(ui):.0f} ms;"
        f" API alone best {b:.0f} ms, median {statistics.median(base):.0f} ms;"
        f" ratio {u / b:.2f} (best), {statistics.median(ui) / statistics.median(base):.2f}"
        f" (median); {load()}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--load", choices=("direct", "api"), default="direct")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        started = time.monotonic()
        if args.load == "direct":
            load_direct(data, args.lines)
        vigil = VigilProcess(data, "--no-self-metrics").start()
        try:
            with httpx.Client(base_url=vigil.url, timeout=300) as http:
                aws(http, "CreateLogGroup", {"logGroupName": GROUP})
                if args.load == "api":
                    feed_logs(http, args.lines)
                big = feed_traces(http, vigil.otlp_http_url)
            print(
                f"fed {args.lines:,} log lines ({args.load}) and 20,000 spans"
                f" in {time.monotonic() - started:.1f} s; {load()}",
                flush=True,
            )
            time.sleep(5)  # the writer's last flush
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                now = int(time.time() * 1000)
                for limit in (100, 10_000):
                    query = f"fields @timestamp, @message | sort @timestamp desc | limit {limit}"
                    url = f"{vigil.url}/logs?groups={quote(GROUP)}&from=now-6h&query={quote(query)}"
                    ui = [
                        timed(page, url, "document.querySelector('.result-row') !== null")
                        for _ in range(args.loads)
                    ]
                    req = {
                        "query": query,
                        "groups": [GROUP],
                        "start": str(now - 6 * 3600_000),
                        "end": str(now),
                        "limit": limit,
                    }
                    answers = [page.evaluate(INSIGHTS_API, req) for _ in range(args.loads)]
                    base = [float(a[0]) for a in answers]
                    complete = [float(a[1]) for a in answers]
                    report(
                        f"logs, first rows of '… | limit {limit}' over {args.lines:,} lines"
                        " (baseline: the API's first answer with rows)",
                        ui,
                        base,
                    )
                    print(
                        f"  the API to Complete (with the counts): best {min(complete):.0f} ms,"
                        f" median {statistics.median(complete):.0f} ms",
                        flush=True,
                    )
                url = f"{vigil.url}/traces/{big}"
                ready = (
                    "document.querySelector('.trace-page[data-drawn]') !== null"
                    " && document.querySelector('.span-row') !== null"
                )
                ui = [timed(page, url, ready) for _ in range(args.loads)]
                base = [
                    api_ms(page, GET_API, f"/api/v1/traces/{big}?logs=false")
                    for _ in range(args.loads)
                ]
                report("10,000-span trace, waterfall drawn", ui, base)
                clicks = []
                for _ in range(args.loads):
                    clicks.append(api_ms(page, CLICK_TO_FRAME, "Collapse batch"))
                    clicks.append(api_ms(page, CLICK_TO_FRAME, "Expand batch"))
                print(
                    "10,000-span trace, collapse/expand the root to the next frame:"
                    f" best {min(clicks):.0f} ms, worst {max(clicks):.0f} ms"
                )
                url = f"{vigil.url}/service-map"
                ui = [
                    timed(
                        page,
                        url,
                        "document.querySelector('.map-page[data-drawn] svg .node') !== null",
                    )
                    for _ in range(args.loads)
                ]
                base = [api_ms(page, GET_API, "/api/v1/service-map") for _ in range(args.loads)]
                report("service map of the last hour, graph drawn", ui, base)
                browser.close()
        finally:
            vigil.stop()


if __name__ == "__main__":
    main()
