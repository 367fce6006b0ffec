"""The metrics explorer, alarms and incidents pages as a person uses them: headless
Chromium (Debian's) on a vigil process, data through boto3 (PutMetricData, alarms, SNS)
and /api/v1. No test sleeps: alarm states come from SetAlarmState, not from waiting for
evaluation rounds; screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import ConsoleLog
from tests.notify_receivers import HttpReceiver
from tests.ui_data import client
from tests.vigil_process import VigilProcess

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class Metrics:
    def __init__(self, ns: str, now: datetime) -> None:
        self.ns, self.now = ns, now


@pytest.fixture(scope="module")
def data(vigil: VigilProcess) -> Metrics:
    """An hour of a latency metric on two hosts, one spike in the last hour on host a."""
    ns = f"UiTest/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw = client(vigil, "cloudwatch")
    points: list[dict[str, Any]] = []
    for m in range(1, 61):
        for host, base in (("a", 100.0), ("b", 50.0)):
            value = base + (m % 5) + (400.0 if host == "a" and m == 20 else 0.0)
            points.append(
                {
                    "MetricName": "Latency",
                    "Dimensions": [{"Name": "Host", "Value": host}],
                    "Timestamp": now - timedelta(minutes=m),
                    "Value": value,
                    "Unit": "Milliseconds",
                }
            )
    for i in range(0, len(points), 500):
        cw.put_metric_data(Namespace=ns, MetricData=points[i : i + 500])
    return Metrics(ns, now)


@pytest.fixture
def cw(vigil: VigilProcess) -> Iterator[Any]:
    c = client(vigil, "cloudwatch")
    yield c
    c.close()


def row(ns: str, host: str, **opts: Any) -> list[Any]:
    return [ns, "Latency", "Host", host, {"id": "m1", **opts}]


def explorer_url(vigil: VigilProcess, rows: list[Any], **params: str) -> str:
    q = {"q": json.dumps(rows), "from": "now-1h", **params}
    return vigil.url + "/metrics?" + "&".join(f"{k}={quote(v)}" for k, v in q.items())


def legend(page: Any) -> list[str]:
    return [
        t.strip()
        for t in page.locator(
            ".explorer-graph .u-legend .u-series:not(:first-child) .u-label"
        ).all_inner_texts()
    ]


def test_metrics_is_the_explorer_for_browsers_and_the_exposition_for_scrapers(
    vigil: VigilProcess,
) -> None:
    with httpx.Client(base_url=vigil.url, timeout=30) as http:
        page = http.get("/metrics", headers={"Accept": BROWSER_ACCEPT})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<div id="app">' in page.text
        assert page.headers["vary"] == "Accept"
        for accept in (PROMETHEUS_ACCEPT, "text/plain;version=0.0.4", "*/*", None):
            headers = {"Accept": accept} if accept else {}
            scrape = http.get("/metrics", headers=headers)
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain")
            assert "# TYPE vigil_" in scrape.text
        # the page's address with a query string is the page too
        page = http.get("/metrics?q=%5B%5D&from=now-1h", headers={"Accept": BROWSER_ACCEPT})
        assert '<div id="app">' in page.text


def test_the_browser_lists_namespaces_and_metric_names_with_counts(
    vigil: VigilProcess, data: Metrics
) -> None:
    with httpx.Client(base_url=vigil.url, timeout=30) as http:
        found = http.get("/api/v1/metrics/namespaces").json()
        assert {"namespace": data.ns, "metrics": 1, "series": 2} in found["namespaces"]
        assert found["truncated"] is False
        names = http.get("/api/v1/metrics/names", params={"namespace": data.ns}).json()
        assert names["metrics"] == [{"name": "Latency", "series": 2, "dimension_keys": ["Host"]}]
        r = http.get("/api/v1/metrics/names")
        assert r.status_code == 400
        assert r.json()["error"]["field"] == "namespace"
        first = http.get("/api/v1/metrics/namespaces", params={"limit": 1}).json()
        assert len(first["namespaces"]) == 1
        assert first["truncated"] is (len(found["namespaces"]) > 1)


def test_browse_to_a_metric_and_graph_it(page: Any, vigil: VigilProcess, data: Metrics) -> None:
    page.goto(vigil.url + "/metrics?from=now-1h")
    page.get_by_label("Search metrics").fill(data.ns)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("list", name="Namespaces").get_by_role("button", name=data.ns).click()
    page.get_by_role("list", name="Metrics").get_by_role("button", name="Latency").click()
    page.get_by_label("Graph Latency Host=a").check()
    expect(page.locator(".explorer-graph .u-legend")).to_be_visible()
    assert legend(page) == ["Latency a"]
    page.get_by_label("Graph Latency Host=b").check()
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(3)
    assert legend(page) == ["Latency a", "Latency b"]
    # the state is the URL: namespace, metric and both queries
    q = parse_qs(urlparse(page.url).query)
    assert q["ns"] == [data.ns]
    assert q["metric"] == ["Latency"]
    rows = json.loads(q["q"][0])
    assert rows == [row(data.ns, "a"), [data.ns, "Latency", "Host", "b", {"id": "m2"}]]
    # a math expression over both, by id
    page.get_by_label("Math expression").fill("m1 - m2")
    page.get_by_role("button", name="Add expression").click()
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(4)
    assert legend(page)[2] == "e1"
    # the statistic picker changes what is asked
    with page.expect_request(lambda r: r.url.endswith("/api/v1/dashboards/metric-data")) as req:
        page.get_by_label("Statistic of m1").select_option("Maximum")
    sent = json.loads(req.value.post_data)["widgets"][0]["properties"]["metrics"]
    assert sent[0][-1] == {"id": "m1", "stat": "Maximum"}
    # opening the link again shows the same graph
    page.goto(page.url)
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(4)
    assert legend(page) == ["Latency a", "Latency b", "e1"]


def test_search_expression_and_anomaly_band_toggle(
    page: Any, vigil: VigilProcess, data: Metrics, console: ConsoleLog
) -> None:
    page.goto(vigil.url + f"/metrics?from=now-1h&ns={quote(data.ns)}&metric=Latency")
    page.get_by_role("button", name="Graph all 2 with SEARCH").click()
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(3)
    rows = json.loads(parse_qs(urlparse(page.url).query)["q"][0])
    search = f"SEARCH('{{{data.ns},Host}} MetricName=\"Latency\"'"
    assert rows[0][0]["expression"].startswith(search)
    # CloudWatch labels search results by their dimension values, then the metric name
    assert sorted(legend(page)) == ["a Latency", "b Latency"]
    # the anomaly band of a metric is one more query row, ANOMALY_DETECTION_BAND(m1, 2)
    page.goto(explorer_url(vigil, [row(data.ns, "a")]))
    page.get_by_role("button", name="Anomaly band").click()
    rows = json.loads(parse_qs(urlparse(page.url).query)["q"][0])
    assert rows[1] == [
        {"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1", "label": "Latency (expected)"}
    ]
    assert page.get_by_role("button", name="Anomaly band").get_attribute("aria-pressed") == "true"
    # GetMetricData answers the band as two series (upper, lower) labelled by the row:
    # drawn as one filled band beside the metric
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(4)
    assert legend(page) == ["Latency a", "Latency (expected)", "Latency (expected)"]
    expect(page.get_by_role("alert")).to_have_count(0)


def test_create_an_alarm_from_a_graph_and_see_it_in_the_list(
    page: Any, vigil: VigilProcess, data: Metrics, cw: Any
) -> None:
    name = f"latency-high-{uuid.uuid4().hex[:6]}"
    page.goto(explorer_url(vigil, [row(data.ns, "a", stat="Maximum", period=60)]))
    expect(page.locator(".explorer-graph .u-legend")).to_be_visible()
    page.get_by_role("button", name="Create alarm on m1").click()
    form = page.get_by_role("dialog", name="Create alarm")
    form.get_by_label("Alarm name").fill(name)
    form.get_by_role("textbox", name="Threshold").fill("300")
    form.get_by_label("Datapoints to alarm").fill("1")
    form.get_by_label("out of (evaluation periods)").fill("1")
    # what would it have done: the spike (500 ms, 20 minutes ago) crosses 300 once
    form.get_by_role("button", name="Backtest last 7 days").click()
    expect(form.get_by_test_id("backtest-summary")).to_contain_text(
        "Would have gone into ALARM 1 time"
    )
    form.get_by_role("button", name="Create alarm").click()
    page.wait_for_url(f"**/alarms/{name}")
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["Threshold"] == 300.0
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Dimensions"] == [{"Name": "Host", "Value": "a"}]
    assert alarm["Period"] == 60
    # the alarm's own page replays it over the week
    summary = page.get_by_test_id("backtest-summary")
    expect(summary).to_contain_text("Would have gone into ALARM 1 time")
    expect(page.locator(".state-mark.would-be[data-state='ALARM']")).to_have_count(1)
    # … and it is in the list, found by its name
    page.get_by_role("link", name="Alarms", exact=True).click()
    page.get_by_label("Search alarms").fill(name)
    page.get_by_label("Search alarms").press("Enter")
    expect(page.locator(f"tr[data-alarm='{name}']")).to_be_visible()
    assert page.locator(f"tr[data-alarm='{name}'] .state-badge").inner_text() in (
        "Insufficient data",
        "OK",
        "In alarm",
    )
    assert parse_qs(urlparse(page.url).query)["q"] == [name]


def test_alarm_page_draws_its_state_changes_and_history(
    page: Any, vigil: VigilProcess, data: Metrics, cw: Any
) -> None:
    name = f"latency-b-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=data.ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": "b"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1000.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="paged by hand")
    # The server's engine evaluates the alarm each minute and may set it back to OK
    # (the data is far under 1000) at any moment: the test reads what stays true.
    page.goto(vigil.url + f"/alarms/{name}?from=now-1h")
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    mark = page.locator(f".state-mark:not(.would-be)[data-state='ALARM'][data-alarm='{name}']")
    expect(mark).to_have_count(1)
    assert "to ALARM at" in mark.get_attribute("aria-label")
    history = page.get_by_role("region", name="History")
    expect(history.locator("tr", has_text="paged by hand")).to_contain_text("to ALARM")
    # over the hour the definition (> 1000) would not have fired: one change, to OK
    summary = page.get_by_test_id("backtest-summary")
    expect(summary).to_contain_text("Would not have gone into ALARM")
    page.get_by_label("Show").select_option("ConfigurationUpdate")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr")).to_contain_text(f'Alarm "{name}" created')
    # its metric graphed in the explorer carries the same annotation
    page.get_by_role("link", name="Open in metrics explorer").click()
    page.wait_for_url("**/metrics?**")
    marks = page.locator(f".explorer-graph .state-mark[data-alarm='{name}'][data-state='ALARM']")
    expect(marks).to_have_count(1)
    # edit: the threshold changes, the rest stays
    page.go_back()
    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("dialog", name="Edit alarm")
    form.get_by_role("textbox", name="Threshold").fill("120")
    form.get_by_role("button", name="Save alarm").click()
    expect(form).to_have_count(0)
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["Threshold"] == 120.0
    assert alarm["Dimensions"] == [{"Name": "Host", "Value": "b"}]
    # The page replays the new definition: its graph and summary are back (and the
    # screenshot shows them, not "Replaying…").
    expect(page.get_by_text("Replaying the definition")).to_have_count(0)
    expect(summary).to_have_text(re.compile(r"^Would not have gone into ALARM over the last hour"))
    expect(page.locator("[data-testid=backtest-summary] ~ * canvas").first).to_be_visible()
    # The threshold (120, over data of 50-54) is a red line on the graph, not off its top.
    assert threshold_row(page) > 0.3


# The longest run, over the canvas' rows, of pixels in the threshold line's colour
# (#d62728) in one row of the alarm graph: a horizontal line across the plot makes it long
# (state-change marks in the same red are vertical).
_RED_ROW = """() => {
  const c = document.querySelector('section[aria-label="Alarm graph"] canvas');
  if (!c) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let best = 0;
  for (let y = 0; y < c.height; y++) {
    let n = 0;
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
      if (Math.abs(r - 214) < 12 && Math.abs(g - 39) < 12 && Math.abs(b - 40) < 12) n++;
    }
    best = Math.max(best, n / c.width);
  }
  return best;
}"""


def threshold_row(page: Any) -> float:
    """The largest share of one canvas row in the threshold's red."""
    return float(page.evaluate(_RED_ROW))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    yield r
    r.stop()


