"""Graphs: GetMetricWidgetImage through boto3 against the real store, and the alarm's
graph in its notifications (inline in email over aiosmtpd, a signed expiring link for
Slack, PagerDuty's ``images``, the webhook's ``links``), drawn by the same renderer.
Injected clock; the PNGs are decoded and their pixels checked."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from PIL import Image

from tests.alarm_runtime import Clock, Harness, running
from tests.notify_receivers import HttpReceiver, SmtpReceiver
from vigil.notify.graph import alarm_widget
from vigil.pillars.notify import NotifyPillar

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC
RED = (0xD6, 0x27, 0x28)


def _iso(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _put(cw: Any, name: str, values: list[tuple[float, float]]) -> None:
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {
                "MetricName": name,
                "Value": v,
                "Timestamp": _iso(t),
                "Dimensions": [{"Name": "Service", "Value": "api"}],
            }
            for t, v in values
        ],
    )


def _image(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).convert("RGB")


def _has(img: Image.Image, rgb: tuple[int, int, int], tol: int = 60, least: int = 40) -> bool:
    """At least ``least`` pixels near ``rgb`` (anti-aliased lines blend into white)."""
    colors: list[tuple[int, Any]] = img.getcolors(maxcolors=1 << 20) or []
    near = 0
    for n, c in colors:
        if all(abs(int(c[i]) - rgb[i]) <= tol for i in range(3)):
            near += n
    return near >= least


def test_get_metric_widget_image_draws_the_series(tmp_path: Path) -> None:
    clock = Clock(T0)
    with running(tmp_path / "data", clock) as vigil:
        cw = vigil.client()
        _put(cw, "Latency", [(T0 - 3600 + i * 60, 100 + (i % 10) * 10) for i in range(60)])
        widget = {
            "metrics": [["App", "Latency", "Service", "api", {"color": "#2ca02c"}]],
            "title": "Latency",
            "period": 60,
            "start": "-PT1H",
            "width": 500,
            "height": 250,
            "annotations": {"horizontal": [{"value": 150, "label": "SLO", "color": "#d62728"}]},
            "timezone": "+0130",
        }
        for protocol in ("json", "query"):
            answer = vigil.client(protocol).get_metric_widget_image(
                MetricWidget=json.dumps(widget), OutputFormat="png"
            )
            img = _image(answer["MetricWidgetImage"])
            assert img.size == (500, 250)
            assert _has(img, (0x2C, 0xA0, 0x2C))  # the series, in its colour
            assert _has(img, RED)  # the annotation
        # No data: still an image, without the series colour.
        empty = cw.get_metric_widget_image(
            MetricWidget=json.dumps({**widget, "metrics": [["App", "Nothing"]]})
        )
        assert not _has(_image(empty["MetricWidgetImage"]), (0x2C, 0xA0, 0x2C))


@pytest.mark.parametrize(
    ("widget", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"title": "x"}', "metrics"),
        ('{"metrics": [["App", "Latency"]], "width": 5000}', "width"),
        ('{"metrics": [["App", "Latency"]], "timezone": "CET"}', "timezone"),
        ('{"metrics": [["App", "Latency", {"stat": "p999x"}]]}', "p999x"),
        ('{"metrics": [[{"expression": "m1 +", "id": "e1"}]]}', "e1"),
        ('{"metrics": [["App", "Latency"]], "view": "gauge"}', "view"),
    ],
)
def test_bad_widgets_are_refused_with_the_field(tmp_path: Path, widget: str, words: str) -> None:
    with running(tmp_path / "data", Clock(T0)) as vigil:
        with pytest.raises(ClientError) as err:
            vigil.client().get_metric_widget_image(MetricWidget=widget)
        assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert words in err.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as err:
            vigil.client().get_metric_widget_image(
                MetricWidget='{"metrics": [["App", "Latency"]]}', OutputFormat="image/jpeg"
            )
        assert "OutputFormat" in err.value.response["Error"]["Message"]


def test_alarm_widget_from_cloudwatch_message() -> None:
    message = {
        "AlarmName": "HighLatency",
        "NewStateValue": "ALARM",
        "Trigger": {
            "MetricName": "Latency",
            "Namespace": "App",
            "Statistic": "AVERAGE",
            "Dimensions": [{"value": "api", "name": "Service"}],
            "Period": 60,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 150.0,
        },
    }
    w = alarm_widget(message, T0 * 1000)
    assert w is not None
    assert w["metrics"] == [["App", "Latency", "Service", "api", {"stat": "Average", "period": 60}]]
    [line] = w["annotations"]["horizontal"]
    assert (line["value"], line["fill"]) == (150.0, "above")
    [[first, last]] = w["annotations"]["vertical"]
    assert (first["value"], last["value"]) == ("2026-12-07T09:55:00Z", "2026-12-07T10:00:00Z")
    assert alarm_widget({"AlarmRule": "ALARM(a)"}, T0 * 1000) is None


def _sns(vigil: Harness) -> Any:
    return boto3.client(
        "sns",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def _notify(vigil: Harness) -> dict[str, int]:
    pillar = vigil.runtime.pillar("notify")
    assert isinstance(pillar, NotifyPillar)
    assert pillar.parts is not None
    return vigil.run(pillar.parts.tick(vigil.clock.seconds))


def test_alarm_notifications_carry_the_graph(tmp_path: Path) -> None:
    """Email: the PNG inline (multipart/related, the HTML's cid); Slack: an image block
    whose URL vigil serves signed and expiring; PagerDuty: ``images`` (HTTPS public URL);
    webhook: the link. The public URL is https://…; the test fetches the same path from
    the bound address."""
    http, smtp = HttpReceiver().start(), SmtpReceiver().start()
    clock = Clock(T0)
    public = "https://vigil.example.com"
    try:
        with running(
            tmp_path / "data",
            clock,
            smtp_url=smtp.url,
            smtp_from="vigil@example.com",
            public_url=public,
            pagerduty_events_url=f"{http.url}/pagerduty",
        ) as vigil:
            sns, cw = _sns(vigil), vigil.client()
            topic = sns.create_topic(Name="critical")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
            sns.subscribe(TopicArn=topic, Protocol="slack", Endpoint=f"{http.url}/slack/T/B/X")
            sns.subscribe(TopicArn=topic, Protocol="pagerduty", Endpoint="R0UTINGKEY0123456789")
            sns.subscribe(TopicArn=topic, Protocol="webhook", Endpoint=f"{http.url}/hook")
            _notify(vigil)
            [confirm] = smtp.messages
            text = confirm.get_payload(decode=True).decode()  # type: ignore[union-attr]
            link = text.split("SubscribeURL: ", 1)[-1] if "SubscribeURL: " in text else text
            url = next(w for w in link.split() if "/notify/sns/confirm" in w)
            assert httpx.get(url.replace(public, vigil.url)).status_code == 200
            smtp.messages.clear()
            cw.put_metric_alarm(
                AlarmName="HighLatency",
                Namespace="App",
                MetricName="Latency",
                Dimensions=[{"Name": "Service", "Value": "api"}],
                Statistic="Average",
                Period=60,
                EvaluationPeriods=1,
                Threshold=150,
                ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[topic],
            )
            _put(cw, "Latency", [(T0 - 1800 + i * 60, 100.0) for i in range(30)])
            _put(cw, "Latency", [(T0 + 30, 400.0)])
            events = vigil.tick(T0 + 120)
            assert [e.new_state for e in events] == ["ALARM"]
            _notify(vigil)

            [mail] = smtp.messages
            parsed = BytesParser(policy=default).parsebytes(mail.as_bytes())
            assert isinstance(parsed, EmailMessage)
            html = parsed.get_body(("html",))
            plain = parsed.get_body(("plain",))
            assert html is not None
            assert plain is not None
            related = [p for p in parsed.walk() if p.get_content_type() == "multipart/related"]
            assert related
            [png_part] = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
            cid = str(png_part["Content-ID"]).strip("<>")
            assert f"cid:{cid}" in html.get_content()
            img = _image(png_part.get_content())
            assert img.size == (600, 300)
            assert _has(img, RED)

            bodies = {r.path: r.json() for r in http.received}
            slack = bodies["/slack/T/B/X"]
            [image_block] = [b for b in slack["attachments"][0]["blocks"] if b["type"] == "image"]
            graph_url = image_block["image_url"]
            assert graph_url.startswith(f"{public}/notify/graph/")
            pd = bodies["/pagerduty"]
            assert pd["images"][0]["src"] == graph_url
            assert "graph" not in pd["payload"]["custom_details"]
            assert bodies["/hook"]["links"]["graph"] == graph_url

            # vigil serves the link (no API key), the same picture; forged/expired: 403.
            served = httpx.get(graph_url.replace(public, vigil.url))
            assert served.status_code == 200, served.text
            assert served.headers["content-type"] == "image/png"
            assert _image(served.content).size == (600, 300)
            forged = graph_url.replace(public, vigil.url)[:-8] + "0000.png"
            assert httpx.get(forged).status_code == 403
            clock.set(T0 + 31 * 86400)
            assert httpx.get(graph_url.replace(public, vigil.url)).status_code == 403
    finally:
        http.stop()
        smtp.stop()


def test_output_format_image_png_answers_the_bare_png(tmp_path: Path) -> None:
    """AWS: with ``image/png`` "the HTTP response has a content-type set to image/png,
    and the body of the response is a PNG image" — for custom HTTP requests. Raw
    requests in the query and JSON protocols get it; botocore, which expects the
    protocol's envelope, cannot parse it (AWS says SDKs use ``png``)."""
    widget = json.dumps({"metrics": [["App", "Latency"]], "width": 320, "height": 200})
    with running(tmp_path / "data", Clock(T0)) as vigil:
        _put(vigil.client(), "Latency", [(T0 - 600 + i * 60, 100.0 + i) for i in range(10)])
        form = {
            "Action": "GetMetricWidgetImage",
            "Version": "2010-08-01",
            "MetricWidget": widget,
            "OutputFormat": "image/png",
        }
        answer = httpx.post(f"{vigil.url}/", data=form)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["x-amzn-requestid"]
        assert _image(answer.content).size == (320, 200)
        as_json = httpx.post(
            f"{vigil.url}/",
            content=json.dumps({"MetricWidget": widget, "OutputFormat": "image/png"}),
            headers={
                "content-type": "application/x-amz-json-1.0",
                "x-amz-target": "GraniteServiceVersion20100801.GetMetricWidgetImage",
            },
        )
        assert as_json.status_code == 200
        assert as_json.headers["content-type"] == "image/png"
        assert _image(as_json.content).size == (320, 200)
        # The default, png: the same picture inside the envelope, which the SDK reads.
        enveloped = vigil.client("query").get_metric_widget_image(MetricWidget=widget)
        assert _image(enveloped["MetricWidgetImage"]).size == (320, 200)
        with pytest.raises(ResponseParserError):
            vigil.client("query").get_metric_widget_image(
                MetricWidget=widget, OutputFormat="image/png"
            )
        # A bad widget is still an error in the protocol's shape, not an image.
        bad = httpx.post(f"{vigil.url}/", data={**form, "MetricWidget": "{not json"})
        assert bad.status_code == 400
        assert b"InvalidParameterValue" in bad.content


GREY = (221, 221, 221)  # render.draw.BAND_GREY at its alpha, on white
BLUE = (0x1F, 0x77, 0xB4)  # the first series' colour


def _band_around_line(img: Image.Image, line: tuple[int, int, int]) -> int:
    """Columns where a pixel of the line has band grey both above and below it: the
    band is shaded around the metric, and the line is drawn over it."""
    width, height = img.size
    px = img.load()
    assert px is not None

    def near(c: Any, rgb: tuple[int, int, int], tol: int) -> bool:
        return all(abs(int(c[i]) - rgb[i]) <= tol for i in range(3))

    columns = 0
    for x in range(width):
        ys = [y for y in range(height) if near(px[x, y], line, 40)]
        greys = [y for y in range(height) if near(px[x, y], GREY, 6)]
        if ys and greys and min(greys) < min(ys) and max(greys) > max(ys):
            columns += 1
    return columns


def _day_of_alternating(cw: Any, ns: str, start: int) -> None:
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Records",
                "Dimensions": [{"Name": "Job", "Value": "a"}],
                "Timestamp": _iso(start + h * 3600 + 5),
                "Value": 10.0 if h % 2 == 0 else 14.0,
            }
            for h in range(24)
        ],
    )


