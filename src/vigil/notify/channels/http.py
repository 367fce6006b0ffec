"""The HTTP send shared by the webhook-style channels, and its failure classification.

2xx is sent; 429 and 5xx are retryable (``Retry-After`` honoured, seconds or HTTP date);
other statuses are not; timeouts and connection errors are retryable. The detail never
holds the URL (webhook URLs carry their token in the path), only status and error type.
"""

from __future__ import annotations

import email.utils
import logging
import time

import httpx

from vigil.notify.interface import SendOutcome

USER_AGENT = "vigil-notify/1"

# httpx logs every request's full URL at INFO, and a webhook URL's path is its token.
logging.getLogger("httpx").setLevel(logging.WARNING)


def new_client(timeout: float = 10.0, verify: bool | str = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
        verify=verify,
    )


async def post(
    client: httpx.AsyncClient,
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
    return classify(response, (*url_secrets(url), *secrets))


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be a token: path, its longer segments, query, password."""
    parts = httpx.URL(url)
    found = [url, parts.path, parts.query.decode(errors="replace"), parts.password or ""]
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    return tuple(sorted((s for s in found if s and s != "/"), key=len, reverse=True))


def classify(response: httpx.Response, secrets: tuple[str, ...] = ()) -> SendOutcome:
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
