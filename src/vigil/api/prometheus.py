"""Prometheus' HTTP query API at ``/prometheus/api/v1`` (what Grafana's Prometheus data
source calls): ``query``, ``query_range``, ``series``, ``labels``,
``label/<name>/values``, ``metadata``, ``status/buildinfo``; GET or POST (form), the
parameters and the JSON shapes of Prometheus' API (``{"status": "success", "data": …}``;
errors ``{"status": "error", "errorType": …, "error": …}`` with 400 for ``bad_data``, 422
for ``execution``, 503 for ``timeout``).

Handlers parse parameters and call ``vigil.query.promql``; the evaluator runs on a worker
thread and reaches the store back on the event loop, so a long query never blocks other
requests' I/O.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.auth import TenantError, tenant_of
from vigil.query import promql
from vigil.query.promql import catalog, histograms
from vigil.query.promql.errors import BadData, PromQLError
from vigil.query.promql.parse import parse
from vigil.query.promql.pushdown import WindowAggregate, aggregate_windows
from vigil.query.promql.sql import LabelMatcher, selector_matchers
from vigil.query.promql.values import Samples, Vector
from vigil.store.interface import QueryTimeout, QueryTooLarge, Store, StoreError
from vigil.store.prometheus import read_metadata
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

PREFIX = "/prometheus/api/v1"
VERSION = "2.42.0"  # the Prometheus API vigil answers like (and is tested against)
DEFAULT_TIMEOUT = 120.0
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
_STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "internal": 500}
_DURATION = re.compile(r"^(\d+(?:ms|s|m|h|d|w|y))+$")

Handler = Callable[[str, MultiDict], Awaitable[Any]]


def _answer(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps({"status": "success", "data": data}), status, media_type="application/json"
    )


def _error(error_type: str, message: str) -> Response:
    body = {"status": "error", "errorType": error_type, "error": message}
    return Response(orjson.dumps(body), _STATUS[error_type], media_type="application/json")


MAX_TIME_S = 2**53 / 1000 / 4  # ~71,000 years either side of 1970


def parse_time(field: str, text: str) -> float:
    """Seconds since the epoch from a float or RFC 3339, as Prometheus' ``parseTime``."""
    try:
        value = float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadData(
                f'invalid parameter "{field}": cannot parse "{text}" to a valid timestamp'
            ) from None
    # Milliseconds must fit the evaluator's int64 grids with room for ranges and offsets.
    if not math.isfinite(value) or abs(value) > MAX_TIME_S:
        raise BadData(f'invalid parameter "{field}": cannot parse "{text}" to a valid timestamp')
    return value