def test_anomaly_band_is_shaded_in_widget_images_and_alarm_graphs(tmp_path: Path) -> None:
    """An ANOMALY_DETECTION_BAND row is a grey band between its lower and upper series
    with the metric line over it (the console's picture), in GetMetricWidgetImage and in
    the graph an anomaly alarm's email carries (the same renderer, the same model)."""
    smtp = SmtpReceiver().start()
    day = T0 - 10 * 3600  # 2026-12-07 00:00 UTC
    clock = Clock(day + 24 * 3600)
    metric = {
        "Namespace": "Band",
        "MetricName": "Records",
        "Dimensions": [{"Name": "Job", "Value": "a"}],
    }
    try:
        with running(
            tmp_path / "data",
            clock,
            smtp_url=smtp.url,
            smtp_from="vigil@example.com",
            public_url="https://vigil.example.com",
        ) as vigil:
            sns, cw = _sns(vigil), vigil.client()
            topic = sns.create_topic(Name="anomalies")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
            _notify(vigil)
            [confirm] = smtp.messages
            text = confirm.get_payload(decode=True).decode()  # type: ignore[union-attr]
            url = next(w for w in text.split() if "/notify/sns/confirm" in w)
            assert httpx.get(url.replace("https://vigil.example.com", vigil.url)).is_success
            smtp.messages.clear()
            _day_of_alternating(cw, "Band", day)
            cw.put_anomaly_detector(SingleMetricAnomalyDetector={**metric, "Stat": "Sum"})

            widget: dict[str, Any] = {
                "metrics": [
                    ["Band", "Records", "Job", "a", {"id": "m1", "stat": "Sum", "period": 3600}],
                    [{"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1"}],
                ],
                "start": _iso(day + 12 * 3600).isoformat(),
                "end": _iso(day + 24 * 3600).isoformat(),
                "yAxis": {"left": {"min": 0, "max": 30}},
                "width": 600,
                "height": 300,
            }
            image = _image(
                cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"]
            )
            assert _has(image, GREY, tol=6, least=2000)  # the band: ~12 of 30 units tall
            assert _band_around_line(image, BLUE) >= 100
            # Without the band row, no grey: the shading is the band's, not the grid's.
            plain = _image(
                cw.get_metric_widget_image(
                    MetricWidget=json.dumps({**widget, "metrics": widget["metrics"][:1]})
                )["MetricWidgetImage"]
            )
            assert not _has(plain, GREY, tol=6, least=200)
            assert _band_around_line(plain, BLUE) <= 2  # a stray anti-aliased pixel

            queries = [
                {
                    "Id": "m1",
                    "MetricStat": {"Metric": metric, "Period": 3600, "Stat": "Sum"},
                    "ReturnData": True,
                },
                {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
            ]
            cw.put_metric_alarm(
                AlarmName="RecordsAnomaly",
                EvaluationPeriods=1,
                ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
                ThresholdMetricId="ad1",
                Metrics=queries,
                AlarmActions=[topic],
            )
            cw.put_metric_data(
                Namespace="Band",
                MetricData=[
                    {
                        **{k: metric[k] for k in ("MetricName", "Dimensions")},
                        "Timestamp": _iso(day + 24 * 3600 + 5),
                        "Value": 100.0,
                    }
                ],
            )
            events = vigil.tick(day + 25 * 3600 + 30)
            assert [e.new_state for e in events] == ["ALARM"]
            _notify(vigil)
            [mail] = smtp.messages
            parsed = BytesParser(policy=default).parsebytes(mail.as_bytes())
            [png_part] = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
            graph = _image(png_part.get_content())
            assert _has(graph, GREY, tol=6, least=300)
            assert _band_around_line(graph, BLUE) >= 50
    finally:
        smtp.stop()
