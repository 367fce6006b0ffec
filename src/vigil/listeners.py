"""The server's HTTP listeners (uvicorn on sockets it binds itself), opened by the runtime
and by pillars that serve a port of their own (the X-Ray daemon's TCP side).

``open()`` returns once the listener accepts connections, with its address (the bound
port when asked for port 0). ``stop()`` stops every listener at once: none accepts new
connections, and it returns when the requests in flight have been answered (uvicorn's
graceful shutdown, at most 30 s). Both are called from the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Generator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from vigil.preflight import port_in_use


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runtime."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


# The flag that changes each listener's port, for the "port in use" error.
_FLAGS = {"http": "--port", "otlp-http": "--otlp-http-port", "xray": "--xray-port"}


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class _Listener:
    name: str
    server: _Server
    task: asyncio.Task[None]
    address: str


class HttpListeners:
    def __init__(self) -> None:
        self._open: list[_Listener] = []

    async def open(
        self, name: str, app: ASGIApp, host: str, port: int, sock: socket.socket | None = None
    ) -> str:
        if sock is None:
            try:
                sock = bind_tcp(host, port)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise port_in_use(host, port, _FLAGS.get(name, name)) from None
                raise
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            loop="none",
            timeout_graceful_shutdown=30,
            server_header=False,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-{name}")
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"{name} listener on {host}:{port} did not start")
            await asyncio.sleep(0.01)
        bound = address(host, sock.getsockname()[1])
        self._open.append(_Listener(name, server, task, bound))
        return bound

    async def stop(self) -> None:
        for listener in self._open:
            listener.server.should_exit = True
        for listener in self._open:
            with contextlib.suppress(Exception):
                await listener.task
        self._open.clear()
