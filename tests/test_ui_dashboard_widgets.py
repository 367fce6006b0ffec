"""Dashboards as a person sees them, part two (headless Chromium, Debian's, on a vigil
process; data through boto3): the alarm annotations of a 12-widget dashboard arrive in
one request per load and per range and still show on the right widgets; a widget with 60
series keeps its legend inside its cell. No test sleeps: alarm states come from
SetAlarmState; screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui_data import client
from tests.vigil_process import VigilProcess

HOSTS = 12
ANNOTATIONS = "/api/v1/alarm-annotations"


class Data:
    def __init__(self, ns: str) -> None:
        self.ns = ns


@pytest.fixture(scope="module")
def data(vigil: VigilProcess) -> Data:
    """An hour of Latency on 12 hosts, one point a minute."""
    ns = f"UiWidgets/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw = client(vigil, "cloudwatch")
    points = [
        {
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Host", "Value": f"h{h}"}],
            "Timestamp": now - timedelta(minutes=m),
            "Value": 50.0 + h + (m % 7),
        }
        for h in range(HOSTS)
        for m in range(1, 61)
    ]
    for i in range(0, len(points), 500):
        cw.put_metric_data(Namespace=ns, MetricData=points[i : i + 500])
    cw.close()
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
