"""The notify pillar in a real ``vigil serve`` process: SNS through boto3 on the main port,
the CLI, and ``kill -9`` in the middle of an escalation wait (a shortened policy on the
real clock: this test polls, the clock-driven ones are in test_escalation.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.notify_receivers import HttpReceiver, SmtpReceiver
from tests.vigil_process import VigilProcess

pytestmark = pytest.mark.slow


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


def _start(data: Path, smtp: SmtpReceiver, http: HttpReceiver) -> VigilProcess:
    return VigilProcess(
        data,
        "--smtp-url",
        smtp.url,
        "--pagerduty-events-url",
        f"{http.url}/pagerduty",
    ).start()


def _sns(server: VigilProcess) -> Any:
    return boto3.client(
        "sns",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def _wait_for(check: Callable[[], bool], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError("timed out")


def _hits(http: HttpReceiver, path: str) -> int:
    with http.lock:
        return sum(1 for r in http.received if r.path == path)


def test_kill_9_during_the_wait_escalates_exactly_once(
    tmp_path: Path, smtp: SmtpReceiver, http: HttpReceiver
) -> None:
    data = tmp_path / "data"
    server = _start(data, smtp, http)
    try:
        sns = _sns(server)
        warn = sns.create_topic(Name="warning")["TopicArn"]
        crit = sns.create_topic(Name="critical")["TopicArn"]
        assert warn.startswith("arn:aws:sns:eu-west-1:")  # region from the signature
        sns.subscribe(TopicArn=warn, Protocol="webhook", Endpoint=f"{http.url}/warn")
        sns.subscribe(TopicArn=crit, Protocol="webhook", Endpoint=f"{http.url}/crit")
        sns.subscribe(TopicArn=crit, Protocol="pagerduty", Endpoint="R0UTINGKEY0123456789")
        with server.client() as api:
            wait = 8.0
            put = api.put(
                "/api/v1/escalation-policies/short",
                json={"levels": [{"targets": [warn], "delay": wait}, {"targets": [crit]}]},
            )
            assert put.status_code == 200, put.text
            opened = api.post("/api/v1/incidents", json={"title": "db down", "policy": "short"})
            assert opened.status_code == 201, opened.text
            started = time.monotonic()
            incident = opened.json()["id"]
        _wait_for(lambda: _hits(http, "/warn") == 1, 15)
    finally:
        server.kill()  # kill -9 in the middle of the wait
    server = _start(data, smtp, http)
    try:
        arrived = _wait_for(lambda: _hits(http, "/crit") >= 1, 60)
        assert arrived - started >= wait - 0.5  # not early
        time.sleep(3)  # let a doubled step show itself
        assert _hits(http, "/crit") == 1
        assert _hits(http, "/pagerduty") == 1
        assert _hits(http, "/warn") == 1
        # the CLI acknowledges; PagerDuty hears it under the same dedup_key
        done = subprocess.run(
            [sys.executable, "-m", "vigil", "incidents", "ack", incident, "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "acknowledged" in done.stdout
        _wait_for(lambda: _hits(http, "/pagerduty") == 2, 15)
        with http.lock:
            events = [r.json() for r in http.received if r.path == "/pagerduty"]
        assert [e["event_action"] for e in events] == ["trigger", "acknowledge"]
        assert {e["dedup_key"] for e in events} == {incident}
        with server.client() as api:
            history = api.get(f"/api/v1/incidents/{incident}").json()["history"]
        assert [h["kind"] for h in history] == ["opened", "step", "step", "acknowledged"]
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def test_sns_on_the_main_port_and_notifications_listed(
    tmp_path: Path, smtp: SmtpReceiver, http: HttpReceiver
) -> None:
    server = _start(tmp_path / "data", smtp, http)
    try:
        sns = _sns(server)
        arn = sns.create_topic(Name="ops")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
        _wait_for(lambda: len(smtp.messages) == 1, 15)
        body = smtp.messages[0].get_payload(decode=True)
        assert isinstance(body, bytes)
        assert server.url in body.decode()  # links use the address the server bound
        listed = httpx.get(f"{server.url}/api/v1/notifications").json()["notifications"]
        assert [(n["channel"], n["status"]) for n in listed] == [("email", "sent")]
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def test_links_work_when_an_api_key_guards_the_server(
    tmp_path: Path, smtp: SmtpReceiver, http: HttpReceiver
) -> None:
    """SNS's confirm link and the signing certificate need no credentials (as in SNS);
    the JSON API and the SNS API still do."""
    server = VigilProcess(
        tmp_path / "data",
        "--smtp-url",
        smtp.url,
        "--api-key",
        "k3y",
        "--aws-access-key-id",
        "AKIDVIGIL",
        "--aws-secret-access-key",
        "s3cret",
    ).start()
    try:
        sns = boto3.client(
            "sns",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="AKIDVIGIL",
            aws_secret_access_key="s3cret",
        )
        arn = sns.create_topic(Name="guarded")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
        _wait_for(lambda: len(smtp.messages) == 1, 15)
        body = smtp.messages[0].get_payload(decode=True)
        assert isinstance(body, bytes)
        link = re.search(r"(http://\S+/notify/sns/confirm\S+)", body.decode())
        assert link
        assert httpx.get(link.group(1)).status_code == 200  # no credentials needed
        assert httpx.get(f"{server.url}/api/v1/notifications").status_code == 401
        ok = httpx.get(
            f"{server.url}/api/v1/notifications", headers={"Authorization": "Bearer k3y"}
        )
        assert ok.status_code == 200
        unsigned = httpx.post(
            server.url + "/", data={"Action": "ListTopics", "Version": "2010-03-31"}
        )
        assert unsigned.status_code == 403
        attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attrs["SubscriptionsConfirmed"] == "1"
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
