"""Starlette's router with a table of exact paths in front.

Starlette tries its routes in order, one regular expression each: the main port has ~30
before the ingest paths, and a remote-write or OTLP request spent ~0.2 ms of the event
loop there (cProfile; a 2,000-sample remote-write request costs ~1 ms in all). Here a
request whose path and method name a route without path parameters goes straight to it —
only when no route before it would have taken that path and method, which is decided once
when the router is built, so the answer is always the one Starlette's scan gives.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class ExactRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        self.exact = exact_routes(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.exact.get((get_route_path(scope), scope["method"]))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def exact_routes(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) → the route Starlette's scan would pick first, for every route
    without path parameters that no earlier route fully matches. An earlier route of the
    same kind takes the same path and method only (the first one stays in the table);
    the earlier routes with parameters, mounts and the rest are asked."""
    table: dict[tuple[str, str], Route] = {}
    others: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, Route) or route.param_convertors or not route.methods:
            others.append(route)
            continue
        for method in route.methods:
            probe: Scope = {"type": "http", "path": route.path, "root_path": "", "method": method}
            if (route.path, method) not in table and not any(_may_take(r, probe) for r in others):
                table[(route.path, method)] = route
    return table


def _may_take(route: BaseRoute, probe: Scope) -> bool:
    try:
        return route.matches(probe)[0] is Match.FULL
    except Exception:  # a route that needs more of the request (e.g. a Host): assume so
        return True