def parse_duration(field: str, text: str) -> float:
    """Seconds from a float or a Prometheus duration (``5m``, ``1h30m``)."""
    try:
        value = float(text)
    except ValueError:
        if not _DURATION.match(text):
            raise BadData(
                f'invalid parameter "{field}": cannot parse "{text}" to a valid duration'
            ) from None
        import promql_parser

        try:  # the pattern passes "0s" and overflowing counts, which the parser refuses
            return float(promql_parser.parse_duration(text).total_seconds())
        except (ValueError, OverflowError):
            raise BadData(
                f'invalid parameter "{field}": cannot parse "{text}" to a valid duration'
            ) from None
    if not math.isfinite(value) or value > 2**53 / 1000:
        raise BadData(f'invalid parameter "{field}": cannot parse "{text}" to a valid duration')
    return value


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class PrometheusApi:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], int] = time.time_ns,
        limits: promql.Limits | None = None,
        metrics: SelfMetrics | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits or promql.Limits()
        self._metrics = metrics

    def routes(self) -> list[Route]:
        methods = ["GET", "POST"]
        table: list[tuple[str, Handler]] = [
            ("/query", self.query),
            ("/query_range", self.query_range),
            ("/series", self.series),
            ("/labels", self.labels),
            ("/label/{name}/values", self.label_values),
            ("/metadata", self.metadata),
            ("/status/buildinfo", self.buildinfo),
        ]
        return [Route(PREFIX + path, self._endpoint(h), methods=methods) for path, h in table]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                params = MultiDict(request.query_params.multi_items())
                if request.method == "POST":
                    params = MultiDict([*params.multi_items(), *await _form(request)])
                params = MultiDict([*params.multi_items(), *request.path_params.items()])
                return _answer(await handler(tenant_of(request.headers), params))
            except PromQLError as exc:
                return _error(exc.error_type, str(exc))
            except TenantError as exc:
                return _error("bad_data", str(exc))
            except (QueryTimeout, TimeoutError) as exc:
                return _error("timeout", f"query timed out in expression evaluation: {exc}")
            except QueryTooLarge as exc:
                return _error("execution", f"{exc}: narrow the selector or the time range")
            except RecursionError:  # the parse-time shape check should make this unreachable
                return _error("bad_data", "the expression nests too deeply to evaluate")
            except StoreError as exc:
                incident = uuid.uuid4().hex[:12]
                log.warning("store error %s on %s: %s", incident, request.url.path, exc)
                return _error("internal", f"the store could not answer (incident {incident})")
            except Exception:
                incident = uuid.uuid4().hex[:12]
                log.exception("internal error %s on %s", incident, request.url.path)
                return _error("internal", f"internal error (incident {incident})")

        return endpoint

    def _now(self) -> float:
        return self._clock() / 1e9

    def _timeout(self, p: MultiDict) -> float:
        text = p.get("timeout")
        if not text:
            return DEFAULT_TIMEOUT
        seconds = parse_duration("timeout", text)
        if seconds <= 0:  # Prometheus would time out at once and answer 503; say why instead
            raise BadData(f'invalid parameter "timeout": {text!r} is not a positive duration')
        return min(DEFAULT_TIMEOUT, seconds)

    def _fetcher(
        self, tenant: str, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> Callable[[Sequence[LabelMatcher], int, int], list[Samples]]:
        def fetch(matchers: Sequence[LabelMatcher], start_ms: int, end_ms: int) -> list[Samples]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the query ran over its timeout")
            future = asyncio.run_coroutine_threadsafe(
                histograms.select_all(
                    self._store,
                    tenant,
                    matchers,
                    start_ms,
                    end_ms,
                    self._limits.max_samples,
                    timeout=left,
                ),
                loop,
            )
            return future.result()

        return fetch

    def _reducer(
        self, tenant: str, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> promql.Reduce:
        def reduce(matchers: Sequence[LabelMatcher], spec: WindowAggregate) -> Vector | None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the query ran over its timeout")
            future = asyncio.run_coroutine_threadsafe(
                aggregate_windows(
                    self._store, tenant, matchers, spec, self._limits.max_samples, timeout=left
                ),
                loop,
            )
            return future.result()

        return reduce

    async def _run(
        self, p: MultiDict, tenant: str, work: Callable[[Any, Any], dict[str, Any]]
    ) -> Any:
        timeout = self._timeout(p)
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        fetch = self._fetcher(tenant, loop, deadline)
        reduce = self._reducer(tenant, loop, deadline)
        if self._metrics is None:
            return await asyncio.wait_for(asyncio.to_thread(work, fetch, reduce), timeout)
        # A user expression like the others (issue 18): timed, and a hit bound counted.
        with self._metrics.expression("promql") as run:
            try:
                return await asyncio.wait_for(asyncio.to_thread(work, fetch, reduce), timeout)
            except (TimeoutError, QueryTimeout):
                run.overran()
                raise

    async def query(self, tenant: str, p: MultiDict) -> Any:
        q = _required(p, "query")
        t = parse_time("time", p["time"]) if p.get("time") else self._now()
        return await self._run(
            p, tenant, lambda f, r: promql.instant(q, _ms(t), f, self._limits, r)
        )

    async def query_range(self, tenant: str, p: MultiDict) -> Any:
        q = _required(p, "query")
        start = parse_time("start", _required(p, "start"))
        end = parse_time("end", _required(p, "end"))
        step = parse_duration("step", _required(p, "step"))
        if step <= 0:
            raise BadData(promql.BAD_STEP)
        return await self._run(
            p,
            tenant,
            lambda f, r: promql.range_(q, _ms(start), _ms(end), _ms(step), f, self._limits, r),
        )

    def _window(self, p: MultiDict) -> tuple[int | None, int | None]:
        start = _ms(parse_time("start", p["start"])) if p.get("start") else None
        end = _ms(parse_time("end", p["end"])) if p.get("end") else None
        return start, end

    def _limit(self, p: MultiDict) -> int:
        text = p.get("limit")
        if not text:
            return DEFAULT_LIMIT
        try:
            value = int(text)
        except ValueError:
            raise BadData(
                f'invalid parameter "limit": cannot parse "{text}" to a valid limit'
            ) from None
        if value < 0:
            raise BadData('invalid parameter "limit": limit must be non-negative')
        return min(value, MAX_LIMIT) if value else MAX_LIMIT

    async def series(self, tenant: str, p: MultiDict) -> Any:
        match = _matches(p, required=True)
        start, end = self._window(p)
        return await catalog.series(self._store, tenant, match, start, end, self._limit(p))

    async def labels(self, tenant: str, p: MultiDict) -> Any:
        start, end = self._window(p)
        return await catalog.label_names(
            self._store, tenant, _matches(p), start, end, self._limit(p)
        )

    async def label_values(self, tenant: str, p: MultiDict) -> Any:
        name = p["name"]
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", name):
            raise BadData(f'invalid label name: "{name}"')
        start, end = self._window(p)
        return await catalog.label_values(
            self._store, tenant, name, _matches(p), start, end, self._limit(p)
        )

    async def metadata(self, tenant: str, p: MultiDict) -> Any:
        # Prometheus 2.42: ``limit`` absent or negative is no limit, 0 is none;
        # ``limit_per_metric`` (later Prometheus) bounds each metric's entries when > 0.
        limit = _int(p, "limit")
        per_metric = _int(p, "limit_per_metric")
        metric = p.get("metric") or None
        bound = MAX_LIMIT if limit is None or limit < 0 else min(limit, MAX_LIMIT)
        stored = await read_metadata(self._store, tenant, metric)
        return await catalog.metadata(
            self._store,
            tenant,
            metric,
            bound,
            per_metric if per_metric and per_metric > 0 else None,
            stored,
        )

    async def buildinfo(self, tenant: str, p: MultiDict) -> Any:
        return {
            "version": VERSION,
            "revision": "vigil",
            "branch": "vigil",
            "buildUser": "vigil",
            "buildDate": "",
            "goVersion": "none (vigil, Python)",
        }


def _int(p: MultiDict, name: str) -> int | None:
    text = p.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadData(f"{name} must be a number") from None


MAX_FORM_BYTES = 1 << 20


async def _form(request: Request) -> list[tuple[str, str]]:
    # Prometheus' API takes application/x-www-form-urlencoded bodies (what Grafana posts);
    # parsed here rather than through Starlette's form parser (python-multipart).
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return []
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadData(f"request body is larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadData("request body is not UTF-8") from None


def _required(p: MultiDict, field: str) -> str:
    value = p.get(field)
    if not value:
        raise BadData(f'invalid parameter "{field}": missing')
    return str(value)


def _matches(p: MultiDict, required: bool = False) -> list[list[LabelMatcher]]:
    texts = p.getlist("match[]")
    if required and not texts:
        raise BadData("no match[] parameter provided")
    out = []
    for text in texts:
        import promql_parser

        expr = parse(text)
        if not isinstance(expr, promql_parser.VectorSelector):
            raise BadData(f'invalid parameter "match[]": {text!r} is not a series selector')
        out.append(selector_matchers(expr))
    return out
