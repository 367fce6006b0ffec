"""The SNS API through boto3's ``sns`` client against the notify stack on a real socket;
email through aiosmtpd, http/Slack/PagerDuty subscribers as local HTTP receivers."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sns_message_validator import SignatureVerificationFailureException, SNSMessageValidator

from tests.notify_receivers import HttpReceiver, SmtpReceiver
from tests.notify_stack import Stack
from vigil.notify.pipeline import Settings
from vigil.notify.runtime import NotifySettings


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stack(tmp_path: Path, http: HttpReceiver, smtp: SmtpReceiver) -> Iterator[Stack]:
    settings = NotifySettings(
        smtp_url=smtp.url,
        smtp_from="vigil@example.com",
        pagerduty_events_url=f"{http.url}/pagerduty/v2/enqueue",
        pipeline=Settings(flap_threshold=0, rates={}),
    )
    s = Stack(tmp_path, settings)
    yield s
    s.close()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _confirm_link(text: str) -> str:
    match = re.search(r"(http://\S+/notify/sns/confirm\S+)", text)
    assert match, text
    return match.group(1)


def test_design_tiers_end_to_end(stack: Stack, http: HttpReceiver, smtp: SmtpReceiver) -> None:
    """The design's set-up through boto3: three tier topics; critical → email + Slack +
    PagerDuty, warning → email; email confirms through its link; publish reaches all."""
    sns = stack.sns()
    arns = {
        tier: sns.create_topic(Name=f"alerts-{tier}", Tags=[{"Key": "severity", "Value": tier}])[
            "TopicArn"
        ]
        for tier in ("critical", "warning", "info")
    }
    assert arns["critical"] == "arn:aws:sns:us-east-1:000000000000:alerts-critical"
    crit, warn = arns["critical"], arns["warning"]
    pending = sns.subscribe(TopicArn=crit, Protocol="email", Endpoint="oncall@example.com")
    assert pending["SubscriptionArn"] == "pending confirmation"
    slack = sns.subscribe(
        TopicArn=crit, Protocol="slack", Endpoint=f"{http.url}/slack/T000/B000/XXXX"
    )["SubscriptionArn"]
    assert slack.startswith(crit + ":")
    sns.subscribe(TopicArn=crit, Protocol="pagerduty", Endpoint="R0UTINGKEY0123456789")
    sns.subscribe(TopicArn=warn, Protocol="email", Endpoint="team@example.com")

    stack.tick()  # the two confirmation mails go out
    assert sorted(m["To"] for m in smtp.messages) == ["oncall@example.com", "team@example.com"]
    for mail in list(smtp.messages):
        assert mail["Subject"] == "AWS Notification - Subscription Confirmation"
        link = _confirm_link(_text(mail))
        answer = httpx.get(link)
        assert answer.status_code == 200, answer.text
        assert "<SubscriptionArn>arn:aws:sns:us-east-1" in answer.text
    attrs = sns.get_topic_attributes(TopicArn=crit)["Attributes"]
    assert attrs["SubscriptionsConfirmed"] == "3"
    assert attrs["SubscriptionsPending"] == "0"

    smtp.messages.clear()
    http.received.clear()
    message_id = sns.publish(TopicArn=crit, Subject="ALARM: db", Message="db is down")["MessageId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", message_id)
    assert stack.tick() == {"sent": 3}
    assert [m["Subject"] for m in smtp.messages] == ["ALARM: db"]
    assert _text(smtp.messages[0]).strip() == "db is down"
    paths = sorted(r.path for r in http.received)
    assert paths == ["/pagerduty/v2/enqueue", "/slack/T000/B000/XXXX"]
    pd = next(r.json() for r in http.received if r.path.startswith("/pagerduty"))
    assert pd["routing_key"] == "R0UTINGKEY0123456789"
    assert pd["payload"]["severity"] == "critical"  # from the topic's severity tag
    assert stack.tick() == {}  # nothing sent twice


def test_http_subscriber_confirms_and_receives_sns_messages(
    stack: Stack, http: HttpReceiver
) -> None:
    sns = stack.sns()
    validator = SNSMessageValidator(cert_url_regex=rf"^{re.escape(stack.url)}/notify/sns/")
    arn = sns.create_topic(Name="web")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=f"{http.url}/sns")
    stack.tick()
    [confirm] = http.received
    assert confirm.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert confirm.headers["content-type"].startswith("text/plain")
    body = confirm.json()
    validator.validate_message(body)  # signed: SignatureVersion 1, vigil's certificate
    assert body["Type"] == "SubscriptionConfirmation"
    assert body["TopicArn"] == arn
    assert set(body) >= {"MessageId", "Token", "Message", "SubscribeURL", "Timestamp"}
    sub_arn = sns.confirm_subscription(TopicArn=arn, Token=body["Token"])["SubscriptionArn"]
    http.received.clear()
    sns.publish(
        TopicArn=arn,
        Message="hello",
        Subject="greeting",
        MessageAttributes={"team": {"DataType": "String", "StringValue": "db"}},
    )
    stack.tick()
    [note] = http.received
    assert note.headers["x-amz-sns-message-type"] == "Notification"
    assert note.headers["x-amz-sns-subscription-arn"] == sub_arn
    msg = note.json()
    validator.validate_message(msg)
    assert msg["Type"] == "Notification"
    assert (msg["Subject"], msg["Message"], msg["TopicArn"]) == ("greeting", "hello", arn)
    assert msg["MessageAttributes"] == {"team": {"Type": "String", "Value": "db"}}
    assert "Action=Unsubscribe" in msg["UnsubscribeURL"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg["Timestamp"])

    # SignatureVersion 2 (SHA256withRSA), set on the topic
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    http.received.clear()
    sns.publish(TopicArn=arn, Message="v2")
    stack.tick()
    signed = http.received[0].json()
    assert signed["SignatureVersion"] == "2"
    _verify_v2(signed)
    tampered = {**signed, "Message": "v3"}
    with pytest.raises(InvalidSignature):
        _verify_v2(tampered)
    with pytest.raises(SignatureVerificationFailureException):
        validator.validate_message({**msg, "Message": "tampered"})

    # raw delivery: the message alone
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    http.received.clear()
    sns.publish(TopicArn=arn, Message="raw body")
    stack.tick()
    assert http.received[0].body == b"raw body"

    # unsubscribe through the message's UnsubscribeURL: an UnsubscribeConfirmation, then
    # nothing more
    http.received.clear()
    answer = httpx.get(msg["UnsubscribeURL"])
    assert answer.status_code == 200, answer.text
    assert "<UnsubscribeResponse" in answer.text
    sns.publish(TopicArn=arn, Message="after")
    stack.tick()
    assert [r.json()["Type"] for r in http.received] == ["UnsubscribeConfirmation"]
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=sub_arn)
    assert _code(exc) == "NotFound"


def _verify_v2(message: dict[str, str]) -> None:
    """AWS's documented check: the string to sign, SHA256withRSA, the certificate as
    fetched from SigningCertURL."""
    pem = httpx.get(message["SigningCertURL"]).content
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    text = "".join(f"{k}\n{message[k]}\n" for k in fields if k in message)
    key.verify(
        base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_topic_management_and_errors(stack: Stack) -> None:
    sns = stack.sns()
    arn = sns.create_topic(Name="t1", Attributes={"DisplayName": "one"})["TopicArn"]
    assert sns.create_topic(Name="t1", Attributes={"DisplayName": "one"})["TopicArn"] == arn
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="t1", Attributes={"DisplayName": "two"})
    assert _code(exc) == "InvalidParameter"
    assert "different attributes" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="bad name!")
    assert _code(exc) == "InvalidParameter"

    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="uno")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "uno"
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Nope", AttributeValue="x")
    assert _code(exc) == "InvalidParameter"

    missing = arn.replace("t1", "missing")
    calls: list[tuple[str, dict[str, str]]] = [
        ("get_topic_attributes", {"TopicArn": missing}),
        ("publish", {"TopicArn": missing, "Message": "x"}),
        ("subscribe", {"TopicArn": missing, "Protocol": "email", "Endpoint": "a@b.c"}),
        ("list_subscriptions_by_topic", {"TopicArn": missing}),
    ]
    for name, kwargs in calls:
        with pytest.raises(ClientError) as exc:
            getattr(sns, name)(**kwargs)
        assert _code(exc) == "NotFound"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    sns.delete_topic(TopicArn=missing)  # as SNS: not an error

    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:1:q")
    assert _code(exc) == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="http://plain.test/")
    assert _code(exc) == "InvalidParameter"

    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "db"}])
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "db"}]
    with pytest.raises(ClientError) as exc:
        sns.list_tags_for_resource(ResourceArn=missing)
    assert _code(exc) == "ResourceNotFound"

    sns.delete_topic(TopicArn=arn)
    assert sns.list_topics()["Topics"] == []


def test_list_topics_pages(stack: Stack) -> None:
    sns = stack.sns()
    made = {sns.create_topic(Name=f"t{i:03d}")["TopicArn"] for i in range(105)}
    first = sns.list_topics()
    assert len(first["Topics"]) == 100
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert {t["TopicArn"] for t in first["Topics"] + second["Topics"]} == made
    paginator = sns.get_paginator("list_topics")
    assert sum(len(p["Topics"]) for p in paginator.paginate()) == 105


def test_filter_policies(stack: Stack, http: HttpReceiver) -> None:
    sns = stack.sns()
    arn = sns.create_topic(Name="orders")["TopicArn"]

    def hook(name: str, policy: dict[str, Any], scope: str = "MessageAttributes") -> str:
        return str(
            sns.subscribe(
                TopicArn=arn,
                Protocol="webhook",
                Endpoint=f"{http.url}/{name}",
                Attributes={
                    "FilterPolicy": orjson.dumps(policy).decode(),
                    "FilterPolicyScope": scope,
                },
            )["SubscriptionArn"]
        )

    hook("big", {"amount": [{"numeric": [">=", 100]}], "store": [{"prefix": "eu-"}]})
    hook("not-test", {"env": [{"anything-but": ["test"]}]})
    hook("body", {"order": {"kind": ["refund"]}}, "MessageBody")

    def publish(message: str, **attrs: tuple[str, str]) -> list[str]:
        http.received.clear()
        sns.publish(
            TopicArn=arn,
            Message=message,
            MessageAttributes={k: {"DataType": t, "StringValue": v} for k, (t, v) in attrs.items()},
        )
        stack.tick()
        return sorted(r.path for r in http.received)

    assert publish(
        "x", amount=("Number", "150"), store=("String", "eu-west"), env=("String", "prod")
    ) == [
        "/big",
        "/not-test",
    ]
    assert (
        publish("x", amount=("Number", "50"), store=("String", "eu-west"), env=("String", "test"))
        == []
    )
    assert publish('{"order": {"kind": "refund"}}') == ["/body"]

    for policy, scope in [
        ("{not json", "MessageAttributes"),
        ('{"a": "not an array"}', "MessageAttributes"),
        ('{"a": [{"wildcard": "x"}]}', "MessageAttributes"),
        ('{"a": {"b": ["c"]}}', "MessageAttributes"),
        ('{"a": [{"numeric": ["~", 1]}]}', "MessageAttributes"),
    ]:
        with pytest.raises(ClientError) as exc:
            sns.subscribe(
                TopicArn=arn,
                Protocol="webhook",
                Endpoint=f"{http.url}/bad",
                Attributes={"FilterPolicy": policy, "FilterPolicyScope": scope},
            )
        assert _code(exc) == "InvalidParameter", policy
        assert exc.value.response["Error"]["Message"].startswith("Invalid parameter: FilterPolicy")


def test_message_structure_json_and_batch(
    stack: Stack, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    sns = stack.sns()
    arn = sns.create_topic(Name="multi")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="slack", Endpoint=f"{http.url}/slack")
    sns.subscribe(TopicArn=arn, Protocol="webhook", Endpoint=f"{http.url}/hook")
    sns.publish(
        TopicArn=arn,
        MessageStructure="json",
        Message=orjson.dumps({"default": "plain", "slack": "for slack"}).decode(),
    )
    stack.tick()
    by_path = {r.path: r.json() for r in http.received}
    assert by_path["/slack"]["text"] == "for slack"
    assert by_path["/hook"]["message"] == "plain"
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=arn, MessageStructure="json", Message='{"slack": "x"}')
    assert "No default entry" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=arn, Message="x", Subject="two\nlines")
    assert _code(exc) == "InvalidParameter"

    out = sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": "two", "MessageStructure": "json"},
        ],
    )
    assert [s["Id"] for s in out["Successful"]] == ["a"]
    assert out["Failed"][0]["Id"] == "b"
    assert out["Failed"][0]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(
            TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}],
        )
    assert _code(exc) == "BatchEntryIdsNotDistinct"


def test_subscriptions_listed_and_confirm_token_checked(stack: Stack) -> None:
    sns = stack.sns()
    arn = sns.create_topic(Name="subs")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    sns.subscribe(TopicArn=arn, Protocol="webhook", Endpoint="http://h.test/x")
    subs = sns.list_subscriptions()["Subscriptions"]
    assert sorted(s["SubscriptionArn"] == "PendingConfirmation" for s in subs) == [False, True]
    assert len(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]) == 2
    with pytest.raises(ClientError) as exc:
        sns.confirm_subscription(TopicArn=arn, Token="forged")
    assert _code(exc) == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=arn + ":nope")
    assert _code(exc) == "NotFound"
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=arn, PhoneNumber="+15555550100", Message="x")
    assert _code(exc) == "InvalidParameter"
