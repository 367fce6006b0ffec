"""Dashboards as a person sees them, part two (headless Chromium, Debian's, on a vigil
process; data through boto3): the alarm annotations of a 12-widget dashboard arrive in
one request per load and per range and still show on the right widgets; a widget with 60
series keeps its legend inside its cell. No test sleeps: alarm states come from
SetAlarmState; screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS
from tests.ui_data import client
from tests.vigil_process import VigilProcess

HOSTS = 12
ANNOTATIONS = "/api/v1/alarm-annotations"


class Data:
    def __init__(self, ns: str) -> None:
        self.ns = ns


def _put_latency_hour(
    vigil: VigilProcess, ns: str, hosts: list[str], value: Callable[[int, int], float]
) -> None:
    """An hour of Latency per host, one point a minute: ``value(host index, minutes ago)``."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw = client(vigil, "cloudwatch")
    points = [
        {
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Host", "Value": host}],
            "Timestamp": now - timedelta(minutes=m),
            "Value": value(h, m),
        }
        for h, host in enumerate(hosts)
        for m in range(1, 61)
    ]
    for i in range(0, len(points), 500):
        cw.put_metric_data(Namespace=ns, MetricData=points[i : i + 500])
    cw.close()


@pytest.fixture(scope="module")
def data(vigil: VigilProcess) -> Data:
    """An hour of Latency on 12 hosts, one point a minute."""
    ns = f"UiWidgets/{uuid.uuid4().hex[:8]}"
    _put_latency_hour(vigil, ns, [f"h{h}" for h in range(HOSTS)], lambda h, m: 50.0 + h + (m % 7))
    return Data(ns)


def _alarm(cw: Any, name: str, ns: str, host: str) -> str:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="Latency",
        Dimensions=[{"Name": "Host", "Value": host}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1000.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    # The engine may set it back to OK at its next round (the data is far under 1000):
    # the ALARM transition stays in the range either way.
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="paged by hand")
    return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])


def _marks(page: Any, index: int, alarm: str) -> Any:
    mark = f".state-mark[data-alarm='{alarm}'][data-state='ALARM']"
    return page.locator(f"section.widget[data-widget='{index}'] {mark}")


def test_a_dashboards_alarm_annotations_come_in_one_request(
    page: Any, vigil: VigilProcess, data: Data
) -> None:
    tag = uuid.uuid4().hex[:6]
    cw = client(vigil, "cloudwatch")
    # h0's alarm watches widget 0's metric; h3's watches the metric of widgets 3 and 7;
    # h5's is named by widget 5 (CloudWatch's annotations.alarms) and watched by none.
    watch0, watch3, named5 = f"w0-{tag}", f"w3-{tag}", f"n5-{tag}"
    _alarm(cw, watch0, data.ns, "h0")
    _alarm(cw, watch3, data.ns, "h3")
    arn5 = _alarm(cw, named5, data.ns, "h-none")
    widgets = []
    for i in range(HOSTS):
        host = "h3" if i == 7 else f"h{i}"
        props: dict[str, Any] = {
            "title": f"Latency {i}",
            "metrics": [[data.ns, "Latency", "Host", host]],
            "period": 60,
            "stat": "Average",
            "region": "us-east-1",
        }
        if i == 5:
            props["annotations"] = {"alarms": [arn5]}
        widgets.append({"type": "metric", "width": 6, "height": 5, "properties": props})
    dash = f"annotated-{tag}"
    cw.put_dashboard(DashboardName=dash, DashboardBody=json.dumps({"widgets": widgets}))
    cw.close()

    asked: list[Any] = []
    page.on("request", lambda r: asked.append(r) if r.url.endswith(ANNOTATIONS) else None)
    page.goto(vigil.url + f"/dashboards/{dash}?from=now-1h")
    # What a person sees: each alarm's transition on the widgets that show it, none else.
    for index, alarm in ((0, watch0), (3, watch3), (7, watch3), (5, named5)):
        expect(_marks(page, index, alarm)).to_have_count(1)
    expect(page.locator("section.widget .u-legend")).to_have_count(HOSTS)
    for index in (1, 2, 4, 6, 8, 9, 10, 11):
        assert page.locator(f"section.widget[data-widget='{index}'] .state-mark").count() == 0
    page.wait_for_load_state("networkidle")
    assert len(asked) == 1, [r.post_data for r in asked]
    sent = json.loads(asked[0].post_data)
    assert len(sent["groups"]) == HOSTS

    # A new range: one more request, and the marks are still there.
    with page.expect_request(lambda r: r.url.endswith(ANNOTATIONS)) as req:
        page.get_by_role("button", name="3h", exact=True).click()
    sent = json.loads(req.value.post_data)
    assert sent["end"] - sent["start"] == pytest.approx(3 * 3600_000, abs=5000)
    for index, alarm in ((0, watch0), (3, watch3), (7, watch3), (5, named5)):
        expect(_marks(page, index, alarm)).to_have_count(1)
    page.wait_for_load_state("networkidle")
    assert len(asked) == 2


