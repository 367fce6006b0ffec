"""Reading a request body under a size bound, for the HTTP ingest endpoints.

``read_body`` refuses a declared ``Content-Length`` over the bound before reading, and
stops reading a chunked or lying body as soon as it passes the bound, so a client cannot
make the server hold more than ``max_bytes`` of it.
"""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
