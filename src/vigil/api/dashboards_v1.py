"""``/api/v1/dashboards`` — what the UI reads and writes (the read API's JSON and errors).

* ``GET /api/v1/dashboards[?prefix=P]`` → ``{"dashboards": [{"name", "modified", "size",
  "widgets"}]}``
* ``GET /api/v1/dashboards/{name}`` → ``{"name", "modified", "body"}`` (``body`` parsed);
  404 ``not_found`` when there is none.
* ``PUT /api/v1/dashboards/{name}`` with the dashboard body → ``{"name", "modified"}``; an
  invalid body answers 400 ``invalid_dashboard`` with ``messages`` (``DataPath``,
  ``Message`` as PutDashboard's) and stores nothing.
* ``DELETE /api/v1/dashboards/{name}``.
* ``POST /api/v1/dashboards/metric-data`` ``{"start", "end", "period", "widgets": [{"key",
  "properties"}]}`` → ``{"widgets": {key: {"times": [epoch s], "series": [{"row", "id",
  "label", "values"}]} | {"error": "…"}}}``: every metric widget of a refresh in one
  request (``query.dashboard``); ``values`` are on the widget's ``times`` (null: no
  point); a widget whose query fails carries its error, the others data. With
  ``Accept: application/vnd.vigil.columns`` the same document comes in ``api.columns``'
  layout (times and values as float64 blocks, NaN: no point): what the UI asks for.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api import columns
from vigil.api.endpoint import json_endpoint
from vigil.api.params import ParamError, Params, parse_time
from vigil.api.responses import JSONResponse, error
from vigil.model.dashboard import NAME_RE, validate
from vigil.model.timefmt import rfc3339
from vigil.query import metrics as md
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS
from vigil.query.metricmath.functions import FunctionTable
from vigil.query.metrics import widgets as dq
from vigil.state.dashboards import DashboardNotFound, Dashboards
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention
from vigil.telemetry import SelfMetrics

_KEY = re.compile(r"^[A-Za-z0-9]{1,16}$")
MAX_WIDGETS = 100


class DashboardsApi:
    def __init__(
        self,
        dashboards: Dashboards,
        store: Store,
        metrics: SelfMetrics,
        retention: MetricRetention,
        clock: Callable[[], int] = time.time_ns,
        search_limit: int = 500,
        functions: FunctionTable = DEFAULT_FUNCTIONS,
    ) -> None:
        self._dashboards = dashboards
        self._store = store
        self._metrics = metrics
        self._retention = retention
        self._clock = clock
        self._search_limit = search_limit
        self._functions = functions  # metric math's, the server's (bands, insight rules)

    def routes(self) -> list[Route]:
        timer = self._metrics.query_seconds
        return [
            Route("/api/v1/dashboards", json_endpoint(self.list, timer.labels("dashboards"))),
            Route(
                "/api/v1/dashboards/metric-data",
                json_endpoint(self.metric_data, timer.labels("dashboard_metric_data")),
                methods=["POST"],
            ),
            Route(
                "/api/v1/dashboards/{name}",
                json_endpoint(self.one, timer.labels("dashboard")),
                methods=["GET", "PUT", "DELETE"],
            ),
        ]

    async def list(self, request: Request, tenant: str, p: Params) -> Response:
        found = await asyncio.to_thread(self._dashboards.list, tenant, p.text("prefix") or "")
        out = []
        for d in found:
            body, _ = validate(d.body)
            widgets = body.get("widgets", []) if body else []
            out.append(
                {
                    "name": d.name,
                    "modified": rfc3339(d.modified_ms * 10**6),
                    "size": d.size,
                    "widgets": len(widgets) if isinstance(widgets, list) else 0,
                }
            )
        return JSONResponse({"dashboards": out})

    async def one(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        if request.method == "PUT":
            if not NAME_RE.match(name):
                raise ParamError("name", "1 to 255 letters, digits, '-' and '_'")
            text = (await request.body()).decode("utf-8", "replace")
            _, problems = validate(text)
            if problems:
                answer = error(
                    400,
                    "invalid_dashboard",
                    f"the dashboard body has {len(problems)} problem(s):"
                    f" {problems[0].data_path or '/'}: {problems[0].message}",
                    "body",
                )
                payload = orjson.loads(answer.body)
                payload["error"]["messages"] = [pr.as_aws() for pr in problems]
                return JSONResponse(payload, status_code=400)
            saved = await asyncio.to_thread(self._dashboards.put, tenant, name, text)
            return JSONResponse({"name": name, "modified": rfc3339(saved.modified_ms * 10**6)})
        if request.method == "DELETE":
            try:
                await asyncio.to_thread(self._dashboards.delete, tenant, [name])
            except DashboardNotFound:
                return error(404, "not_found", f"dashboard {name} does not exist")
            return JSONResponse({"deleted": name})
        found = await asyncio.to_thread(self._dashboards.get, tenant, name)
        if found is None:
            return error(404, "not_found", f"dashboard {name} does not exist")
        return JSONResponse(
            {
                "name": found.name,
                "modified": rfc3339(found.modified_ms * 10**6),
                "body": orjson.loads(found.body),
            }
        )

    async def metric_data(self, request: Request, tenant: str, p: Params) -> Response:
        now = self._clock()
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ParamError("body", f"is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ParamError("body", "must be a JSON object")
        end = parse_time("end", str(body.get("end", "now")), now)
        start = parse_time("start", str(body.get("start", "now-3h")), now)
        if start >= end:
            raise ParamError("start", "must be before end")
        period = body.get("period", 60)
        if not isinstance(period, int) or period < 1:
            raise ParamError("period", "must be a positive integer (seconds)")
        raw = body.get("widgets")
        if not isinstance(raw, list) or len(raw) > MAX_WIDGETS:
            raise ParamError("widgets", f"must be a list of at most {MAX_WIDGETS} widgets")
        answers: dict[str, Any] = {}
        requests: list[dq.WidgetRequest] = []
        for i, w in enumerate(raw):
            key = w.get("key") if isinstance(w, dict) else None
            if not isinstance(key, str) or not _KEY.match(key) or key in answers:
                raise ParamError(f"widgets[{i}].key", "must be 1-16 letters or digits, unique")
            props = w.get("properties")
            if not isinstance(props, dict):
                raise ParamError(f"widgets[{i}].properties", "must be an object")
            try:
                requests.append(dq.widget_queries(key, props, period))
                answers[key] = None
            except (dq.WidgetError, ValueError, TypeError, LookupError) as exc:
                answers[key] = {"error": str(exc)}
        fetch = md.Fetch(self._store, self._retention, tenant, now // 10**9)
        results = await dq.run(
            fetch,
            requests,
            start // 10**9,
            -(-end // 10**9),
            search_limit=self._search_limit,
            functions=self._functions,
        )
        for r in results:
            answers[r.key] = r.compact()
        if columns.MEDIA_TYPE in request.headers.get("accept", ""):
            # The page's form: values as float64 blocks it reads without parsing.
            return Response(columns.encode({"widgets": answers}), media_type=columns.MEDIA_TYPE)
        # numpy arrays as they are (NaN: null), not lists of Python floats first.
        return Response(
            orjson.dumps(
                {"widgets": answers}, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
            ),
            media_type="application/json",
        )
