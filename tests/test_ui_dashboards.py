"""The dashboards as a person sees them: headless Chromium (Debian's) on a vigil process,
the design's two dashboards created through boto3 ``put_dashboard`` with data behind them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser import ConsoleLog
from tests.ui_data import ERRORS, FRESHNESS, HEALTH, Design, client, feed
from tests.vigil_process import VigilProcess
from vigil import demo_dashboards as design_dashboards

PLATFORM = "/dashboards/DataPipeline-Platform"
BUSINESS = "/dashboards/DataPipeline-Business"


@pytest.fixture(scope="module")
def design(vigil: VigilProcess) -> Design:
    return feed(vigil)


def widget(page: Any, title: str) -> Any:
    return page.locator("section.widget", has=page.locator(".widget-title", has_text=title))


def legend(w: Any) -> list[str]:
    return [
        t.strip()
        for t in w.locator(".u-legend .u-series:not(:first-child) .u-label").all_inner_texts()
    ]


def open_dashboard(page: Any, vigil: VigilProcess, path: str) -> None:
    page.goto(vigil.url + path)
    page.locator(".u-legend").first.wait_for()


def test_platform_dashboard_shows_the_design(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    open_dashboard(page, vigil, PLATFORM)
    titles = page.locator(".widget-title").all_inner_texts()
    for title in (
        "Lambda Duration and Errors",
        "Pipeline Records and Data Quality",
        "System Health",
        "Recent Errors",
    ):
        assert title in titles
    lam = widget(page, "Lambda Duration and Errors")
    assert lam.locator(".axis-left").inner_text() == "Duration (ms)"
    assert lam.locator(".axis-right").inner_text() == "Errors"
    assert legend(lam) == ["Duration", "Errors"]
    pipe = widget(page, "Pipeline Records and Data Quality")
    assert legend(pipe) == ["Records processed", "Data quality score"]
    assert pipe.locator(".axis-right").inner_text() == "Score (%)"
    health = widget(page, "System Health")
    assert health.locator(".single-label").inner_text() == "Health score"
    assert health.locator(".single-number").inner_text().replace("\xa0", " ") == f"{HEALTH} %"
    assert health.locator("svg.sparkline polyline").count() == 1
    errors = widget(page, "Recent Errors")
    errors.locator("tbody tr").first.wait_for()
    assert errors.locator("thead th").all_inner_texts() == ["@timestamp", "@message"]
    messages = errors.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert len(messages) == len(ERRORS)
    for text in ERRORS:
        assert any(text in m for m in messages)
    # The markdown widget renders as text, not as source.
    assert page.locator(".markdown h2").inner_text() == "Data pipeline — platform"


def test_business_dashboard_shows_the_design(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    open_dashboard(page, vigil, BUSINESS)
    cost = widget(page, "Cost per Record")
    assert legend(cost) == ["Cost per record", "Total cost"]
    assert cost.locator(".axis-left").inner_text() == "USD per record"
    assert cost.locator(".axis-right").inner_text() == "USD"
    assert legend(widget(page, "Revenue Impact")) == ["Revenue impact"]
    fresh = widget(page, "Data Freshness")
    assert fresh.locator(".single-number").inner_text().replace("\xa0", " ") == f"{FRESHNESS:g} min"


def test_time_range_change_requests_the_new_range(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    open_dashboard(page, vigil, PLATFORM)
    assert page.get_by_test_id("range-text").inner_text() == "Last 3h"
    with page.expect_request(lambda r: r.url.endswith("/api/v1/dashboards/metric-data")) as req:
        page.get_by_role("button", name="1h", exact=True).click()
    sent = json.loads(req.value.post_data)
    assert (int(sent["end"]) - int(sent["start"])) == pytest.approx(3600_000, abs=5000)
    assert parse_qs(urlparse(page.url).query)["from"] == ["now-1h"]
    assert page.get_by_test_id("range-text").inner_text() == "Last 1h"
    assert page.get_by_role("button", name="1h", exact=True).get_attribute("aria-pressed") == "true"
    # The URL is the view: opening it again shows the same range.
    page.goto(page.url)
    assert page.get_by_test_id("range-text").inner_text() == "Last 1h"


def test_drag_zooms_into_the_range(page: Any, vigil: VigilProcess, design: Design) -> None:
    open_dashboard(page, vigil, PLATFORM + "?from=now-1h&tz=UTC")
    over = widget(page, "Lambda Duration and Errors").locator(".u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
    page.mouse.up()
    page.wait_for_url(re.compile(r"from=\d+"))
    q = parse_qs(urlparse(page.url).query)
    start, end = int(q["from"][0]), int(q["to"][0])
    assert 10 * 60_000 < end - start < 20 * 60_000  # a quarter of the hour
    assert "→" in page.get_by_test_id("range-text").inner_text()
    page.locator(".u-legend").first.wait_for()


def test_zoom_redraws_at_once_then_swaps_in_the_finer_data(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    # The zoomed range is drawn at once from the data in memory (the same chart, a series
    # hidden in its legend stays hidden), while the zoomed range's data is on its way.
    open_dashboard(page, vigil, PLATFORM + "?from=now-1h&tz=UTC")
    lam = widget(page, "Lambda Duration and Errors")
    chart = lam.locator(".chart")
    before = chart.get_attribute("aria-label") or ""
    assert re.fullmatch(r"Chart from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d to .+", before)
    lam.locator(".u-legend .u-series", has_text="Errors").click()
    held: list[Any] = []
    page.route("**/api/v1/dashboards/metric-data", lambda route: held.append(route))
    box = lam.locator(".u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
    page.mouse.up()
    page.wait_for_url(re.compile(r"from=\d+"))
    q = parse_qs(urlparse(page.url).query)
    start, end = int(q["from"][0]), int(q["to"][0])
    zoomed = (
        f"Chart from {datetime.fromtimestamp(start / 1000, UTC):%Y-%m-%d %H:%M:%S}"
        f" to {datetime.fromtimestamp(end / 1000, UTC):%Y-%m-%d %H:%M:%S}"
    )
    expect(chart).to_have_attribute("aria-label", zoomed)  # the request is still held
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(25)
    assert held, "the zoomed range's data is requested"
    assert held[0].request.headers.get("accept") == "application/vnd.vigil.columns"
    page.evaluate("document.querySelector('.dashboard').removeAttribute('data-drawn')")
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/dashboards/metric-data")
    page.wait_for_function("() => document.querySelector('.dashboard')?.hasAttribute('data-drawn')")
    expect(chart).to_have_attribute("aria-label", zoomed)
    errors = lam.locator(".u-legend .u-series", has_text="Errors")
    assert "u-off" in (errors.get_attribute("class") or "")  # the same chart, not rebuilt
    # Room on the right for the last time label (uPlot's own 25 px clipped it).
    room = page.evaluate(
        """(el) => el.querySelector('canvas').getBoundingClientRect().right
            - el.querySelector('.u-over').getBoundingClientRect().right""",
        lam.locator(".chart").element_handle(),
    )
    assert room >= 24


def test_legend_toggles_a_series(page: Any, vigil: VigilProcess, design: Design) -> None:
    open_dashboard(page, vigil, PLATFORM)
    lam = widget(page, "Lambda Duration and Errors")
    errors = lam.locator(".u-legend .u-series", has_text="Errors")
    assert "u-off" not in (errors.get_attribute("class") or "")
    errors.click()
    assert "u-off" in (errors.get_attribute("class") or "")
    errors.click()
    assert "u-off" not in (errors.get_attribute("class") or "")


def test_theme_switch(page: Any, vigil: VigilProcess, design: Design) -> None:
    open_dashboard(page, vigil, PLATFORM)
    html, body = page.locator("html"), page.locator("body")
    page.get_by_role("button", name="Switch to dark theme").click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(body).to_have_css("background-color", "rgb(17, 20, 23)")
    page.locator(".u-legend").first.wait_for()  # the charts are drawn again
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")  # kept in the browser
    page.get_by_role("button", name="Switch to light theme").click()
    expect(body).to_have_css("background-color", "rgb(244, 245, 247)")


def test_point_opens_logs_and_traces_of_its_minute(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    start = design.now - timedelta(minutes=30)
    end = design.now

    def ms(t: datetime) -> int:
        return int(t.timestamp() * 1000)

    open_dashboard(page, vigil, f"{PLATFORM}?from={ms(start)}&to={ms(end)}&tz=UTC")
    over = widget(page, "Lambda Duration and Errors").locator(".u-over")
    box = over.bounding_box()
    frac = (ms(design.point) - ms(start)) / (ms(end) - ms(start))
    page.mouse.click(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
    panel = page.get_by_role("complementary", name="Logs and traces of this minute")
    panel.wait_for()
    assert design.point.strftime("%H:%M:00") in panel.locator("h2").inner_text()
    logs = panel.locator(".panel-logs li")
    logs.first.wait_for()
    texts = logs.all_inner_texts()
    for text in ERRORS:
        assert any(text in t for t in texts)
    traces = panel.locator(".panel-traces li")
    traces.first.wait_for()
    # The server is shared by the session's tests: another module's traces may fall in
    # this minute too, so the design's traces must all be listed, not be the only ones.
    hrefs = {traces.nth(i).locator("a").get_attribute("href") for i in range(traces.count())}
    assert {f"/traces/{t}" for t in design.trace_ids} <= hrefs
    page.get_by_role("button", name="Close panel").click()
    assert panel.count() == 0


def test_missing_dashboard_is_a_clear_page(
    page: Any, console: ConsoleLog, vigil: VigilProcess
) -> None:
    console.expect(r"404")
    page.goto(vigil.url + "/dashboards/no-such-dashboard")
    page.get_by_role("heading", name="Dashboard not found").wait_for()
    assert "no-such-dashboard" in page.get_by_role("alert").inner_text()
    page.get_by_role("link", name="See all dashboards").click()
    page.wait_for_url(vigil.url + "/dashboards")
    page.get_by_role("heading", name="Dashboards").wait_for()


def test_a_failing_widget_shows_its_error_and_the_rest_render(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    good = [design_dashboards.LAMBDA_NAMESPACE, "Duration", "FunctionName", "data-processor"]
    body = {
        "widgets": [
            {"type": "metric", "width": 12, "properties": {"title": "Good", "metrics": [good]}},
            {
                "type": "metric",
                "width": 12,
                "properties": {
                    "title": "Broken",
                    "metrics": [[{"expression": "m1 +* 2", "id": "e1"}]],
                },
            },
        ]
    }
    client(vigil, "cloudwatch").put_dashboard(
        DashboardName="ui-broken", DashboardBody=json.dumps(body)
    )
    open_dashboard(page, vigil, "/dashboards/ui-broken")
    assert legend(widget(page, "Good")) == ["Duration data-processor"]
    alert = widget(page, "Broken").get_by_role("alert")
    assert "e1" in alert.inner_text()


def test_dashboard_list_and_home(page: Any, vigil: VigilProcess, design: Design) -> None:
    page.goto(vigil.url + "/")
    page.get_by_role("heading", name="Send sample data").wait_for()
    page.get_by_role("link", name="DataPipeline-Business").click()
    page.wait_for_url(vigil.url + BUSINESS)
    page.locator(".u-legend").first.wait_for()
    page.get_by_role("link", name="Dashboards", exact=True).click()
    page.get_by_role("link", name="DataPipeline-Platform").wait_for()
    assert page.url == vigil.url + "/dashboards"


def test_edit_json_validates_then_saves(
    page: Any, console: ConsoleLog, vigil: VigilProcess, design: Design
) -> None:
    console.expect(r"status of 400")  # the refused save
    body = {"widgets": [{"type": "text", "properties": {"markdown": "# Before"}}]}
    client(vigil, "cloudwatch").put_dashboard(
        DashboardName="ui-edit", DashboardBody=json.dumps(body)
    )
    page.goto(vigil.url + "/dashboards/ui-edit")
    page.get_by_role("button", name="Edit JSON").click()
    editor = page.get_by_role("textbox", name="Dashboard body")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text('{"widgets": 3}')
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("dialog", name="Edit dashboard JSON").get_by_role("alert")
    assert "/widgets: Should be array" in alert.inner_text()
    stored = client(vigil, "cloudwatch").get_dashboard(DashboardName="ui-edit")
    assert json.loads(stored["DashboardBody"]) == body
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(
        '{"widgets": [{"type": "text", "properties": {"markdown": "# After"}}]}'
    )
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="After").wait_for()
    assert "edit=" not in page.url
    stored = client(vigil, "cloudwatch").get_dashboard(DashboardName="ui-edit")
    assert "# After" in stored["DashboardBody"]


def test_keyboard_only(page: Any, vigil: VigilProcess, design: Design) -> None:
    open_dashboard(page, vigil, PLATFORM)
    # The range presets and the legend entries are reachable with Tab and work with keys.
    one_hour = page.get_by_role("button", name="1h", exact=True)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "1h":
            break
    assert one_hour.evaluate("e => e === document.activeElement")
    with page.expect_response(lambda r: r.url.endswith("/metric-data")):
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"from=now-1h"))
    lam = widget(page, "Lambda Duration and Errors")
    lam.locator(".u-legend").wait_for()
    errors = lam.get_by_role("button", name=re.compile("^Errors"))
    errors.focus()
    page.keyboard.press("Space")
    expect(errors).to_have_attribute("aria-pressed", "false")
    expect(errors).to_have_class(re.compile("u-off"))
    page.keyboard.press("Enter")
    expect(errors).to_have_attribute("aria-pressed", "true")


def test_property_variable_changes_every_metric(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    row = [design_dashboards.LAMBDA_NAMESPACE, "Duration", "FunctionName", "data-processor"]
    body = {
        "variables": [
            {
                "type": "property",
                "property": "FunctionName",
                "inputType": "select",
                "id": "fn",
                "label": "Function",
                "defaultValue": "data-processor",
                "values": [{"value": "data-processor"}, {"value": "no-such-function"}],
            }
        ],
        "widgets": [{"type": "metric", "properties": {"title": "Latency", "metrics": [row]}}],
    }
    client(vigil, "cloudwatch").put_dashboard(
        DashboardName="ui-vars", DashboardBody=json.dumps(body)
    )
    open_dashboard(page, vigil, "/dashboards/ui-vars")
    assert legend(widget(page, "Latency")) == ["Duration data-processor"]
    page.get_by_label("Function").select_option("no-such-function")
    page.wait_for_url(re.compile(r"var\.fn=no-such-function"))
    widget(page, "Latency").get_by_text("No data available.").wait_for()
    page.go_back()
    widget(page, "Latency").locator(".u-legend").wait_for()
    assert legend(widget(page, "Latency")) == ["Duration data-processor"]


def test_full_screen_widget(page: Any, vigil: VigilProcess, design: Design) -> None:
    open_dashboard(page, vigil, PLATFORM)
    page.get_by_role("button", name="Full screen: Lambda Duration and Errors").click()
    full = page.get_by_role("dialog", name="Full-screen widget")
    full.locator(".u-legend").wait_for()
    assert full.locator(".widget-title").inner_text() == "Lambda Duration and Errors"
    assert full.locator(".u-over").bounding_box()["height"] > 400
    assert "widget=1" in page.url
    page.keyboard.press("Escape")
    full.wait_for(state="detached")
    assert "widget=" not in page.url


def test_log_widget_as_time_series(page: Any, vigil: VigilProcess, design: Design) -> None:
    query = (
        f"SOURCE '{design_dashboards.ERROR_LOG_GROUP}' | filter level = 'ERROR'"
        " | stats count(*) as errors by bin(1m)"
    )
    body = {
        "widgets": [
            {
                "type": "log",
                "width": 24,
                "height": 6,
                "properties": {"title": "Errors per minute", "query": query, "view": "timeSeries"},
            }
        ]
    }
    client(vigil, "cloudwatch").put_dashboard(
        DashboardName="ui-logchart", DashboardBody=json.dumps(body)
    )
    page.goto(vigil.url + "/dashboards/ui-logchart")
    chart = widget(page, "Errors per minute")
    chart.locator(".u-legend").wait_for()
    assert legend(chart) == ["errors"]


def test_alarm_widget_shows_each_alarms_state(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    cw = client(vigil, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName="ui-lambda-errors",
        Namespace=design_dashboards.LAMBDA_NAMESPACE,
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": design_dashboards.FUNCTION}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        # ALARM however the engine evaluates it meanwhile (every value, or none, breaches).
        Threshold=0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching",
    )
    cw.set_alarm_state(AlarmName="ui-lambda-errors", StateValue="ALARM", StateReason="test")
    arn = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:"
    body = {
        "widgets": [
            {
                "type": "alarm",
                "properties": {
                    "title": "Alarms",
                    "alarms": [arn + "ui-lambda-errors", arn + "ui-no-such-alarm"],
                },
            }
        ]
    }
    cw.put_dashboard(DashboardName="ui-alarms", DashboardBody=json.dumps(body))
    page.goto(vigil.url + "/dashboards/ui-alarms")
    alarms = widget(page, "Alarms")
    firing = alarms.locator("li", has_text="ui-lambda-errors").locator(".alarm-state")
    expect(firing).to_have_text("ALARM")
    missing = alarms.locator("li", has_text="ui-no-such-alarm").locator(".alarm-state")
    expect(missing).to_have_text("NOT FOUND")
    # The home page lists it among the firing alarms.
    page.goto(vigil.url + "/")
    expect(page.locator(".home .alarm", has_text="ui-lambda-errors")).to_be_visible()


def test_hover_shows_a_tooltip_and_moves_every_crosshair(
    page: Any, vigil: VigilProcess, design: Design
) -> None:
    open_dashboard(page, vigil, PLATFORM + "?from=now-1h&tz=UTC")
    lam = widget(page, "Lambda Duration and Errors")
    pipe = widget(page, "Pipeline Records and Data Quality")
    pipe.locator(".u-legend").wait_for()
    box = lam.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    tip = lam.get_by_role("tooltip")
    expect(tip).to_be_visible()
    assert "Duration:" in tip.inner_text()
    # The other graph's crosshair follows: its legend shows the same time.
    time_here = lam.locator(".u-legend .u-series:first-child .u-value").inner_text()
    assert time_here != "--"
    expect(pipe.locator(".u-legend .u-series:first-child .u-value")).to_have_text(time_here)
    assert pipe.get_by_role("tooltip").is_hidden()
