"""The UI's speed in headless Chromium (Debian's), against a vigil process.

    .venv/bin/python bench/ui_dashboard.py [--series 20] [--big-series 100]

1. **A 12-widget dashboard over 7 days at 5-minute period, 20 series per widget**
   (240 series × 2,016 points, sent with PutMetricData as 5-minute points): time from
   navigation to every chart drawn (the page's ``vigil:metrics-drawn`` mark), best and
   median of 5 loads; the target is < 1.5 s.
2. **1M points on one graph** (``--big-series`` series at 1-minute period over 7 days):
   the longest main-thread task while the cursor sweeps the graph, a drag selects a zoom
   window and the zoomed graph is drawn (PerformanceObserver ``longtask``, which Chromium
   reports from 50 ms on: none means no frame over 50 ms), and load-to-drawn time. For the
   first draw also the main-thread tasks in thread CPU time (a Chromium trace's ``tdur``):
   on a shared machine a task's wall time is its CPU time stretched by the other
   processes, and the CPU time says which of the two a long task is.
3. **Initial JavaScript**: the gzipped size of the scripts ``index.html`` loads; the
   target is < 300 KB.

Baseline in the same run: the metric-data request itself for the 12-widget dashboard
(fetch + JSON parse in the page, without drawing), so the ratio says what drawing adds;
also the fetch of the columnar answer the page actually reads. Every figure prints the
load average beside it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vigil_process import VigilProcess

NS = "Bench/UI"
STATIC = Path(__file__).resolve().parent.parent / "src" / "vigil" / "web" / "static"


def put(http: httpx.Client, data: list[dict[str, Any]]) -> None:
    for i in range(0, len(data), 1000):
        r = http.post(
            "/",
            content=json.dumps({"Namespace": NS, "MetricData": data[i : i + 1000]}),
            headers={
                "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        r.raise_for_status()


def feed(http: httpx.Client, now: int, series: int, big: int) -> None:
    days = 7 * 86400
    start = now - days
    data: list[dict[str, Any]] = []
    for w in range(12):
        for s in range(series):
            dims = [{"Name": "Widget", "Value": f"w{w}"}, {"Name": "Host", "Value": f"h{s}"}]
            for t in range(start - start % 300 + 300, now, 300):
                data.append(
                    {
                        "MetricName": "Latency",
                        "Dimensions": dims,
                        "Timestamp": t,
                        "Value": 100 + 20 * s + 10 * ((t // 300) % 17),
                    }
                )
            if len(data) > 50_000:
                put(http, data)
                data = []
    put(http, data)
    data = []
    for s in range(big):
        dims = [{"Name": "Host", "Value": f"big{s}"}]
        for t in range(start - start % 60 + 60, now, 60):
            data.append(
                {
                    "MetricName": "Big",
                    "Dimensions": dims,
                    "Timestamp": t,
                    "Value": s + (t // 60) % 50,
                }
            )
            if len(data) >= 50_000:
                put(http, data)
                data = []
    put(http, data)


def dashboards(series: int) -> dict[str, dict[str, Any]]:
    widgets = []
    for w in range(12):
        rows = [[NS, "Latency", "Widget", f"w{w}", "Host", f"h{s}"] for s in range(series)]
        widgets.append(
            {
                "type": "metric",
                "width": 8,
                "height": 6,
                "properties": {
                    "title": f"Widget {w}",
                    "metrics": rows,
                    "period": 300,
                    "stat": "Average",
                },
            }
        )
    big = {
        "type": "metric",
        "width": 24,
        "height": 12,
        "properties": {
            "title": "One million points",
            "period": 60,
            "stat": "Average",
            "metrics": [
                [
                    {
                        "expression": f"SEARCH('{{{NS},Host}} MetricName=\"Big\"', 'Average', 60)",
                        "id": "big",
                    }
                ]
            ],
        },
    }
    return {
        "bench-12": {"start": "-P7D", "periodOverride": "inherit", "widgets": widgets},
        "bench-1m": {"start": "-P7D", "periodOverride": "inherit", "widgets": [big]},
    }


LONGTASKS = """
window.__long = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
  .observe({ type: "longtask", buffered: false });