def test_acknowledge_an_incident_from_its_page(
    page: Any, vigil: VigilProcess, receiver: HttpReceiver
) -> None:
    sns = client(vigil, "sns")
    topic = sns.create_topic(Name=f"ui-oncall-{uuid.uuid4().hex[:6]}")["TopicArn"]
    hook = f"webhook:{receiver.url}/hook"
    with httpx.Client(base_url=vigil.url, timeout=30) as http:
        r = http.post(
            "/api/v1/incidents",
            json={
                "title": "Checkout latency over 2 s",
                "severity": "critical",
                "targets": [topic, hook],
            },
        )
        assert r.status_code == 201, r.text
        incident = r.json()
    page.goto(vigil.url + "/incidents?status=open")
    page.get_by_role("link", name="Checkout latency over 2 s").first.click()
    page.wait_for_url(f"**/incidents/{incident['id']}")
    expect(page.locator(".status-badge")).to_have_text("open")
    expect(page.get_by_test_id("escalation-progress")).to_be_visible()
    # the first step's notification, to the webhook (recorded in the outbox when it opened)
    sent = page.get_by_role("region", name="Notifications sent")
    expect(sent.locator("tbody tr")).to_have_count(1)
    expect(sent.locator("tbody tr")).to_contain_text("webhook")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text("Acknowledged: escalation stopped.")
    expect(page.locator(".status-badge")).to_have_text("acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_disabled()
    expect(page.get_by_test_id("escalation-progress")).to_have_text(
        "Escalation stopped: acknowledged."
    )
    with httpx.Client(base_url=vigil.url, timeout=30) as http:
        got = http.get(f"/api/v1/incidents/{incident['id']}").json()
    assert got["status"] == "acknowledged"
    assert got["acknowledged_by"] == "web UI"
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("acknowledged")
    # resolving is the next step
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".status-badge")).to_have_text("resolved")


