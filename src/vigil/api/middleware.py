"""ASGI middleware: API-key check in front of every route but the open ones."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.api.responses import error
from vigil.auth import Authenticator, AuthError


class AuthMiddleware:
    """Refuses requests without a valid key (401) when keys are configured.

    ``exempt(scope)`` lets a route do its own authentication (e.g. AWS SigV4 on the AWS
    endpoint) or none (``/healthz``).
    """

    def __init__(self, app: ASGIApp, auth: Authenticator, exempt: Callable[[Scope], bool]) -> None:
        self._app = app
        self._auth = auth
        self._exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._auth.enabled or self._exempt(scope):
            await self._app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            self._auth.check_bearer(header)
        except AuthError as exc:
            response = error(401, "unauthorized", str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)