"""


def drawn_ms(page: Any, url: str) -> float:
    page.goto(url)
    page.wait_for_selector(".dashboard[data-drawn]", timeout=120_000)
    mark = page.evaluate("performance.getEntriesByName('vigil:metrics-drawn')[0].startTime")
    return float(mark)


def fetch_only_ms(page: Any, vigil: VigilProcess, name: str, columnar: bool = False) -> float:
    body = json.loads(httpx.get(f"{vigil.url}/api/v1/dashboards/{name}", timeout=30).text)["body"]
    widgets = [
        {"key": str(i), "properties": w["properties"]} for i, w in enumerate(body["widgets"])
    ]
    now = int(time.time() * 1000)
    req = {"start": str(now - 7 * 86400_000), "end": str(now), "period": 300, "widgets": widgets}
    # JSON (fetch + parse), or the columnar form the page reads (fetch + the bytes).
    return float(
        page.evaluate(
            """async ([req, columnar]) => { const t = performance.now();
            const r = await fetch('/api/v1/dashboards/metric-data', {method: 'POST',
              headers: {'Content-Type': 'application/json',
                        Accept: columnar ? 'application/vnd.vigil.columns' : 'application/json'},
              body: JSON.stringify(req)});
            if (columnar) await r.arrayBuffer(); else await r.json();
            return performance.now() - t; }""",
            [req, columnar],
        )
    )


def first_draw_tasks(browser: Any, page: Any, url: str) -> list[tuple[float, float, str]]:
    """The main thread's tasks of over 10 ms CPU from navigation to the graph drawn:
    (wall ms, CPU ms, what the task mostly was), longest CPU first."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        cats = ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel", "v8"]
        browser.start_tracing(page=page, path=str(path), categories=cats)
        page.goto(url)
        page.wait_for_selector(".dashboard[data-drawn]", timeout=120_000)
        page.wait_for_timeout(300)
        browser.stop_tracing()
        trace = json.loads(path.read_text())
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    renderer = [e for e in events if e.get("name") == "FunctionCall"]
    if not renderer:
        return []
    main = (renderer[0]["pid"], renderer[0]["tid"])
    spans = [e for e in events if (e.get("pid"), e.get("tid")) == main and e.get("ph") == "X"]
    parts = ("FunctionCall", "ResponseBodyLoader::DidFinishLoadingBody", "EvaluateScript")
    out = []
    for task in spans:
        if task["name"] != "ThreadControllerImpl::RunTask" or task.get("tdur", 0) < 10_000:
            continue
        end = task["ts"] + task["dur"]
        inside = [e for e in spans if e["name"] in parts and task["ts"] <= e["ts"] < end]
        what = max(inside, key=lambda e: e["dur"])["name"].split("::")[-1] if inside else "other"
        out.append((task["dur"] / 1000, task["tdur"] / 1000, what))
    return sorted(out, key=lambda t: -t[1])


