"""The channels' lean HTTP/1.1 client (``notify.channels.h1``) against real local servers
(asyncio sockets, a TLS server with its own CA): keep-alive reuse, a connection the
receiver closed while idle, chunked answers, close-delimited HTTP/1.0 answers, TLS
verification (refused without the CA, accepted with it), URL credentials, timeouts."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigil.notify.channels.h1 import H1Pool
from vigil.notify.channels.http import post

Answer = Callable[[bytes], bytes]  # request head → raw response bytes


def ok(_: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@dataclass
class Server:
    """A raw HTTP/1.1 server: reads a request (Content-Length), answers ``answer(head)``;
    ``close_after`` closes the connection after answering (keep-alive advertised)."""

    answer: Answer = ok
    close_after: bool = False
    delay: float = 0.0
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(self.answer(head))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_keep_alive_reuses_one_connection() -> None:
    async def go() -> None:
        server = Server()
        url = await server.start()
        pool = H1Pool(5.0)
        for i in range(5):
            reply = await pool.post(f"{url}/hook/{i}", content=b"{}", headers={"x-n": str(i)})
            assert (reply.status_code, reply.text) == (200, "ok")
        assert server.connections == 1
        head, body = server.requests[-1]
        assert head.startswith(b"POST /hook/4 HTTP/1.1\r\n")
        assert b"\r\nx-n: 4\r\n" in head
        assert b"\r\nContent-Length: 2\r\n" in head
        assert b"\r\nHost: 127.0.0.1:" in head
        assert body == b"{}"
        # Concurrent requests take connections of their own, then share them again.
        await asyncio.gather(*(pool.post(url, content=b"x", headers={}) for _ in range(8)))
        assert server.connections <= 8
        await pool.aclose()
        await server.stop()

    run(go)


def test_a_connection_closed_while_idle_is_replaced_and_sent_once() -> None:
    async def go() -> None:
        server = Server(close_after=True)  # says keep-alive, then hangs up
        url = await server.start()
        pool = H1Pool(5.0)
        for _ in range(3):
            assert (await pool.post(url, content=b"a", headers={})).status_code == 200
            await asyncio.sleep(0.05)  # the close reaches the idle connection
        assert len(server.requests) == 3  # each sent once
        assert server.connections == 3
        await pool.aclose()
        await server.stop()

    run(go)


def test_chunked_and_close_delimited_answers() -> None:
    chunked = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\ntransfer-encoding: chunked\r\n"
        b"\r\n5\r\nslow \r\n5\r\ndown!\r\n0\r\n\r\n"
    )
    http10 = b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, no length"

    async def go() -> None:
        server = Server(answer=lambda _: chunked)
        url = await server.start()
        pool = H1Pool(5.0)
        outcome = await post(pool, url, b"{}")
        assert (outcome.status, outcome.retryable, outcome.retry_after) == (429, True, 7.0)
        assert outcome.detail == "HTTP 429: slow down!"
        server.answer, server.close_after = (lambda _: http10), True
        outcome = await post(pool, url, b"{}")
        assert (outcome.status, outcome.retryable, outcome.detail) == (
            503,
            True,
            "HTTP 503: busy, no length",
        )
        await pool.aclose()
        await server.stop()

    run(go)


def test_url_credentials_are_sent_as_basic_auth_and_headers_are_checked() -> None:
    async def go() -> None:
        server = Server()
        url = await server.start()
        pool = H1Pool(5.0)
        with_user = url.replace("http://", "http://ops:p%40ss@") + "/x?a=1 2"
        assert (await pool.post(with_user, content=b"", headers={})).status_code == 200
        head = server.requests[-1][0]
        assert head.startswith(b"POST /x?a=1%202 HTTP/1.1\r\n")
        assert b"Authorization: Basic " + base64.b64encode(b"ops:p@ss") in head
        assert b"ops" not in head.split(b"\r\n")[1]  # not in the Host line
        with pytest.raises(httpx.LocalProtocolError):
            await pool.post(url, content=b"", headers={"x-bad": "a\r\nInjected: 1"})
        await pool.aclose()
        await server.stop()

    run(go)


def test_timeouts_and_refused_connections_are_retryable() -> None:
    async def go() -> None:
        server = Server(delay=2.0)
        url = await server.start()
        pool = H1Pool(0.3)
        outcome = await post(pool, url, b"{}")
        assert outcome.retryable
        assert not outcome.ok
        assert outcome.detail == "timeout (ReadTimeout)"
        outcome = await post(H1Pool(1.0), "http://127.0.0.1:9/hook", b"{}")
        assert outcome.retryable
        assert outcome.detail == "connection error (ConnectError)"
        await pool.aclose()
        await server.stop()

    run(go)


def _ca_and_server_context(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a server certificate it signed for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = tmp / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "server.pem")
    return ca_path, context


def test_tls_is_verified(tmp_path: Path) -> None:
    ca_path, server_tls = _ca_and_server_context(tmp_path)

    async def go() -> None:
        server = Server()
        url = await server.start(server_tls)
        # Not signed by a CA the client trusts: refused before any byte of the request.
        refused = await post(H1Pool(5.0), url + "/hook", b"{}")
        assert not refused.ok
        assert refused.retryable
        assert refused.detail == "connection error (ConnectError)"
        assert server.requests == []
        # Trusted (the CA file as ``verify``, as httpx takes it): sent, over TLS.
        pool = H1Pool(5.0, verify=str(ca_path))
        for _ in range(2):
            assert (await post(pool, url + "/hook", b"{}")).ok
        assert len(server.requests) == 2
        assert server.connections == 1
        # The name is checked too: the certificate is for 127.0.0.1, not localhost.
        wrong_name = url.replace("127.0.0.1", "localhost")
        outcome = await post(H1Pool(5.0, verify=str(ca_path)), wrong_name, b"{}")
        assert not outcome.ok
        assert outcome.detail == "connection error (ConnectError)"
        await pool.aclose()
        await server.stop()

    run(go)