WIDE = 60


@pytest.fixture(scope="module")
def wide(vigil: VigilProcess) -> str:
    """An hour of Latency on 60 hosts: one widget's worth of series."""
    ns = f"UiWide/{uuid.uuid4().hex[:8]}"
    hosts = [f"host-{h:02d}" for h in range(WIDE)]
    _put_latency_hour(vigil, ns, hosts, lambda h, m: 10.0 + h + (m % 5))
    return ns


def _inside(inner: Any, outer: Any) -> None:
    """The inner element's box lies within the outer's (half a pixel of rounding)."""
    a, b = inner.bounding_box(), outer.bounding_box()
    assert a is not None
    assert b is not None
    assert a["y"] >= b["y"] - 0.5, (a, b)
    assert a["y"] + a["height"] <= b["y"] + b["height"] + 0.5, (a, b)
    assert a["x"] >= b["x"] - 0.5, (a, b)
    assert a["x"] + a["width"] <= b["x"] + b["width"] + 0.5, (a, b)


# Whether an element is shown whole: inside the window and inside every ancestor that
# clips it (one whose overflow is not visible; for a fixed element only those at or above
# its containing block, an ancestor with a transform, filter or containment).
_SHOWN_WHOLE = """(el) => {
  const r = el.getBoundingClientRect();
  const inside = (b) => r.left >= b.left - 0.5 && r.right <= b.right + 0.5
    && r.top >= b.top - 0.5 && r.bottom <= b.bottom + 0.5;
  if (!inside({ left: 0, top: 0, right: innerWidth, bottom: innerHeight })) return false;
  let clips = getComputedStyle(el).position !== "fixed";
  for (let e = el.parentElement; e; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.transform !== "none" || cs.filter !== "none" || cs.contain !== "none") clips = true;
    if (clips && cs.overflow !== "visible" && !inside(e.getBoundingClientRect())) return false;
  }
  return true;
}"""


def test_a_legend_of_60_series_stays_inside_its_widget(
    page: Any, vigil: VigilProcess, wide: str
) -> None:
    dash = f"wide-{uuid.uuid4().hex[:6]}"
    rows = [[wide, "Latency", "Host", f"host-{h:02d}"] for h in range(WIDE)]
    small = {"title": "Sixty hosts", "metrics": rows, "period": 60, "stat": "Average"}
    widgets = [
        {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": small},
        {
            "type": "metric",
            "x": 12,
            "y": 0,
            "width": 12,
            "height": 6,
            "properties": {**small, "title": "Two hosts", "metrics": rows[:2]},
        },
        {
            "type": "metric",
            "x": 0,
            "y": 6,
            "width": 8,
            "height": 9,
            "properties": {**small, "title": "Sixty again"},
        },
    ]
    cw = client(vigil, "cloudwatch")
    cw.put_dashboard(DashboardName=dash, DashboardBody=json.dumps({"widgets": widgets}))
    cw.close()
    page.goto(vigil.url + f"/dashboards/{dash}?from=now-1h")
    for title, count in (("Sixty hosts", WIDE), ("Two hosts", 2), ("Sixty again", WIDE)):
        w = page.locator("section.widget", has=page.locator(".widget-title", has_text=title))
        legend = w.locator(".u-legend")
        expect(legend.locator(".u-series", has_text="Latency")).to_have_count(count)
        _inside(legend, w)
        _inside(w.locator("canvas").first, w)
    page.screenshot(path=str(ARTIFACTS / "legend-of-60-series.png"))
    # Hovering still shows values: the tooltip lists the largest, inside the page.
    w = page.locator("section.widget", has=page.locator(".widget-title", has_text="Sixty hosts"))
    box = w.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.8)
    tip = w.get_by_role("tooltip")
    expect(tip).to_be_visible()
    assert "Latency host-59:" in tip.inner_text()
    assert "… 50 more" in tip.inner_text()
    assert page.evaluate(_SHOWN_WHOLE, tip.element_handle()), "the tooltip is cut off"
    page.screenshot(path=str(ARTIFACTS / "legend-of-60-series-hover.png"))
    # The legend scrolls to its last entry, which still toggles its series.
    last = w.locator(".u-legend .u-series", has_text="Latency host-59")
    last.scroll_into_view_if_needed()
    _inside(last, w.locator(".u-legend"))
    last.click()
    assert "u-off" in (last.get_attribute("class") or "")
