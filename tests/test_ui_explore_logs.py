"""The logs explorer (/logs) as a person sees it: Debian's chromium on a vigil process, log
events put through boto3's PutLogEvents (JSON lines with levels and trace ids)."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import ConsoleLog
from tests.ui_data import client
from tests.vigil_process import VigilProcess

GROUP = "/explore/checkout"
BIG = "/explore/big"
LEVELS = ("INFO", "INFO", "INFO", "WARN", "ERROR")
EVENTS = 300
BIG_EVENTS = 10_000


@dataclass(frozen=True)
class Feed:
    trace_id: str
    errors: int
    stream: str


def _put(vigil: VigilProcess, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    logs = client(vigil, "logs")
    for i in range(0, len(events), 5000):
        logs.put_log_events(
            logGroupName=group, logStreamName=stream, logEvents=events[i : i + 5000]
        )


def _wait_count(vigil: VigilProcess, group: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.get(
            vigil.url + "/api/v1/logs/groups", params={"prefix": group}, timeout=30
        ).json()
        stored = {g["name"]: g["stored_events"] for g in r["log_groups"]}
        if stored.get(group, 0) >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"{group} did not reach {count} events")


@pytest.fixture(scope="module")
def feed(vigil: VigilProcess) -> Feed:
    logs = client(vigil, "logs")
    now_ms = int(time.time() * 1000)
    trace_id = os.urandom(16).hex()
    stream = "web-1"
    for group in (GROUP, BIG):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=14)
    events = []
    errors = 0
    for i in range(EVENTS):
        level = LEVELS[i % len(LEVELS)]
        errors += level == "ERROR"
        body: dict[str, Any] = {"level": level, "route": f"/cart/{i % 3}", "latency_ms": i % 50}
        body["message"] = f"request {i} served" if level != "ERROR" else f"payment {i} declined"
        if i == 150:
            body["trace_id"] = trace_id
            body["message"] = "payment with trace declined"
        ts = now_ms - (EVENTS - i) * 5000  # one every 5 s over the last 25 minutes
        events.append({"timestamp": ts, "message": json.dumps(body)})
    _put(vigil, GROUP, stream, events)
    big = [
        {"timestamp": now_ms - (BIG_EVENTS - i) * 100, "message": f"line {i:05d} of the big group"}
        for i in range(BIG_EVENTS)
    ]
    _put(vigil, BIG, stream, big)
    _wait_count(vigil, GROUP, EVENTS)
    _wait_count(vigil, BIG, BIG_EVENTS)
    return Feed(trace_id, errors, stream)


def logs_url(vigil: VigilProcess, groups: str, query: str, **extra: str) -> str:
    params = f"groups={quote(groups)}&query={quote(query)}"
    for k, v in extra.items():
        params += f"&{k}={quote(v)}"
    return f"{vigil.url}/logs?{params}"


def rows(page: Any) -> Any:
    return page.locator(".results-scroll [role=row]")


def test_run_a_query_shows_rows_and_histogram(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/logs?groups={quote(GROUP)}&from=now-1h")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Complete")
    table = page.get_by_role("table", name="Query results")
    expect(table).to_have_attribute("aria-rowcount", str(EVENTS + 1))
    assert page.get_by_role("columnheader").all_inner_texts()[:2] == ["@timestamp", "@message"]
    expect(rows(page).first).to_contain_text("payment 299 declined")  # newest first
    hist = page.get_by_role("region", name="Matching events over time")
    expect(hist).to_have_attribute("data-total", str(EVENTS))
    assert hist.locator("canvas").count() >= 1
    # The URL holds the view: the query and the groups.
    q = parse_qs(urlparse(page.url).query)
    assert q["groups"] == [GROUP]


def test_ctrl_enter_runs_the_edited_query(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/logs?groups={quote(GROUP)}&from=now-1h")
    editor = page.get_by_role("textbox", name="Query")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("filter level = 'ERROR' | stats count(*) as n")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"query=filter"))
    expect(page.get_by_role("columnheader")).to_have_text(["n"])
    expect(rows(page).first).to_contain_text(str(feed.errors))


def test_completion_offers_commands_functions_and_fields(
    page: Any, vigil: VigilProcess, feed: Feed
) -> None:
    page.goto(f"{vigil.url}/logs?groups={quote(GROUP)}&from=now-1h")
    # The group's fields (GetLogGroupFields) are listed once known.
    fields = page.get_by_role("complementary", name="Fields")
    expect(fields.get_by_role("button", name=re.compile("^latency_ms"))).to_be_visible()
    editor = page.get_by_role("textbox", name="Query")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("fil")
    listbox = page.locator(".cm-tooltip-autocomplete")
    listbox.get_by_role("option", name="filter").click()
    page.keyboard.type("lat")
    expect(listbox).to_contain_text("latency_ms")  # a field the group has (GetLogGroupFields)
    page.keyboard.press("Escape")
    page.keyboard.type(" > 1 | stats cou")
    expect(listbox).to_contain_text("count")
    # Highlighting: the command is a keyword token.
    expect(page.locator(".cm-content").get_by_text("filter", exact=True).first).to_have_css(
        "font-weight", "600"
    )


def test_a_syntax_error_is_underlined_at_its_position(
    page: Any, console: ConsoleLog, vigil: VigilProcess, feed: Feed
) -> None:
    console.expect(r"status of 400")
    page.goto(logs_url(vigil, GROUP, "fields @message | filtr level = 'x'", **{"from": "now-1h"}))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("column 19")
    mark = page.locator(".cm-lintRange-error")
    expect(mark).to_have_text("filtr")
    # The API says where: the offsets the editor used.
    r = httpx.post(
        vigil.url + "/api/v1/logs/insights",
        json={"query": "fields @message | filtr level = 'x'", "groups": [GROUP]},
        timeout=30,
    )
    assert r.status_code == 400
    assert (r.json()["error"]["start"], r.json()["error"]["end"]) == (18, 23)


def test_field_top_values_and_one_click_filter(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    # 20 rows loaded; the top values are counted over all 300 matching events.
    query = "fields @timestamp, @message, level | limit 20"
    page.goto(logs_url(vigil, GROUP, query, **{"from": "now-1h"}))
    expect(page.get_by_role("status")).to_contain_text("Complete")
    expect(page.get_by_role("table", name="Query results")).to_have_attribute("aria-rowcount", "21")
    sidebar = page.get_by_role("complementary", name="Fields")
    sidebar.get_by_role("button", name=re.compile(r"^level")).click()
    top = page.get_by_role("region", name="Top values of level")
    expect(top).to_contain_text(f"Top 3 of {EVENTS} events")
    expect(top.locator("li").first).to_contain_text("INFO")
    expect(top.locator("li", has_text="ERROR")).to_contain_text(str(feed.errors))
    assert feed.errors > 20
    top.get_by_role("button", name="Filter level = ERROR").click()
    page.wait_for_url(re.compile(r"filter\+level\+%3D|filter%20level%20%3D|filter\+level"))
    expect(page.get_by_role("table", name="Query results")).to_have_attribute("aria-rowcount", "21")
    expect(page.get_by_role("status")).to_contain_text("Complete")
    texts = rows(page).all_inner_texts()
    assert texts
    assert all("ERROR" in t for t in texts)
    expect(page.locator(".result-count")).to_contain_text(f"of {feed.errors} records matched")


def test_expand_a_row_shows_json_and_the_trace_link(
    page: Any, console: ConsoleLog, vigil: VigilProcess, feed: Feed
) -> None:
    console.expect(r"status of 404")  # the trace itself was never sent: only its log line
    page.goto(logs_url(vigil, GROUP, "filter @message like 'with trace'", **{"from": "now-1h"}))
    row = rows(page).first
    expect(row).to_contain_text("payment with trace declined")
    # Linked by the record's trace id field: in the message where it names it, and the
    # trace_id field's own cell.
    links = row.get_by_role("link", name=feed.trace_id)
    expect(links).to_have_count(2)
    assert {links.nth(i).get_attribute("href") for i in range(2)} == {f"/traces/{feed.trace_id}"}
    row.get_by_role("button", name="Expand row").click()
    details = page.get_by_role("region", name="Log event details")
    expect(details.locator(".json-key", has_text="latency_ms")).to_be_visible()
    details.get_by_role("button", name="Show full record").click()
    expect(details).to_contain_text("@logStream")
    page.get_by_role("link", name=feed.trace_id).first.click()
    page.wait_for_url(f"{vigil.url}/traces/{feed.trace_id}")
    expect(page.get_by_role("heading", name="Trace not found")).to_be_visible()


def test_ten_thousand_rows_stay_windowed(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(
        logs_url(
            vigil,
            BIG,
            "fields @timestamp, @message | sort @timestamp desc | limit 10000",
            **{"from": "now-1h"},
        )
    )
    table = page.get_by_role("table", name="Query results")
    expect(table).to_have_attribute("aria-rowcount", str(BIG_EVENTS + 1))
    assert rows(page).count() < 100  # only the rows on screen are in the page
    expect(rows(page).first).to_contain_text("line 09999")
    page.locator(".results-scroll").evaluate("e => e.scrollTop = e.scrollHeight")
    expect(rows(page).last).to_contain_text("line 00000")


def test_patterns_view(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(
        logs_url(vigil, GROUP, "filter level = 'ERROR'", tab="patterns", **{"from": "now-1h"})
    )
    headers = page.get_by_role("columnheader")
    expect(headers.first).to_have_text("@pattern")
    expect(rows(page).first).to_contain_text("declined")


def test_save_a_query_and_find_it_in_history(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(logs_url(vigil, GROUP, "filter level = 'WARN'", **{"from": "now-1h"}))
    expect(page.get_by_role("status")).to_contain_text("Complete")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_label("Query name").fill("warnings of checkout")
    page.get_by_role("button", name="Save query").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as")
    defs = client(vigil, "logs").describe_query_definitions()["queryDefinitions"]
    saved = [d for d in defs if d["name"] == "warnings of checkout"]
    assert saved
    assert saved[0]["queryString"] == "filter level = 'WARN'"
    assert saved[0]["logGroupNames"] == [GROUP]
    page.goto(f"{vigil.url}/logs?groups={quote(GROUP)}")
    page.get_by_role("button", name="Saved queries").click()
    page.get_by_role("list", name="Saved queries").get_by_role(
        "button", name="warnings of checkout"
    ).click()
    page.wait_for_url(re.compile(r"WARN"))
    page.get_by_role("button", name="History").click()
    expect(page.get_by_role("list", name="Query history")).to_contain_text("filter level = 'WARN'")


def test_group_picker_shows_retention_and_size(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/logs")
    picker = page.get_by_role("dialog", name="Choose log groups")
    page.get_by_label("Filter log groups").fill("/explore/")
    row = picker.locator("tr", has_text=GROUP)
    expect(row).to_contain_text("14 days")
    expect(row).to_contain_text(f"{EVENTS}")
    expect(row).to_contain_text(re.compile(r"\d+(\.\d)? KB"))
    row.get_by_role("checkbox").check()
    page.wait_for_url(re.compile(r"groups=%2Fexplore%2Fcheckout"))


def test_live_tail_shows_new_lines_and_pauses(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(f"{vigil.url}/logs?groups={quote(GROUP)}&tab=tail")
    state = page.get_by_role("status").filter(has_text="Live")
    expect(state).to_be_visible()
    lines = page.get_by_role("log", name="Tailed log lines")
    expect(lines.locator(".tail-line").first).to_be_visible()  # the newest lines first
    logs = client(vigil, "logs")
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=feed.stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "tail line one arrives"}],
    )
    expect(lines).to_contain_text("tail line one arrives", timeout=15_000)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status").filter(has_text="Paused")).to_be_visible()
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=feed.stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "tail line two waits"}],
    )
    page.wait_for_timeout(2500)
    expect(lines).not_to_contain_text("tail line two waits")
    page.get_by_role("button", name="Resume").click()
    expect(lines).to_contain_text("tail line two waits", timeout=15_000)


def test_a_missing_log_group_is_a_clear_message(
    page: Any, console: ConsoleLog, vigil: VigilProcess, feed: Feed
) -> None:
    console.expect(r"status of 404")  # the query may be refused before the group list is in
    page.goto(logs_url(vigil, "/no/such/group", "fields @message"))
    expect(page.get_by_role("alert")).to_contain_text("/no/such/group does not exist")


@pytest.fixture(scope="module")
def slow_vigil(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server whose Insights queries time out at once."""
    server = VigilProcess(
        tmp_path_factory.mktemp("timeout") / "data",
        "--no-self-metrics",
        "--insights-timeout",
        "0.001",
    ).start()
    yield server
    assert server.stop() == 0


