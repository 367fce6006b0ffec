"""A lean HTTP/1.1 POST client for the notification channels' hot path.

Why not httpx alone: the fan-out bench (bench/notify_fanout.py, cProfile) spent about two
thirds of vigil's CPU in httpcore's connection pool, which on every request start and
end looks at every connection of the pool and polls each idle socket
(``_assign_requests_to_connections``: O(connections) syscalls per request), and most of
the rest in the httpx/httpcore/h11/anyio layers. A webhook send needs one thing: POST a
body to a URL over a kept-alive connection and read the status, the headers and a little
of the body. This does that with asyncio's transports and llhttp (``httptools``, already
the server's HTTP parser), a LIFO stack of idle connections per origin, and nothing
looked at twice.

Contract (what the channels rely on, the same as with httpx):
* TLS is verified as httpx verifies it (``httpx.create_ssl_context``: certifi's CA
  bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``; a CA file or directory given as
  ``verify``); the server name is checked. A certificate that does not verify is
  ``httpx.ConnectError``.
* URLs are parsed by ``httpx.URL`` (cached per URL): the same percent-encoding, IDNA host
  and Host header as httpx; user info becomes HTTP Basic auth, as httpx does.
* ``timeout`` bounds the whole request (connect, write, response): ``httpx.ConnectTimeout``
  or ``httpx.ReadTimeout``. Failures raise httpx's exception classes, so
  ``channels.http.post`` classifies both clients' failures alike. Redirects are not
  followed. A request cancelled midway (the pipeline's own timeout) closes its connection.
* A kept-alive connection idle for ``keepalive`` seconds is dropped; if a reused
  connection turns out to have been closed by the receiver before it answered a byte, the
  request is sent once more on a new connection (the receiver closed an idle connection
  it had not read from: urllib3 does the same).
* Proxies are not spoken: ``channels.http.new_client`` uses httpx when the environment
  names one (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``).
Safe to call concurrently from one event loop; a pool belongs to the loop that uses it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httptools
import httpx

USER_AGENT = "vigil-notify/1"
_BODY_KEPT = 64 * 1024  # of a response body: the channels read at most 200 characters
_BAD_HEADER = frozenset("\r\n\0")


@dataclass(slots=True)
class Reply:
    """What the channels read of a response (``httpx.Response`` has the same names)."""

    status_code: int
    headers: Mapping[str, str]  # lower-case names
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _Origin:
    key: tuple[bytes, bytes, int]  # scheme, host, port
    host: str
    port: int
    tls: bool
    head: bytes  # "POST <path> HTTP/1.1" + Host (+ Authorization) + User-Agent lines


class _Conn(asyncio.Protocol):
    """One connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[Reply] | None = None
        self.got_bytes = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._kept = 0
        self._head_done = False
        self._done = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the stream is out of step
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response: {type(exc).__name__}"))

    def eof_received(self) -> bool:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            # A close-delimited body ends here; without headers, nothing came back.
            if self._head_done:
                self._complete(keep=False)
            else:
                self._fail(httpx.RemoteProtocolError("receiver closed without answering"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            why = type(exc).__name__ if exc is not None else "closed"
            self._fail(httpx.ReadError(f"connection lost ({why})"))

    # llhttp callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        if self._kept < _BODY_KEPT:
            self._body.append(body)
            self._kept += len(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers, self._body, self._kept, self._head_done = {}, [], 0, False
            return
        self._complete(keep=self.parser.should_keep_alive())

    def _complete(self, keep: bool) -> None:
        if not keep:
            self.closed = True
        self._done = True
        if self.waiter is not None and not self.waiter.done():
            status = self.parser.get_status_code()
            self.waiter.set_result(Reply(status, self._headers, b"".join(self._body)[:_BODY_KEPT]))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def request(self, data: bytes) -> Reply:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.got_bytes, self._done, self._head_done = False, False, False
        self._headers, self._body, self._kept = {}, [], 0
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None
            if not self._done:  # cancelled or failed midway: the stream is out of step
                self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class H1Pool:
    """POSTs over kept-alive HTTP/1.1 connections, a stack of idle ones per origin."""

    timeout: float = 10.0
    verify: bool | str = True
    keepalive: float = 5.0
    max_idle: int = 128  # per origin; more are closed when they come back
    _ssl: ssl.SSLContext | None = None
    _origins: dict[str, _Origin] = field(default_factory=dict)
    _idle: dict[tuple[bytes, bytes, int], list[_Conn]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> Reply:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to their loop (tests run several)
            self._drop_idle()
            self._loop = loop
        origin = self._origin(url)
        data = _request(origin, content, headers)
        deadline = asyncio.get_running_loop().time() + self.timeout
        conn, reused = await self._connection(origin, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                try:
                    reply = await conn.request(data)
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    if not (reused and not conn.got_bytes):
                        raise
                    # The receiver had closed this idle connection: once more, on a new one.
                    conn, reused = await self._connection(origin, deadline, fresh=True)
                    reply = await conn.request(data)
        except TimeoutError:
            conn.close()
            raise httpx.ReadTimeout(f"no answer within {self.timeout:g} s") from None
        self._release(origin, conn)
        return reply

    async def _connection(
        self, origin: _Origin, deadline: float, fresh: bool = False
    ) -> tuple[_Conn, bool]:
        idle = self._idle.get(origin.key)
        now = time.monotonic()
        while idle and not fresh:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive:
                return conn, True
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    _Conn,
                    origin.host,
                    origin.port,
                    ssl=self._context() if origin.tls else None,
                    server_hostname=origin.host if origin.tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {self.timeout:g} s") from None
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS: {exc.reason or type(exc).__name__}") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect ({exc.strerror or exc})") from None
        return conn, False

    def _release(self, origin: _Origin, conn: _Conn) -> None:
        if conn.closed:
            conn.close()
            return
        idle = self._idle.setdefault(origin.key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if isinstance(self.verify, str):  # a CA file or directory, as httpx took it
                where = Path(self.verify)
                self._ssl = ssl.create_default_context(
                    cafile=None if where.is_dir() else where,
                    capath=where if where.is_dir() else None,
                )
            else:
                self._ssl = httpx.create_ssl_context(verify=self.verify)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = _parse(url)
            if len(self._origins) >= 4096:  # a bound, not an LRU: URLs are few
                self._origins.clear()
            self._origins[url] = origin
        return origin

    async def aclose(self) -> None:
        self._drop_idle()

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                with contextlib.suppress(RuntimeError):  # its loop may be closed
                    conn.close()


def _parse(url: str) -> _Origin:
    u = httpx.URL(url)
    if u.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {u.scheme!r}")
    if not u.host:
        raise httpx.InvalidURL("no host in the URL")
    tls = u.scheme == "https"
    port = u.port or (443 if tls else 80)
    lines = [b"POST " + (u.raw_path or b"/") + b" HTTP/1.1", b"Host: " + u.netloc]
    if u.username or u.password:
        pair = f"{u.username}:{u.password}".encode()
        lines.append(b"Authorization: Basic " + base64.b64encode(pair))
    lines.append(b"User-Agent: " + USER_AGENT.encode())
    return _Origin((u.raw_scheme, u.raw_host, port), u.host, port, tls, b"\r\n".join(lines))


def _request(origin: _Origin, content: bytes, headers: Mapping[str, str]) -> bytes:
    parts = [origin.head, b"\r\nContent-Length: ", str(len(content)).encode()]
    for name, value in headers.items():
        if _BAD_HEADER.intersection(name) or _BAD_HEADER.intersection(value) or ":" in name:
            raise httpx.LocalProtocolError("invalid header name or value")
        parts += (b"\r\n", name.encode("latin-1"), b": ", value.encode("utf-8"))
    parts += (b"\r\n\r\n", content)
    return b"".join(parts)
