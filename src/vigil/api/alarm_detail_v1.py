"""``/api/v1/alarms/{name}`` — one alarm for the UI: read, create or edit, delete, its
history, and its backtest.

* ``GET /api/v1/alarms/{name}`` → ``{"name", "kind", "definition" (as DescribeAlarms
  shows it, boto3 member names), "state", "reason", "reason_data", "updated_ms",
  "transitioned_ms", "configuration_updated_ms"}``; 404 ``not_found``.
* ``PUT /api/v1/alarms/{name}`` with PutMetricAlarm's parameters as JSON (boto3 member
  names; ``AlarmName`` is the path's) creates or replaces a metric alarm through the same
  checks as PutMetricAlarm (botocore's model, then CloudWatch's own): a refused definition
  answers 400 with CloudWatch's code and words, and nothing is stored.
* ``DELETE /api/v1/alarms/{name}``.
* ``GET /api/v1/alarms/{name}/history[?type=StateUpdate|ConfigurationUpdate|Action]
  [&start&end&limit]`` → ``{"items": [{"time_ms", "type", "summary", "data"}]}``, newest
  first.
* ``POST /api/v1/alarm-backtest[?start&end]`` with PutMetricAlarm's parameters: the same
  backtest for a definition not saved (the alarm form's preview); refused definitions 400.
* ``POST /api/v1/alarm-annotations`` ``{"start", "end", "metrics": [{"namespace", "name",
  "dimensions": {k: v}}], "alarms": [names]}`` → ``{"alarms": [{"name", "state",
  "threshold", "comparison", "before", "changes": [{"time_ms", "old", "new"}]}]}``: the
  alarms named, and those watching one of the metrics (same namespace, name and
  dimensions), with their state changes in the range (``before``: the state at ``start``)
  — what graphs draw as annotations. At most ``MAX_ANNOTATED`` alarms.
  The batch form (a dashboard: one request for all its graphs) takes ``"groups": [{"metrics",
  "alarms"}]`` instead (at most ``MAX_GROUPS``) and answers ``{"alarms": [...], "groups":
  [[names]]}``: each group's names are what the single form would answer for that group's
  metrics and alarms, in the same order; ``alarms`` holds each alarm once.
* ``GET /api/v1/alarms/{name}/backtest[?start=T&end=T]`` (default: the 7 days up to now;
  at most 15 days) → what the definition would have done over stored data
  (``rules.alarms.backtest``): ``{"start", "end", "step", "evaluations", "changes":
  [{"time", "old", "new", "reason"}], "final", "series": {"period", "times", "values",
  "lower", "upper"}, "threshold", "comparison"}`` — times in epoch seconds, nulls where a
  period has no value. Composite alarms have no backtest (400).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.aws import alarm_params as checks
from vigil.api.aws import protocols
from vigil.api.aws.cloudwatch_alarms import CloudWatchAlarmsService
from vigil.api.aws.interface import AwsError, RequestContext
from vigil.api.endpoint import json_endpoint
from vigil.api.params import ParamError, Params, parse_time
from vigil.api.responses import JSONResponse, error
from vigil.query.metricmath import MathError
from vigil.query.metrics import QueryError
from vigil.rules.alarms import backtest
from vigil.rules.alarms.engine import AlarmEngine
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.model import MetricAlarm
from vigil.rules.alarms.spec import metric_alarm
from vigil.state.alarms import AlarmStore

DEFAULT_DAYS = 7
MAX_SECONDS = 15 * 86_400
ITEM_TYPES = ("StateUpdate", "ConfigurationUpdate", "Action")
MAX_ANNOTATED = 20
MAX_GROUPS = 500  # CloudWatch's most widgets on one dashboard
MAX_CHANGES = 500
_MODEL = protocols.load_model("cloudwatch")


class AlarmDetailApi:
    def __init__(
        self,
        engine: AlarmEngine,
        service: CloudWatchAlarmsService,
        store: AlarmStore,
        reader: MetricReader,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._service = service
        self._store = store
        self._reader = reader
        self._clock = clock

    def routes(self) -> list[Route]:
        return [
            Route(
                "/api/v1/alarms/{name}",
                json_endpoint(self.one),
                methods=["GET", "PUT", "DELETE"],
            ),
            Route("/api/v1/alarms/{name}/history", json_endpoint(self.history)),
            Route("/api/v1/alarm-annotations", json_endpoint(self.annotations), methods=["POST"]),
            Route("/api/v1/alarms/{name}/backtest", json_endpoint(self.backtest)),
            Route("/api/v1/alarm-backtest", json_endpoint(self.preview), methods=["POST"]),
        ]

    async def one(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        if request.method == "PUT":
            return await self._put(request, tenant, name)
        entry = self._engine.get(tenant, name)
        if entry is None:
            return error(404, "not_found", f"there is no alarm named {name}")
        if request.method == "DELETE":
            await self._service.operations()["DeleteAlarms"](
                {"AlarmNames": [name]}, _context(tenant)
            )
            return JSONResponse({"deleted": name})
        s = entry.state
        definition = dict(entry.spec)
        return JSONResponse(
            {
                "name": name,
                "kind": entry.alarm.kind,
                "definition": definition,
                "state": s.value,
                "reason": s.reason,
                "reason_data": orjson.loads(s.reason_data) if s.reason_data else None,
                "updated_ms": s.updated_ms,
                "transitioned_ms": s.transitioned_ms,
                "configuration_updated_ms": entry.updated_ms,
            }
        )

    async def _put(self, request: Request, tenant: str, name: str) -> Response:
        params = await _json_object(request)
        params["AlarmName"] = name
        problem = protocols.validate(params, _MODEL.operation_model("PutMetricAlarm").input_shape)
        try:
            if problem:
                raise AwsError("ValidationError", problem)
            await self._service.operations()["PutMetricAlarm"](params, _context(tenant))
        except AwsError as exc:
            return error(400, exc.code, exc.message, "body")
        return JSONResponse({"name": name}, status_code=200)

    async def history(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        entry = self._engine.get(tenant, name)
        if entry is None:
            return error(404, "not_found", f"there is no alarm named {name}")
        now = self._clock()
        item_type = p.text("type")
        if item_type is not None and item_type not in ITEM_TYPES:
            raise ParamError("type", f"must be one of {', '.join(ITEM_TYPES)}")
        start, end = p.time("start", now), p.time("end", now)
        items = await asyncio.to_thread(
            self._store.history,
            tenant,
            name,
            [entry.alarm.kind],
            item_type,
            None if start is None else start // 10**6,
            None if end is None else end // 10**6,
            None,
            p.integer("limit", 100, lo=1, hi=1000),
            True,
        )
        return JSONResponse(
            {
                "items": [
                    {
                        "time_ms": i.timestamp_ms,
                        "type": i.item_type,
                        "summary": i.summary,
                        "data": i.data,
                    }
                    for i in items
                ]
            }
        )

    async def backtest(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        entry = self._engine.get(tenant, name)
        if entry is None:
            return error(404, "not_found", f"there is no alarm named {name}")
        alarm = entry.alarm
        if not isinstance(alarm, MetricAlarm):
            return error(400, "invalid_parameter", "a composite alarm has no backtest", "name")
        return await self._backtest(alarm, p)

    async def preview(self, request: Request, tenant: str, p: Params) -> Response:
        """A definition not saved yet (the alarm form), backtested as it stands."""
        params = await _json_object(request)
        params.setdefault("AlarmName", "preview")
        problem = protocols.validate(params, _MODEL.operation_model("PutMetricAlarm").input_shape)
        try:
            if problem:
                raise AwsError("ValidationError", problem)
            arn = _context(tenant).arn("cloudwatch", f"alarm:{params['AlarmName']}")
            alarm = metric_alarm(tenant, checks.metric_alarm(params, arn))
        except AwsError as exc:
            return error(400, exc.code, exc.message, "body")
        return await self._backtest(alarm, p)

    async def _backtest(self, alarm: MetricAlarm, p: Params) -> Response:
        name = alarm.name
        now = self._clock()
        end_ns = p.time("end", now) or now
        start_ns = p.time("start", now)
        end = -(-end_ns // 10**9)  # up to the second that holds it
        start = end - DEFAULT_DAYS * 86_400 if start_ns is None else start_ns // 10**9
        if start >= end:
            raise ParamError("start", "must be before end")
        if end - start > MAX_SECONDS:
            raise ParamError("start", "a backtest covers at most 15 days")
        try:
            query = await backtest.load(self._reader, alarm, start, end)
        except (QueryError, MathError) as exc:
            return error(400, "invalid_query", str(exc))
        result = await asyncio.to_thread(backtest.replay, alarm, start, end, query)
        stamps, values, lower, upper = query.series()
        return JSONResponse(
            {
                "name": name,
                "start": start,
                "end": end,
                "step": backtest.evaluation_step(alarm.period),
                "evaluations": result.evaluations,
                "changes": [
                    {"time": c.at, "old": c.old, "new": c.new, "reason": c.reason}
                    for c in result.changes
                ],
                "final": result.final,
                "series": {
                    "period": alarm.period,
                    "times": stamps,
                    "values": _nulls(values),
                    "lower": None if lower is None else _nulls(lower),
                    "upper": None if upper is None else _nulls(upper),
                },
                "threshold": alarm.threshold,
                "comparison": alarm.comparison,
            }
        )

    async def annotations(self, request: Request, tenant: str, p: Params) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ParamError("body", f"is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ParamError("body", "must be a JSON object")
        now = self._clock()
        start = _body_ms(body, "start", now)
        end = _body_ms(body, "end", now)
        if start is None or end is None or start >= end:
            raise ParamError("start", "start and end (epoch ms) are required, start first")
        batch = "groups" in body
        if batch and ("metrics" in body or "alarms" in body):
            raise ParamError("groups", "give either groups or metrics and alarms, not both")
        groups = _groups(body) if batch else [_group(body, "")]
        entries = self._engine.entries(tenant)
        chosen = [_select(entries, wanted, names) for wanted, names in groups]
        # Each alarm once, however many graphs show it: its history is read once.
        unique = list({e.alarm.name: e for picked in chosen for e in picked}.values())
        changes = await asyncio.to_thread(
            lambda: [self._changes(tenant, e, start, end) for e in unique]
        )
        out = []
        for entry, (moves, before) in zip(unique, changes, strict=True):
            alarm = entry.alarm
            out.append(
                {
                    "name": alarm.name,
                    "state": entry.state.value,
                    "threshold": alarm.threshold if isinstance(alarm, MetricAlarm) else None,
                    "comparison": alarm.comparison if isinstance(alarm, MetricAlarm) else None,
                    "before": before,
                    "changes": moves,
                }
            )
        if not batch:
            return JSONResponse({"alarms": out})
        names = [[e.alarm.name for e in picked] for picked in chosen]
        return JSONResponse({"alarms": out, "groups": names})

    def _changes(
        self, tenant: str, entry: Any, start: int, end: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        name, kinds = entry.alarm.name, [entry.alarm.kind]
        items = self._store.history(
            tenant, name, kinds, "StateUpdate", start, end, None, MAX_CHANGES, False
        )
        earlier = self._store.history(
            tenant, name, kinds, "StateUpdate", None, start, None, 1, True
        )
        before = earlier[0].data["newState"]["stateValue"] if earlier else None
        return [
            {
                "time_ms": i.timestamp_ms,
                "old": i.data["oldState"]["stateValue"],
                "new": i.data["newState"]["stateValue"],
            }
            for i in items
        ], before


Ref = tuple[str, str, tuple[tuple[str, str], ...]]


def _watched(alarm: MetricAlarm) -> list[Ref]:
    refs = [alarm.metric] if alarm.metric is not None else []
    refs += [q.metric for q in alarm.metrics if q.metric is not None]
    return [(m.namespace, m.name, m.dimensions) for m in refs]


def _select(entries: Any, wanted: set[Ref], names: set[str]) -> list[Any]:
    """The alarms named, and those watching one of the metrics: at most MAX_ANNOTATED."""
    found = []
    for entry in entries:
        alarm = entry.alarm
        if alarm.name in names or (
            isinstance(alarm, MetricAlarm) and wanted & set(_watched(alarm))
        ):
            found.append(entry)
            if len(found) == MAX_ANNOTATED:
                break
    return found


def _group(body: dict[str, Any], where: str) -> tuple[set[Ref], set[str]]:
    metrics = _list_of(body, "metrics", where)
    wanted = {_metric_ref(m, f"{where}metrics[{i}]") for i, m in enumerate(metrics)}
    names = _list_of(body, "alarms", where)
    if not all(isinstance(n, str) for n in names):
        raise ParamError(f"{where}alarms", "must be a list of alarm names")
    return wanted, set(names)


def _groups(body: dict[str, Any]) -> list[tuple[set[Ref], set[str]]]:
    groups = body["groups"]
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise ParamError("groups", f"must be a list (at most {MAX_GROUPS} groups)")
    out = []
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            raise ParamError(f"groups[{i}]", "must be an object with metrics and alarms")
        out.append(_group(group, f"groups[{i}]."))
    return out


def _metric_ref(m: Any, where: str) -> Ref:
    if not isinstance(m, dict):
        raise ParamError(where, "must be an object with namespace, name and dimensions")
    ns, name, dims = m.get("namespace"), m.get("name"), m.get("dimensions") or {}
    if not isinstance(ns, str) or not isinstance(name, str) or not isinstance(dims, dict):
        raise ParamError(where, "needs a namespace and a name (strings), dimensions an object")
    return (ns, name, tuple(sorted((str(k), str(v)) for k, v in dims.items())))


def _list_of(body: dict[str, Any], key: str, where: str = "") -> list[Any]:
    value = body.get(key) or []
    if not isinstance(value, list) or len(value) > 500:
        raise ParamError(where + key, "must be a list (at most 500 items)")
    return value


def _body_ms(body: dict[str, Any], key: str, now_ns: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParamError(key, "must be a time")
    return parse_time(key, str(value), now_ns) // 10**6


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        params = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ParamError("body", f"is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ParamError("body", "must be a JSON object of PutMetricAlarm parameters")
    return params


def _context(tenant: str) -> RequestContext:
    return RequestContext(tenant=tenant, request_id=str(uuid.uuid4()))


def _nulls(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]
