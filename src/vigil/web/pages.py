"""Serving the UI on the main port: the built front end (``static/``) and its pages.

Contract: ``GET /static/…`` serves the build output (hashed file names: cached for good);
every page path (``/``, ``/dashboards``, ``/dashboards/{name}``, and the explorers' paths
in ``PAGES``; ``/metrics`` for browsers only, see ``with_metrics_page``)
answers the same ``index.html``, whose script routes by ``location`` (every view is a
link). ``GET /?Action=…`` and ``POST /`` stay the AWS query protocol's (``aws_root``).
The shell names the optional APIs this server has (``<meta name="vigil-features">``, e.g.
``alarms`` when ``/api/v1/alarms`` is routed), so the page never asks for one it lacks.
Pages and static files need no API key (they hold no data; the ``/api/v1`` calls the page
makes do). Without a build (a checkout where ``make`` has not run) a page says how to build
it instead of a blank screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"

# First path segments of the UI's pages (the explorers add theirs here). Not "metrics":
# ``/metrics`` is vigil's Prometheus endpoint (behind the API key); the metrics explorer is
# served there to browsers only, by content negotiation (``with_metrics_page``).
PAGES = ("dashboards", "logs", "traces", "service-map", "alarms", "incidents")

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>vigil</title>
</head><body><h1>vigil</h1><p>The web UI is not built in this installation.
Run <code>make setup</code> (or <code>make run</code>) in the source tree to build it
from <code>web/</code>.</p></body></html>"""

AwsRoot = Callable[[Request], Awaitable[Response]]


class _Static(StaticFiles):
    """Build output: file names carry a content hash, so browsers may keep them."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def is_page(scope: Scope) -> bool:
    """Paths the UI serves without an API key (pages and static files)."""
    path: str = scope["path"]
    first = path.lstrip("/").split("/", 1)[0]
    return first == "static" or first in PAGES


FEATURES = {
    "alarms": "/api/v1/alarms",
    "alarm-detail": "/api/v1/alarms/{name}",  # one alarm, backtest, create/edit
    "incidents": "/api/v1/incidents",
}


def page_endpoint(
    api_paths: Sequence[str] = (), static_dir: Path = STATIC_DIR
) -> Callable[[Request], Awaitable[Response]]:
    """The shell (``index.html``) naming the features of ``api_paths``."""
    index = static_dir / "index.html"
    features = [f for f, prefix in FEATURES.items() if any(p.startswith(prefix) for p in api_paths)]
    meta = f'<meta name="vigil-features" content="{" ".join(features)}">'

    async def page(request: Request) -> Response:
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503)
        html = index.read_text().replace("<head>", "<head>" + meta, 1)
        # The shell itself must not be cached: it names the current build's assets.
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return page


def wants_page(scope: Scope) -> bool:
    """A browser asking for ``/metrics`` (the metrics explorer), not a scraper.

    Browsers put ``text/html`` first in Accept; Prometheus scrapers ask for
    ``application/openmetrics-text`` and/or ``text/plain;version=0.0.4``, curl for
    ``*/*``: those get the exposition, as before."""
    if scope["type"] != "http" or scope["path"] != "/metrics" or scope["method"] != "GET":
        return False
    accept = ""
    for key, value in scope.get("headers", ()):
        if key == b"accept":
            accept = value.decode("latin-1").lower()
    return "text/html" in accept and "openmetrics" not in accept and "version=0.0.4" not in accept


def with_metrics_page(app: ASGIApp, page: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """``app`` with ``GET /metrics`` answered by the UI's shell for browsers (no API key:
    the page holds no data; its ``/api/v1`` calls need one as always)."""

    async def negotiated(scope: Scope, receive: Receive, send: Send) -> None:
        if wants_page(scope):
            response = await page(Request(scope, receive))
            response.headers["Vary"] = "Accept"
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return negotiated


def routes(
    aws_root: AwsRoot | None = None,
    api_paths: Sequence[str] = (),
    static_dir: Path = STATIC_DIR,
) -> list[BaseRoute]:
    """``api_paths``: the paths routed on the same port (for the features the shell names)."""
    page = page_endpoint(api_paths, static_dir)

    async def root(request: Request) -> Response:
        aws_shaped = (
            request.method != "GET"
            or "Action" in request.query_params
            or "x-amz-target" in request.headers
            or request.headers.get("authorization", "").startswith("AWS4-")
        )
        if aws_root is not None and aws_shaped:
            return await aws_root(request)
        return await page(request)

    out: list[BaseRoute] = [
        Route("/", root, methods=["GET", "POST"]),
        Mount("/static", app=_Static(directory=static_dir, check_dir=False), name="static"),
    ]
    for name in PAGES:
        out.append(Route(f"/{name}", page, methods=["GET"]))
        out.append(Route(f"/{name}/{{rest:path}}", page, methods=["GET"]))
    return out
