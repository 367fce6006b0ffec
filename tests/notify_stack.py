"""The notify stack on a real socket for tests: state (SQLite in a temp dir), the
notifier, topics and the SNS API behind the AWS dispatcher, served by uvicorn on its own
event loop in a background thread; the clock is the test's (``stack.clock.now``)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import boto3
import uvicorn
from botocore.config import Config as BotoConfig
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from vigil.api.aws.dispatch import AwsDispatcher
from vigil.api.aws.sns import SnsService
from vigil.api.notify_v1 import NotifyApi
from vigil.auth import Authenticator
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.state.db import open_state

T = TypeVar("T")
T0 = 1_796_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Stack:
    def __init__(
        self,
        tmp: Path,
        settings: NotifySettings | None = None,
        state_url: str | None = None,
        extra_routes: list[BaseRoute] | None = None,
    ) -> None:
        self.clock = Clock()
        self.engine = open_state(state_url or str(tmp / "state.db"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        base = settings or NotifySettings()
        self.settings = dataclasses.replace(base, public_url=self.url)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # Built on the loop that will use it (its HTTP clients belong to that loop).
        self.parts: NotifyParts = self.run(self._build())
        dispatcher = AwsDispatcher([SnsService(self.parts.topics)], Authenticator([]), {})
        api = NotifyApi(self.parts)
        app = Starlette(routes=[*(extra_routes or []), *api.routes(), *dispatcher.routes()])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.serving = asyncio.run_coroutine_threadsafe(
            self.server.serve(sockets=[self.sock]), self.loop
        )
        self.run(self._started())

    async def _build(self) -> NotifyParts:
        parts = NotifyParts(self.engine, self.settings, clock=self.clock)
        await parts.start()  # the keys, as the pillar's start loads them
        return parts

    async def _started(self) -> None:
        while not self.server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
            await asyncio.sleep(0.01)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def tick(self) -> dict[str, int]:
        self.run(self.parts.alarms.drain())
        return self.run(self.parts.tick(self.clock.now))

    def sns(self) -> Any:
        return boto3.client(
            "sns",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=BotoConfig(retries={"max_attempts": 1}),
        )

    def close(self) -> None:
        self.server.should_exit = True
        try:
            self.serving.result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.sock.close()
            self.engine.dispose()
