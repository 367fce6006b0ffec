"""``api.router.ExactRouter``: the table of exact paths gives the route Starlette's own scan
gives, on a table with shadowing (a parameter route, a mount) and methods apart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from vigil.api.router import ExactRouter, exact_routes


def _answer(text: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(_: Request) -> Response:
        return PlainTextResponse(text)

    return endpoint


ROUTES = [
    Route("/a/{name}", _answer("param"), methods=["POST"]),
    Route("/a/b", _answer("shadowed"), methods=["POST", "GET"]),
    Mount("/m", routes=[Route("/x", _answer("mounted"))]),
    Route("/m/x", _answer("after mount"), methods=["GET"]),
    Route("/c", _answer("c get"), methods=["GET"]),
    Route("/c", _answer("c post"), methods=["POST"]),
]


def test_a_route_an_earlier_one_takes_is_left_to_the_scan() -> None:
    table = exact_routes(ROUTES)
    assert ("/a/b", "POST") not in table  # /a/{name} takes POST /a/b first
    assert table[("/a/b", "GET")] is ROUTES[1]
    assert ("/m/x", "GET") not in table  # the mount takes it first
    assert table[("/c", "GET")] is ROUTES[4]
    assert table[("/c", "POST")] is ROUTES[5]


async def _get(router: Router, method: str, path: str) -> str:
    body: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))  # type: ignore[arg-type]

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    await router(scope, receive, send)  # type: ignore[arg-type]
    return f"{status[0]} {b''.join(body).decode()}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/a/b"),
        ("GET", "/a/b"),
        ("GET", "/m/x"),
        ("GET", "/c"),
        ("POST", "/c"),
        ("PUT", "/c"),
        ("GET", "/nowhere"),
    ],
)
def test_the_same_answers_as_starlettes_scan(method: str, path: str) -> None:
    fast = asyncio.run(_get(ExactRouter(ROUTES), method, path))
    assert fast == asyncio.run(_get(Router(routes=ROUTES), method, path))