def test_silences_and_on_call_on_the_incidents_page(page: Any, vigil: VigilProcess) -> None:
    comment = f"deploy window {uuid.uuid4().hex[:6]}"
    page.goto(vigil.url + "/incidents")
    expect(page.get_by_role("region", name="On call now")).to_be_visible()
    silences = page.get_by_role("region", name="Silences and maintenance windows")
    silences.get_by_label("Matchers").fill("alarm=latency-high")
    silences.get_by_label("Comment").fill(comment)
    silences.get_by_role("button", name="Add silence").click()
    expect(silences.locator("tr", has_text=comment)).to_contain_text("alarm=latency-high")
    silences.locator("tr", has_text=comment).get_by_role("button", name="Expire").click()
    expect(silences.locator("tr", has_text=comment)).to_have_count(0)


def test_unknown_alarm_and_incident_say_so(
    page: Any, vigil: VigilProcess, console: ConsoleLog
) -> None:
    console.expect(r"404")
    page.goto(vigil.url + "/alarms/no-such-alarm-here")
    expect(page.get_by_role("heading", name="Alarm not found")).to_be_visible()
    page.goto(vigil.url + "/incidents/no-such-incident")
    expect(page.get_by_role("heading", name="Incident not found")).to_be_visible()


def test_a_dashboard_widget_draws_its_alarm_threshold_and_state_changes(
    page: Any, vigil: VigilProcess, data: Metrics, cw: Any
) -> None:
    name = f"dash-alarm-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=data.ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": "a"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=300.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    dash = f"alarms-{uuid.uuid4().hex[:6]}"
    body = {
        "widgets": [
            {
                "type": "metric",
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Latency with its alarm",
                    "metrics": [[data.ns, "Latency", "Host", "a"]],
                    "period": 60,
                    "stat": "Average",
                    "region": "us-east-1",
                    "annotations": {"alarms": [arn]},
                },
            }
        ]
    }
    client(vigil, "cloudwatch").put_dashboard(DashboardName=dash, DashboardBody=json.dumps(body))
    page.goto(vigil.url + f"/dashboards/{dash}?from=now-1h")
    widget = page.locator("section.widget", has=page.locator(".widget-title", has_text="Latency"))
    marks = widget.locator(f".state-mark[data-alarm='{name}'][data-state='ALARM']")
    expect(marks).to_have_count(1)
    # the widget opens in the explorer with its metrics and range, annotations included
    widget.get_by_role("link", name="Explore: Latency with its alarm").click()
    page.wait_for_url("**/metrics?**")
    expect(page.locator(".explorer-graph .u-legend .u-series")).to_have_count(2)
    assert legend(page) == ["Latency a"]
    expect(page.locator(f".explorer-graph .state-mark[data-alarm='{name}']").first).to_be_attached()