def initial_js_gzip() -> tuple[int, int]:
    html = (STATIC / "index.html").read_text()
    total = raw = 0
    for src in re.findall(r'src="/static/([^"]+\.js)"', html):
        data = (STATIC / src).read_bytes()
        raw += len(data)
        total += len(gzip.compress(data, 9))
    return raw, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--big-series", type=int, default=100)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--zooms", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        vigil = VigilProcess(Path(tmp) / "data", "--no-self-metrics").start()
        try:
            now = int(time.time())
            started = time.monotonic()
            with vigil.client() as http:
                feed(http, now, args.series, args.big_series)
                for name, body in dashboards(args.series).items():
                    http.put(
                        f"/api/v1/dashboards/{name}", content=json.dumps(body)
                    ).raise_for_status()
            print(
                f"fed {12 * args.series} + {args.big_series} series"
                f" in {time.monotonic() - started:.1f} s"
            )
            time.sleep(3)  # the writer's last flush
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu"],
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                url = f"{vigil.url}/dashboards/bench-12?from=now-7d"
                drawn_ms(page, url)  # warm-up (server caches, browser compile)
                loads = [drawn_ms(page, url) for _ in range(args.loads)]
                load_avg = os.getloadavg()
                base = [fetch_only_ms(page, vigil, "bench-12") for _ in range(args.loads)]
                cols = [fetch_only_ms(page, vigil, "bench-12", True) for _ in range(args.loads)]
                points = page.evaluate("[...document.querySelectorAll('.u-legend')].length")
                print(
                    f"12 widgets x {args.series} series, 7 days at 5 min ({points} charts):"
                    f" drawn in best {min(loads):.0f} ms, median {statistics.median(loads):.0f} ms"
                    f" (target < 1500); metric-data fetch+JSON parse alone: best {min(base):.0f}"
                    f" ms, median {statistics.median(base):.0f} ms; ratio drawn/fetch"
                    f" {min(loads) / min(base):.2f}; fetch of the columnar answer the page reads:"
                    f" best {min(cols):.0f} ms, median {statistics.median(cols):.0f} ms;"
                    f" load average {load_avg[0]:.1f} {load_avg[1]:.1f} {load_avg[2]:.1f}"
                )
                page.add_init_script(LONGTASKS)
                for _ in range(args.zooms):
                    big_url = f"{vigil.url}/dashboards/bench-1m?from=now-7d"
                    tasks = first_draw_tasks(browser, page, big_url)
                    big = drawn_ms(page, big_url)
                    page.wait_for_timeout(300)  # long-task entries arrive after their task
                    first = page.evaluate("window.__long.slice()")
                    print(
                        f"1M-point graph, first draw: longest task {max(first, default=0):.0f} ms"
                        f" ({len(first)} over 50 ms); traced again, tasks over 10 ms of CPU"
                        " (wall / CPU ms): "
                        + ", ".join(f"{w:.0f} / {c:.0f} {what}" for w, c, what in tasks)
                        + f"; load average {os.getloadavg()[0]:.1f}"
                    )
                    page.evaluate("window.__long = []")
                    over = page.locator(".u-over").first
                    box = over.bounding_box()
                    assert box is not None
                    y = box["y"] + box["height"] / 2
                    for i in range(60):  # the cursor sweeps the graph
                        page.mouse.move(box["x"] + box["width"] * i / 60, y)
                    sweep = page.evaluate("window.__long.slice()")
                    page.evaluate("window.__long = []")
                    page.evaluate(
                        "document.querySelector('.dashboard').removeAttribute('data-drawn')"
                    )
                    started = time.monotonic()
                    page.mouse.move(box["x"] + box["width"] * 0.3, y)
                    page.mouse.down()
                    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=20)
                    page.mouse.up()
                    page.wait_for_selector(".dashboard[data-drawn]", timeout=120_000)
                    zoomed = (time.monotonic() - started) * 1000
                    zoom = page.evaluate("window.__long.slice()")
                    load_avg = os.getloadavg()
                    print(
                        f"1M-point graph ({args.big_series} series x 10,080 points): drawn in"
                        f" {big:.0f} ms; longest task while sweeping the cursor:"
                        f" {max(sweep, default=0):.0f} ms ({len(sweep)} over 50 ms);"
                        f" drag-zoom until the zoomed range's data is drawn: {zoomed:.0f} ms,"
                        f" longest task {max(zoom, default=0):.0f} ms ({len(zoom)} over 50 ms);"
                        f" load average {load_avg[0]:.1f}"
                    )
                browser.close()
        finally:
            vigil.stop()
    raw, gz = initial_js_gzip()
    print(f"initial JavaScript: {raw / 1024:.1f} KB, {gz / 1024:.1f} KB gzipped (target < 300)")


if __name__ == "__main__":
    main()