def test_a_query_that_times_out_says_so(page: Any, slow_vigil: VigilProcess) -> None:
    logs = client(slow_vigil, "logs")
    logs.create_log_group(logGroupName="/slow")
    logs.create_log_stream(logGroupName="/slow", logStreamName="s")
    logs.put_log_events(
        logGroupName="/slow",
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}],
    )
    page.goto(logs_url(slow_vigil, "/slow", "fields @message | sort @timestamp desc"))
    expect(page.get_by_role("alert")).to_contain_text("timed out")


def test_drag_on_the_histogram_zooms_the_range(page: Any, vigil: VigilProcess, feed: Feed) -> None:
    page.goto(logs_url(vigil, GROUP, "fields @timestamp, @message", **{"from": "now-1h"}))
    hist = page.get_by_role("region", name="Matching events over time")
    expect(hist.locator(".u-over")).to_be_visible()
    total = int(hist.get_attribute("data-total"))
    assert total >= EVENTS  # (the live tail test adds lines)
    over = hist.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=8)
    page.mouse.up()
    page.wait_for_url(re.compile(r"from=\d+"))
    q = parse_qs(urlparse(page.url).query)
    assert 10 * 60_000 < int(q["to"][0]) - int(q["from"][0]) < 20 * 60_000  # a quarter hour
    table = page.get_by_role("table", name="Query results")
    expect(table).not_to_have_attribute("aria-rowcount", str(total + 1))
    rowcount = int(table.get_attribute("aria-rowcount"))
    assert 1 < rowcount < total + 1  # only the events of the zoomed window


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def stop_vigil(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server of its own, so that its CPU time is the long query's alone."""
    server = VigilProcess(tmp_path_factory.mktemp("stop") / "data", "--no-self-metrics").start()
    yield server
    assert server.stop() == 0


def test_stop_ends_a_long_query_in_the_page_and_on_the_server(
    page: Any, stop_vigil: VigilProcess
) -> None:
    logs = client(stop_vigil, "logs")
    logs.create_log_group(logGroupName="/long")
    logs.create_log_stream(logGroupName="/long", logStreamName="s")
    now_ms = int(time.time() * 1000)
    items = json.dumps({"items": list(range(100))})
    logs.put_log_events(
        logGroupName="/long",
        logStreamName="s",
        logEvents=[{"timestamp": now_ms - 1000 + i, "message": items} for i in range(50)],
    )
    _wait_count(stop_vigil, "/long", 50)
    # 50 events x 100^4 combinations: billions of rows to sum, far longer than the test.
    query = (
        "unnest items into a | unnest items into b | unnest items into c"
        " | unnest items into d | stats sum(a * b - c * d) as s"
    )
    page.goto(logs_url(stop_vigil, "/long", query, **{"from": "now-1h"}))
    status = page.get_by_role("status")
    expect(status).to_have_text("Running…")
    page.wait_for_timeout(1000)
    expect(status).to_have_text("Running…")
    assert stop_vigil.proc is not None
    pid = stop_vigil.proc.pid
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(status).to_contain_text(re.compile(r"Stopped after \d+\.\d s"))
    expect(page.locator(".logs-main")).to_contain_text("The query was stopped after")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    # StopQuery's semantics on the server: the query is Cancelled ...
    described = logs.describe_queries(logGroupName="/long")["queries"]
    assert [q["status"] for q in described if q["queryString"] == query] == ["Cancelled"]
    # ... and its statement no longer runs: the server goes idle (it burnt a core before).
    page.wait_for_timeout(500)
    before = _cpu_seconds(pid)
    page.wait_for_timeout(2000)
    assert _cpu_seconds(pid) - before < 0.3