def test_a_composite_alarm_links_the_alarms_of_its_rule(
    page: Any, vigil: VigilProcess, data: Metrics, cw: Any
) -> None:
    child, parent = f"child-{uuid.uuid4().hex[:6]}", f"parent-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(
        AlarmName=child,
        Namespace=data.ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": "a"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=300.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=f'ALARM("{child}") OR OK("{child}")')
    page.goto(vigil.url + f"/alarms/{parent}")
    expect(page.get_by_text("Rule: ALARM(")).to_be_visible()
    expect(page.get_by_role("link", name=child)).to_have_count(2)
    page.get_by_role("link", name=child).first.click()
    page.wait_for_url(f"**/alarms/{child}")
    expect(page.get_by_role("heading", name=child)).to_be_visible()


def test_a_dashboard_widget_draws_an_anomaly_band(
    page: Any, vigil: VigilProcess, data: Metrics
) -> None:
    dash = f"band-{uuid.uuid4().hex[:6]}"
    body = {
        "widgets": [
            {
                "type": "metric",
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Latency and its band",
                    "metrics": [
                        [data.ns, "Latency", "Host", "a", {"id": "m1"}],
                        [{"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1"}],
                    ],
                    "period": 60,
                    "stat": "Average",
                    "region": "us-east-1",
                },
            }
        ]
    }
    client(vigil, "cloudwatch").put_dashboard(DashboardName=dash, DashboardBody=json.dumps(body))
    page.goto(vigil.url + f"/dashboards/{dash}?from=now-1h")
    widget = page.locator("section.widget", has=page.locator(".widget-title", has_text="band"))
    expect(widget.locator(".u-legend .u-series")).to_have_count(4)
    labels = widget.locator(".u-legend .u-series:not(:first-child) .u-label").all_inner_texts()
    # the band's two series: CloudWatch-style "<source label> upper" / "… lower"
    assert [t.strip() for t in labels] == ["Latency a", "Latency a upper", "Latency a lower"]
    expect(widget.locator(".widget-error")).to_have_count(0)
