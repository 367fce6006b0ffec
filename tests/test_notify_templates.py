"""Body templates (``vigil:BodyTemplate``, Jinja2 sandboxed): set through boto3's
Subscribe / SetSubscriptionAttributes, refused with the line when they cannot work, and
one test per receiver kind that takes them (webhook, Slack, Teams) against a local HTTP
receiver: the body is the template's output, signed like the default one; a template
that fails on a real notification sends the default body, never nothing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from tests.notify_receivers import HttpReceiver
from tests.notify_stack import Stack
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifySettings
from vigil.notify.templates import ATTRIBUTE

ALARM = {
    "AlarmName": "HighLatency",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [400.0] was greater than 150.0.",
    "Trigger": {"MetricName": "Latency", "Namespace": "App", "Threshold": 150.0},
}
WEBHOOK = """{# a compact body for a chat bridge #}
{"alert": {{ alarm.AlarmName | tojson }},
 "state": "{{ status }}",
 "why": {{ alarm.NewStateReason | tojson }},
 "severity": "{{ severity | upper }}"}"""
SLACK = """{"text": {{ ("*" ~ subject ~ "*\\n" ~ alarm.NewStateReason) | tojson }},
 "blocks": [{"type": "section", "text": {"type": "mrkdwn",
   "text": {{ ("Threshold: " ~ alarm.Trigger.Threshold) | tojson }}}}]}"""
TEAMS = """{"type": "message", "text": {{ subject | tojson }},
 "summary": "{{ kind }} for {{ alarm.AlarmName }}"}"""


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, NotifySettings(pipeline=Settings(rates={})))
    yield s
    s.close()


def _publish(stack: Stack, sns: Any, topic: str) -> None:
    sns.publish(
        TopicArn=topic,
        Subject='ALARM: "HighLatency" in US East (N. Virginia)',
        Message=orjson.dumps(ALARM).decode(),
    )
    stack.tick()


@pytest.mark.parametrize(
    ("protocol", "template", "check"),
    [
        (
            "webhook",
            WEBHOOK,
            lambda body: (
                body
                == {
                    "alert": "HighLatency",
                    "state": "message",
                    "why": ALARM["NewStateReason"],
                    "severity": "INFO",
                }
            ),
        ),
        (
            "slack",
            SLACK,
            lambda body: (
                body["text"].startswith('*ALARM: "HighLatency"')
                and body["blocks"][0]["text"]["text"] == "Threshold: 150.0"
            ),
        ),
        (
            "msteams",
            TEAMS,
            lambda body: (
                body
                == {
                    "type": "message",
                    "text": 'ALARM: "HighLatency" in US East (N. Virginia)',
                    "summary": "message for HighLatency",
                }
            ),
        ),
    ],
)
def test_template_per_receiver_kind(
    stack: Stack, http: HttpReceiver, protocol: str, template: str, check: Any
) -> None:
    sns = stack.sns()
    topic = sns.create_topic(Name="ops")["TopicArn"]
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol=protocol,
        Endpoint=f"{http.url}/{protocol}",
        Attributes={ATTRIBUTE: template},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    shown = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert shown[ATTRIBUTE] == template
    _publish(stack, sns, topic)
    [got] = http.received
    assert got.headers["content-type"].startswith("application/json")
    assert check(got.json()), got.json()
    # Removing the template restores the default body.
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=ATTRIBUTE)
    http.received.clear()
    sns.publish(TopicArn=topic, Subject="second", Message="plain")
    stack.tick()
    [default] = http.received
    assert "template" not in default.body.decode()
    assert ATTRIBUTE not in sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]


def test_webhook_template_text_body_is_signed(stack: Stack, http: HttpReceiver) -> None:
    sns = stack.sns()
    topic = sns.create_topic(Name="ops")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="webhook",
        Endpoint=f"{http.url}/hook",
        Attributes={
            ATTRIBUTE: "{{ subject }}\n"
            "{% for k, v in details | dictsort %}{{ k }}={{ v }}\n{% endfor %}",
            "vigil:HmacSecret": "k3y",
        },
    )
    _publish(stack, sns, topic)
    [got] = http.received
    assert got.headers["content-type"].startswith("text/plain")
    assert got.body.decode().startswith('ALARM: "HighLatency" in US East (N. Virginia)\n')
    stamp = got.headers["x-vigil-timestamp"]
    mac = hmac.new(b"k3y", stamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-vigil-signature"] == f"sha256={mac}"


@pytest.mark.parametrize(
    ("protocol", "template", "words"),
    [
        ("webhook", '{"a": 1}\n{"b": {{ subjet }}}', "line 2: unknown variable 'subjet'"),
        ("webhook", "ok\n\n{% if status %}unclosed", "line 3"),
        ("webhook", "{{ 1 // 0 }}", "ZeroDivisionError"),
        ("slack", "{{ subject }}", "not JSON"),
        ("msteams", "[1, 2]", "JSON object"),
        ("pagerduty", "{}", "applies to webhook, slack, msteams"),
        (
            "webhook",
            "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("webhook", "{{ 'x' * 999999999 }}", "output limit"),
    ],
)
def test_bad_templates_are_refused_with_the_line(
    stack: Stack, http: HttpReceiver, protocol: str, template: str, words: str
) -> None:
    sns = stack.sns()
    topic = sns.create_topic(Name="ops")["TopicArn"]
    endpoint = "R0UTINGKEY0123456789" if protocol == "pagerduty" else f"{http.url}/x"
    with pytest.raises(ClientError) as err:
        sns.subscribe(
            TopicArn=topic, Protocol=protocol, Endpoint=endpoint, Attributes={ATTRIBUTE: template}
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameter"
    assert words in err.value.response["Error"]["Message"]
    # The same check when set later; nothing was stored.
    if protocol != "pagerduty":
        sub = sns.subscribe(
            TopicArn=topic, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        with pytest.raises(ClientError):
            sns.set_subscription_attributes(
                SubscriptionArn=sub, AttributeName=ATTRIBUTE, AttributeValue=template
            )
        assert ATTRIBUTE not in sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]


def test_template_failing_at_send_time_sends_the_default_body(
    stack: Stack, http: HttpReceiver
) -> None:
    """Checked against samples, a template can still fail on a real notification (here:
    a message attribute the samples do not have): the default body goes out, the
    attempt's record says why."""
    sns = stack.sns()
    topic = sns.create_topic(Name="ops")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="webhook",
        Endpoint=f"{http.url}/hook",
        Attributes={ATTRIBUTE: "{% if attributes.team %}{{ 1 // 0 }}{% endif %}ok"},
    )
    sns.publish(
        TopicArn=topic,
        Message="hello",
        MessageAttributes={"team": {"DataType": "String", "StringValue": "db"}},
    )
    stack.tick()
    [got] = http.received
    assert got.json()["message"] == "hello"  # the default body
    [entry] = stack.parts.notifier.listing("default", None, 10)
    assert entry["status"] == "sent"
    assert "template failed" in entry["attempts"][0]["detail"]
