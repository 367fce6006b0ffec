"""StartLiveTail through boto3's ``logs.start_live_tail`` against an in-process vigil: the
event stream is consumed as botocore parses it (initial-response, sessionStart,
sessionUpdate), a log line put after the session started arrives in an update (the test
waits on its arrival with a timeout), the filter pattern and stream filters apply, the
3-hour limit ends the session on the injected clock, and bad requests get CloudWatch
Logs' errors before any stream.

The client needs ``Config(inject_host_prefix=False)``: botocore sends StartLiveTail to
``stream-`` + the endpoint's host, which does not resolve for ``127.0.0.1``."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, EventStreamError

from tests.alarm_runtime import Clock, Harness, running

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC (before the machine's wall clock)
WAIT = 30.0


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    data_dir: Path = tmp_path_factory.mktemp("livetail") / "data"
    with running(data_dir, Clock(T0)) as harness:
        yield harness


@pytest.fixture(scope="module")
def logs(vigil: Harness) -> Iterator[Any]:
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "logs",
        endpoint_url=vigil.url,
        config=BotoConfig(inject_host_prefix=False, retries={"max_attempts": 1}),
    )
    yield client
    client.close()


def _group(logs: Any, *streams: str) -> str:
    group = f"/tail/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group


def _arn(group: str) -> str:
    return f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"


def _put(logs: Any, group: str, stream: str, *messages: str, at: int = T0) -> None:
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": at * 1000 + i, "message": m} for i, m in enumerate(messages)],
    )


class Consumer:
    """Reads a live-tail stream in a thread; the test waits on what arrives."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.stream = response["responseStream"]
        self.events: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except BaseException as exc:  # the stream's exception events, or a closed socket
            self.events.put(exc)

    def next(self) -> dict[str, Any] | BaseException:
        return self.events.get(timeout=WAIT)

    def until_message(self, text: str) -> list[dict[str, Any]]:
        """The session results up to and including the update carrying ``text``."""
        seen: list[dict[str, Any]] = []
        while True:
            event = self.next()
            assert isinstance(event, dict), event
            results = event["sessionUpdate"]["sessionResults"]
            seen.extend(results)
            if any(r["message"] == text for r in results):
                return seen

    def close(self) -> None:
        self.stream.close()
        self.thread.join(WAIT)


def test_a_new_line_arrives_filtered(vigil: Harness, logs: Any) -> None:
    group = _group(logs, "web-1", "worker-1")
    _put(logs, group, "web-1", "ERROR before the session")
    tail = Consumer(
        logs.start_live_tail(
            logGroupIdentifiers=[_arn(group)],
            logStreamNamePrefixes=["web-"],
            logEventFilterPattern="ERROR",
        )
    )
    try:
        start = tail.next()
        assert isinstance(start, dict)
        session = start["sessionStart"]
        assert session["logGroupIdentifiers"] == [_arn(group)]
        assert session["logStreamNamePrefixes"] == ["web-"]
        assert session["logEventFilterPattern"] == "ERROR"
        assert session["sessionId"]
        assert session["requestId"]
        _put(logs, group, "web-1", "INFO all fine", "ERROR disk full")
        _put(logs, group, "worker-1", "ERROR on another stream")
        seen = tail.until_message("ERROR disk full")
        assert [r["message"] for r in seen] == ["ERROR disk full"]
        [event] = seen
        assert event["logStreamName"] == "web-1"
        assert event["logGroupIdentifier"] == _arn(group)
        assert event["timestamp"] == T0 * 1000 + 1
        assert event["ingestionTime"] > 0
        # The next lines arrive in a later update, in order, nothing twice.
        _put(logs, group, "web-1", "ERROR one", "ERROR two")
        seen = tail.until_message("ERROR two")
        assert [r["message"] for r in seen] == ["ERROR one", "ERROR two"]
    finally:
        tail.close()


def test_updates_every_second_and_the_three_hour_limit(vigil: Harness, logs: Any) -> None:
    group = _group(logs, "s")
    tail = Consumer(logs.start_live_tail(logGroupIdentifiers=[group]))
    try:
        assert "sessionStart" in tail.next()  # type: ignore[operator]
        update = tail.next()  # an update comes each second, with or without events
        assert isinstance(update, dict)
        assert update["sessionUpdate"]["sessionMetadata"] == {"sampled": False}
        vigil.clock.set(T0 + 3 * 3600)
        while True:
            event = tail.next()
            if not isinstance(event, dict):
                break
        assert isinstance(event, EventStreamError)
        assert event.response["Error"]["Code"] == "SessionTimeoutException"
    finally:
        vigil.clock.set(T0)
        tail.close()


def test_more_than_500_events_are_sampled(vigil: Harness, logs: Any) -> None:
    group = _group(logs, "s")
    tail = Consumer(logs.start_live_tail(logGroupIdentifiers=[group]))
    try:
        assert "sessionStart" in tail.next()  # type: ignore[operator]
        messages = [f"line {i:04d}" for i in range(1200)]
        _put(logs, group, "s", *messages)
        results: list[dict[str, Any]] = []
        sampled = False
        while not results:
            event = tail.next()
            assert isinstance(event, dict), event
            update = event["sessionUpdate"]
            results = update["sessionResults"]
            sampled = update["sessionMetadata"]["sampled"]
        assert sampled is True
        assert len(results) == 500
        got = [r["message"] for r in results]
        assert got == sorted(got)
        assert set(got) <= set(messages)
    finally:
        tail.close()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"logGroupIdentifiers": ["/tail/does-not-exist"]}, "ResourceNotFoundException"),
        ({"logGroupIdentifiers": [_arn("/tail/x") + ":*"]}, "InvalidParameterException"),
        ({"logEventFilterPattern": '{ $.a = "x" '}, "InvalidParameterException"),
        (
            {"logStreamNames": ["a"], "logStreamNamePrefixes": ["b"]},
            "InvalidParameterException",
        ),
    ],
)
def test_errors_before_the_stream(logs: Any, kwargs: dict[str, Any], code: str) -> None:
    group = _group(logs, "a")
    params = {"logGroupIdentifiers": [group], **kwargs}
    with pytest.raises(ClientError) as err:
        logs.start_live_tail(**params)
    assert err.value.response["Error"]["Code"] == code


def test_host_prefix_switched_off_by_environment(
    vigil: Harness, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the README tells AWS CLI users: botocore's own setting, read from the environment.
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("logs", endpoint_url=vigil.url)
    group = _group(logs, "s")
    tail = Consumer(client.start_live_tail(logGroupIdentifiers=[group]))
    try:
        assert "sessionStart" in tail.next()  # type: ignore[operator]
    finally:
        tail.close()
        client.close()
