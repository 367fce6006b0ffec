"""The traces explorer (/traces, /traces/{id}, /service-map) as a person sees it: Debian's
chromium on a vigil process; spans and logs sent as OTLP/HTTP JSON, an X-Ray segment with
annotations and metadata through boto3's PutTraceSegments."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import ConsoleLog
from tests.ui_data import client
from tests.vigil_process import VigilProcess

BIG_SPANS = 10_000


@dataclass(frozen=True)
class Feed:
    checkout: str  # frontend -> checkout -> payments (fails), with logs
    big: str  # 10,000 spans
    xray: str  # an X-Ray segment with annotations and metadata
    slow: list[str]  # traces for the scatter


def _span(
    trace: str,
    span: str,
    name: str,
    kind: int,
    start_ns: int,
    dur_ms: float,
    parent: str = "",
    error: bool = False,
    events: list[dict[str, Any]] | None = None,
    attrs: dict[str, str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(dur_ms * 1e6)),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()],
        "events": events or [],
    }
    if parent:
        out["parentSpanId"] = parent
    if error:
        out["status"] = {"code": 2, "message": "card declined"}
    return out


def _post(vigil: VigilProcess, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{vigil.otlp_http_url}{path}", json=body, timeout=60).raise_for_status()


def _spans(vigil: VigilProcess, service: str, spans: list[dict[str, Any]]) -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    for i in range(0, len(spans), 2000):
        _post(
            vigil,
            "/v1/traces",
            {
                "resourceSpans": [
                    {"resource": resource, "scopeSpans": [{"spans": spans[i : i + 2000]}]}
                ]
            },
        )


def _sid() -> str:
    return os.urandom(8).hex()


@pytest.fixture(scope="module")
def feed(vigil: VigilProcess) -> Feed:
    now = time.time_ns()
    # A checkout: frontend calls checkout, which calls payments; payments fails.
    checkout = os.urandom(16).hex()
    t0 = now - 10 * 60 * 10**9
    root, call, srv, pay_call, pay, db = (_sid() for _ in range(6))
    exception = {
        "name": "exception",
        "timeUnixNano": str(t0 + 80_000_000),
        "attributes": [
            {"key": "exception.type", "value": {"stringValue": "CardDeclined"}},
            {"key": "exception.message", "value": {"stringValue": "the card was declined"}},
        ],
    }
    _spans(
        vigil,
        "uiex-frontend",
        [
            _span(checkout, root, "GET /checkout", 2, t0, 120, attrs={"http.route": "/checkout"}),
            _span(
                checkout,
                call,
                "POST checkout",
                3,
                t0 + 5_000_000,
                100,
                root,
                attrs={"server.address": "uiex-checkout"},
            ),
        ],
    )
    _spans(
        vigil,
        "uiex-checkout",
        [
            _span(checkout, srv, "POST /orders", 2, t0 + 10_000_000, 90, call),
            _span(
                checkout,
                db,
                "SELECT orders",
                3,
                t0 + 30_000_000,
                8,
                srv,
                attrs={"db.system": "postgresql"},
            ),
            _span(
                checkout,
                pay_call,
                "POST payments",
                3,
                t0 + 25_000_000,
                70,
                srv,
                attrs={"server.address": "uiex-payments"},
            ),
        ],
    )
    _spans(
        vigil,
        "uiex-payments",
        [
            _span(
                checkout,
                pay,
                "POST /charge",
                2,
                t0 + 30_000_000,
                60,
                pay_call,
                error=True,
                events=[exception],
            )
        ],
    )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "uiex-payments"}}]}
    records = [
        {
            "timeUnixNano": str(t0 + 40_000_000),
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "charge refused by the bank"},
            "traceId": checkout,
            "spanId": pay,
        }
    ]
    _post(
        vigil,
        "/v1/logs",
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]},
    )
    # A trace of 10,000 spans: a root, 100 children, each with 99 children.
    big = os.urandom(16).hex()
    t1 = now - 5 * 60 * 10**9
    root_id = _sid()
    spans = [_span(big, root_id, "batch", 2, t1, 5000)]
    for c in range(100):
        cid = _sid()
        cstart = t1 + c * 45_000_000
        spans.append(_span(big, cid, f"chunk {c}", 1, cstart, 45, root_id))
        spans += [
            _span(big, _sid(), f"item {c}.{k}", 1, cstart + k * 400_000, 0.4, cid)
            for k in range(99)
        ]
    _spans(vigil, "bulk", spans)
    # Traces of varied durations for the scatter, one with an error.
    slow = []
    for k in range(8):
        tid = os.urandom(16).hex()
        slow.append(tid)
        _spans(
            vigil,
            "search",
            [
                _span(
                    tid,
                    _sid(),
                    "GET /search",
                    2,
                    now - (20 - k) * 60 * 10**9,
                    50 * (k + 1),
                    error=k == 7,
                )
            ],
        )
    # An X-Ray segment with annotations and metadata.
    xray = os.urandom(16).hex()
    seg_id = _sid()
    start = (now - 3 * 60 * 10**9) / 1e9
    doc = {
        "name": "ledger",
        "id": seg_id,
        "trace_id": f"1-{xray[:8]}-{xray[8:]}",
        "start_time": start,
        "end_time": start + 0.25,
        "annotations": {"tier": "gold", "retries": 2},
        "metadata": {"default": {"order": {"items": 3, "currency": "EUR"}}},
    }
    client(vigil, "xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ok = all(
            httpx.get(f"{vigil.url}/api/v1/traces/{t}?logs=false", timeout=60).status_code == 200
            for t in (checkout, big, xray, slow[-1])
        )
        if (
            ok
            and httpx.get(f"{vigil.url}/api/v1/traces/{big}?logs=false", timeout=60).json()[
                "span_count"
            ]
            == BIG_SPANS
        ):
            break
        time.sleep(0.5)
    return Feed(checkout, big, xray, slow)


def test_search_by_service_shows_the_scatter_and_opens_a_trace(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    page.goto(f"{vigil.url}/traces?service=search&from=now-1h")
    table = page.get_by_role("table", name="Traces")
    expect(table.locator("tbody tr")).to_have_count(len(feed.slow))
    dots = page.locator(".scatter circle")
    expect(dots).to_have_count(len(feed.slow))
    expect(page.locator(".scatter circle.error")).to_have_count(1)
    slowest = page.get_by_role("link", name=re.compile(f"^Trace {feed.slow[-1]}"))
    slowest.click()
    page.wait_for_url(f"{vigil.url}/traces/{feed.slow[-1]}")
    expect(page.get_by_test_id("trace-summary")).to_contain_text("400 ms")


def test_search_by_filter_expression_and_by_errors(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    page.goto(f"{vigil.url}/traces?from=now-1h")
    page.get_by_role("tab", name="Filter expression").click()
    page.get_by_label("X-Ray filter expression").fill('service("search") AND responsetime > 0.3')
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"filter="))
    table = page.get_by_role("table", name="Traces")
    expect(table.locator("tbody tr")).to_have_count(2)  # 350 ms and 400 ms
    page.get_by_role("tab", name="Service and duration").click()
    page.get_by_label("Errors only").check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"error=1"))
    rows = table.locator("tbody tr")
    expect(rows.filter(has_text="uiex-payments")).to_have_count(1)
    expect(rows.filter(has_text="GET /search")).to_have_count(1)


def test_a_bad_filter_expression_says_why(
    page: Any, console: ConsoleLog, vigil: VigilProcess, feed: Feed
) -> None:
    console.expect(r"status of 400")
    page.goto(f"{vigil.url}/traces?filter=service(&from=now-1h")
    expect(page.get_by_role("alert")).to_contain_text("expected a service name")


def test_the_waterfall_details_critical_path_and_logs(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    page.goto(f"{vigil.url}/traces/{feed.checkout}")
    grid = page.get_by_role("grid", name="Spans")
    expect(grid).to_have_attribute("aria-rowcount", "6")
    expect(page.get_by_test_id("trace-summary")).to_contain_text("3 services")
    failing = grid.locator(".span-row.error")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("POST /charge")
    # The critical path runs root → call → server → payments call → charge; the query ran
    # beside the payments call, so nothing waited for it.
    critical = grid.locator(".span-row.critical").all_inner_texts()
    assert any("POST /charge" in t for t in critical)
    assert not any("SELECT orders" in t for t in critical)
    failing.get_by_role("button", name=re.compile("charge")).click()
    details = page.get_by_role("complementary", name="Span details")
    expect(details).to_contain_text("CardDeclined")
    expect(details).to_contain_text("the card was declined")
    expect(details).to_contain_text("critical path")
    assert "span=" in page.url
    logs = page.get_by_role("list", name="Logs of this trace")
    expect(logs).to_contain_text("charge refused by the bank")
    summary = page.get_by_test_id("trace-summary")
    expect(summary).to_contain_text(re.compile(r"· 1 error$"))  # not "1 errors"
    # Collapse the checkout server span: its subtree goes, and comes back.
    grid.get_by_role("button", name="Collapse POST /orders").click()
    expect(grid).to_have_attribute("aria-rowcount", "3")
    grid.get_by_role("button", name="Expand POST /orders").click()
    expect(grid).to_have_attribute("aria-rowcount", "6")


def test_x_ray_annotations_and_metadata(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/traces/{feed.xray}")
    page.get_by_role("grid", name="Spans").get_by_role("button", name=re.compile("ledger")).click()
    details = page.get_by_role("complementary", name="Span details")
    expect(details.locator("section", has_text="Annotations")).to_contain_text("gold")
    expect(details.locator("section", has_text="Metadata")).to_contain_text("currency")


def test_ten_thousand_spans_open_and_expand_without_a_long_frame(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    page.goto(f"{vigil.url}/traces/{feed.big}")
    grid = page.get_by_role("grid", name="Spans")
    expect(grid).to_have_attribute("aria-rowcount", str(BIG_SPANS))
    assert grid.locator(".span-row").count() < 120  # only the rows on screen
    page.evaluate(
        """() => { window.__long = [];
        new PerformanceObserver((l) =>
          l.getEntries().forEach((e) => window.__long.push(e.duration))
        ).observe({ type: "longtask" }); }"""
    )

    def timed_click(name: str) -> float:
        return float(
            page.evaluate(
                """(name) => new Promise((done) => {
                const b = [...document.querySelectorAll('[aria-label]')]
                  .find((e) => e.getAttribute('aria-label') === name);
                const t0 = performance.now();
                b.click();
                requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0)));
            })""",
                name,
            )
        )

    collapse = timed_click("Collapse batch")
    expect(grid).to_have_attribute("aria-rowcount", "1")
    expand = timed_click("Expand batch")
    expect(grid).to_have_attribute("aria-rowcount", str(BIG_SPANS))
    grid.get_by_role("button", name="Collapse chunk 0").click()
    expect(grid).to_have_attribute("aria-rowcount", str(BIG_SPANS - 99))
    page.locator(".waterfall-scroll").evaluate("e => e.scrollTop = e.scrollHeight")
    last = grid.locator(f'.span-row[aria-rowindex="{BIG_SPANS - 99}"]')
    expect(last).to_contain_text("item 99.")  # the last row, now on screen
    # Generous for a loaded 2-core machine; a frozen page takes seconds.
    assert collapse < 500, collapse
    assert expand < 500, expand
    longest = max(page.evaluate("window.__long"), default=0)
    assert longest < 500, longest


def test_unknown_and_malformed_trace_ids_are_clear(
    page: Any, console: ConsoleLog, vigil: VigilProcess
) -> None:
    console.expect(r"status of 404")
    console.expect(r"status of 400")
    unknown = os.urandom(16).hex()
    page.goto(f"{vigil.url}/traces/{unknown}")
    expect(page.get_by_role("heading", name="Trace not found")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(unknown)
    page.goto(f"{vigil.url}/traces/not-a-trace")
    expect(page.get_by_role("heading", name="This trace cannot be shown")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("32 hex digits")


def test_service_map_nodes_edges_and_click(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/service-map?from=now-1h")
    svg = page.get_by_role("img", name="Service map")
    expect(svg.get_by_role("link", name=re.compile(r"^uiex-payments:"))).to_be_visible(
        timeout=30_000
    )
    payments = svg.get_by_role("link", name=re.compile(r"^uiex-payments:"))
    assert "100.0% errors" in payments.get_attribute("aria-label")
    expect(payments).to_have_class(re.compile(r"\bbad\b"))
    expect(svg.get_by_role("link", name=re.compile(r"^uiex-frontend:"))).to_have_class(
        re.compile(r"\bok\b")
    )
    edge = svg.locator("[data-edge]", has_text="p99")
    assert edge.count() >= 2
    checkout = svg.get_by_role("link", name=re.compile(r"^uiex-checkout:"))
    checkout.click()
    page.wait_for_url(re.compile(r"/traces\?.*service=uiex-checkout"))
    expect(page.get_by_role("table", name="Traces").locator("tbody tr")).to_have_count(1)


def test_the_trace_s_logs_open_in_the_explorer_by_the_trace_id_field(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    # The OTLP record's body does not name its trace: the trace id is the record's field.
    page.goto(f"{vigil.url}/traces/{feed.checkout}")
    expect(page.get_by_role("list", name="Logs of this trace")).to_contain_text(
        "charge refused by the bank"
    )
    page.get_by_role("link", name="Logs explorer").click()
    page.wait_for_url(re.compile(r"/logs\?"))
    assert f'filter @traceId = "{feed.checkout}"' in page.evaluate(
        "new URLSearchParams(location.search).get('query')"
    )
    expect(page.get_by_role("status")).to_contain_text("Complete")
    table = page.get_by_role("table", name="Query results")
    expect(table).to_have_attribute("aria-rowcount", "2")
    row = page.locator(".results-scroll [role=row]").first
    expect(row).to_contain_text("charge refused by the bank")
    # The row links to its trace through that field.
    link = row.get_by_role("link", name=feed.checkout).first
    assert link.get_attribute("href") == f"/traces/{feed.checkout}"
    link.click()
    page.wait_for_url(f"{vigil.url}/traces/{feed.checkout}")
    expect(page.get_by_role("grid", name="Spans")).to_have_attribute("aria-rowcount", "6")
