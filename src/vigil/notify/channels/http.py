"""The HTTP send shared by the webhook-style channels, and its failure classification.

2xx is sent; 429 and 5xx are retryable (``Retry-After`` honoured, seconds or HTTP date);
other statuses are not; timeouts and connection errors are retryable. The detail never
holds the URL (webhook URLs carry their token in the path), only status and error type.
"""

from __future__ import annotations

import email.utils
import logging
import time
import urllib.request
from collections.abc import Mapping
from typing import Protocol

import httpx

from vigil.notify.channels.h1 import USER_AGENT, H1Pool
from vigil.notify.interface import SendOutcome

# httpx logs every request's full URL at INFO, and a webhook URL's path is its token.
logging.getLogger("httpx").setLevel(logging.WARNING)


class Answer(Protocol):
    """What the channels read of a response (``httpx.Response``, ``h1.Reply``)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class Poster(Protocol):
    """What the channels send with: ``new_client``'s pool, or an httpx client."""

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpPool:
    """One httpx client per receiver (scheme, host, port), each keeping as many
    connections alive as the pipeline sends to one receiver at once (``stages.Send``:
    32). httpcore's pool looks at every one of its connections for each request, so one
    shared pool of all receivers' connections cost a burst O(connections) per request
    (and httpx's default of 20 kept-alive connections closed and reopened the rest):
    bench/notify_fanout.py measured both."""

    def __init__(self, timeout: float = 10.0, verify: bool | str = True, per_host: int = 40):
        self.timeout = timeout
        self.verify = verify
        self.limits = httpx.Limits(
            max_connections=per_host, max_keepalive_connections=per_host, keepalive_expiry=30
        )
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, url: str) -> httpx.AsyncClient:
        scheme, _, rest = url.partition("://")
        key = scheme + "://" + rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers={"user-agent": USER_AGENT},
                follow_redirects=False,
                verify=self.verify,
                limits=self.limits,
            )
        return client

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> Answer:
        return await self._client(url).post(url, content=content, headers=headers)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def new_client(timeout: float = 10.0, verify: bool | str = True) -> Poster:
    """The channels' HTTP client: ``h1.H1Pool`` (a lean keep-alive HTTP/1.1 client, the
    fan-out's hot path), or httpx's when the environment names a proxy, which only httpx
    speaks (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, with ``NO_PROXY``)."""
    proxies = urllib.request.getproxies_environment()
    if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return HttpPool(timeout, verify)
    return H1Pool(timeout, verify)


async def post(
    client: Poster,
    url: str,
    content: bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    secrets: tuple[str, ...] = (),
) -> SendOutcome:
    """POST once; ``secrets`` are cut out of anything the receiver echoes back."""
    try:
        response = await client.post(
            url, content=content, headers={"content-type": content_type, **(headers or {})}
        )
    except httpx.TimeoutException as exc:
        return SendOutcome(ok=False, retryable=True, detail=f"timeout ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return SendOutcome(
            ok=False, retryable=True, detail=f"connection error ({type(exc).__name__})"
        )
    except httpx.InvalidURL:
        return SendOutcome(ok=False, retryable=False, detail="invalid URL")
    if 200 <= response.status_code < 300:  # the common case: no text to scrub
        return SendOutcome.sent(response.status_code)
    return classify(response, (*url_secrets(url), *secrets))


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be a token: path, its longer segments, query, password."""
    parts = httpx.URL(url)
    found = [url, parts.path, parts.query.decode(errors="replace"), parts.password or ""]
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    return tuple(sorted((s for s in found if s and s != "/"), key=len, reverse=True))


def classify(response: Answer, secrets: tuple[str, ...] = ()) -> SendOutcome:
    status = response.status_code
    if 200 <= status < 300:
        return SendOutcome.sent(status)
    # The receiver's own words, cut short; they are its error text, not our secret.
    said = response.text[:200]
    for secret in secrets:
        if secret:
            said = said.replace(secret, "…")
    said = said[:120].replace("\n", " ").strip()
    detail = f"HTTP {status}" + (f": {said}" if said else "")
    if status == 429 or status >= 500:
        return SendOutcome(
            ok=False,
            retryable=True,
            status=status,
            detail=detail,
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    return SendOutcome(ok=False, retryable=False, status=status, detail=detail)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
