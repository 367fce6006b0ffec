"""Running Logs Insights queries: asynchronously, with a time limit, stoppable (a stopped
or timed-out query's statements are killed in the store, not left running).

``execute`` runs one parsed query against the store and returns its rows (each a list of
``(field, value)`` pairs, values as text, absent fields left out) and statistics. Given a
``partial`` sink, it hands it the final rows as soon as they are known, with the statistics
known so far, before the counts that complete the statistics (GetQueryResults answers them
while the query is still Running, as CloudWatch answers partial results): the rows of a
``sort @timestamp desc | limit 100`` over 10M lines are ready well before the scan count.
``QueryRegistry`` is what StartQuery/GetQueryResults/StopQuery/DescribeQueries use: it
keeps every query (running or finished) by id for ``keep_seconds`` (bounded in number),
runs each in its own task under ``timeout`` and allows ``max_running`` at a time. Its
clock is injected (timestamps, expiry); safe to use from the event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

from vigil.model.logfields import flatten, parse_object
from vigil.query.insights import ast, probe
from vigil.query.insights.compiler import (
    Base,
    Compiled,
    Compiler,
    Layer,
    logs_base,
)
from vigil.query.insights.errors import QueryError
from vigil.query.insights.patterns import DIFF_COLUMNS, PATTERN_COLUMNS, cluster, diff
from vigil.store.interface import QueryCancelled, QueryTimeout, Rows, Store, StoreError
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

PATTERN_CAP = 100_000  # messages clustered by one pattern command
DAY_MS = 86_400_000
PERIOD_SHIFT_MS = {"previousDay": DAY_MS, "previousWeek": 7 * DAY_MS, "previousMonth": 30 * DAY_MS}

Row = list[tuple[str, str]]


@dataclass(slots=True)
class QueryRequest:
    tenant: str
    query_string: str
    query: ast.Query
    groups: list[str]
    start_ms: int
    end_ms: int  # inclusive
    limit: int | None = None
    account_id: str = "000000000000"


@dataclass(slots=True)
class QueryResult:
    rows: list[Row]
    statistics: dict[str, float]


# --- execution --------------------------------------------------------------------------------


def _base(req: QueryRequest, start_ms: int | None = None, end_ms: int | None = None) -> Base:
    base = logs_base(
        req.tenant,
        req.groups,
        req.start_ms if start_ms is None else start_ms,
        req.end_ms if end_ms is None else end_ms,
    )
    base.account_id = req.account_id
    return base


def _split(
    commands: tuple[ast.Command, ...],
) -> tuple[
    tuple[ast.Command, ...], ast.PatternCmd | None, ast.Diff | None, tuple[ast.Command, ...]
]:
    for i, cmd in enumerate(commands):
        if isinstance(cmd, ast.PatternCmd | ast.Diff):
            pattern = (
                cmd if isinstance(cmd, ast.PatternCmd) else ast.PatternCmd(ast.Field("@message"))
            )
            rest = commands[i + 1 :]
            diff_cmd = cmd if isinstance(cmd, ast.Diff) else None
            if diff_cmd is None and rest and isinstance(rest[0], ast.Diff):
                diff_cmd, rest = rest[0], rest[1:]
            if any(isinstance(c, ast.PatternCmd | ast.Diff) for c in rest):
                raise QueryError("pattern and diff can be used once per query")
            return commands[:i], pattern, diff_cmd, rest
    return commands, None, None, ()


def plan(req: QueryRequest) -> list[tuple[str, dict[str, object]]]:
    """Compile the query once, so that errors surface at StartQuery (raises QueryError);
    returns the statements (SQL and parameters) that ``probe.check`` asks the store about."""
    pre, pattern, _, post = _split(req.query.commands)
    compiler = Compiler(_base(req), limit=req.limit)
    if pattern is None:
        return statements(compiler.compile(pre))
    values = compiler.values(pre, pattern.source, PATTERN_CAP)
    Compiler(_base(req), limit=req.limit).compile(post, _rows_layer(PATTERN_COLUMNS, "[]"))
    # The commands after pattern read the clusters (bound at run time), so only the part
    # before it is asked of the store.
    return [(values, compiler.params)]


def statements(compiled: Compiled) -> list[tuple[str, dict[str, object]]]:
    """The statements a compiled query runs (the window's first, with the main one given a
    stand-in bound), for the store to check without reading rows."""
    if compiled.window is None:
        return [(compiled.sql, compiled.params)]
    bound = {**compiled.params, compiled.window.param: 0}
    return [(compiled.window.sql, compiled.params), (compiled.sql, bound)]


class Reader(Protocol):
    """What running a query needs of the store (``Store`` and ``Statements`` both are)."""

    async def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows: ...


class Statements:
    """The store's queries for one Insights query, each tagged with ``log_comment`` so that
    ``kill`` can end the ClickHouse statements still running when the query is stopped or
    timed out (cancelling the asyncio task alone leaves them running on the read pool).
    KILL QUERY finds them by their text, which works in embedded chDB (where a query id
    cannot be set) and on a server alike."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.tag = uuid.uuid4().hex

    async def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Rows:
        tagged = f"{sql} SETTINGS log_comment = '{KILL_TAG}{self.tag}'"
        return await self._store.query(tagged, parameters, timeout=timeout)

    async def kill(self) -> None:
        """End this query's running statements; returns once they are gone."""
        await asyncio.to_thread(
            self._store.command,
            "KILL QUERY WHERE position(query, concat({prefix:String}, {tag:String})) > 0 SYNC",
            {"prefix": KILL_TAG, "tag": self.tag},
        )


KILL_TAG = "vigil-insights:"


T = TypeVar("T")


async def killable(store: Store, run: Callable[[Reader], Awaitable[T]]) -> T:
    """``run(reader)``; if cancelled (StopQuery, the time limit), the statements it started
    are killed in the store before the cancellation goes on."""
    statements = Statements(store)
    try:
        return await run(statements)
    except asyncio.CancelledError:
        try:
            await asyncio.shield(statements.kill())
        except StoreError as exc:
            log.warning("could not kill the statements of a stopped query: %s", exc)
        raise


PartialSink = Callable[[QueryResult], None]


async def execute(
    store: Store,
    req: QueryRequest,
    timeout: float | None = None,
    partial: PartialSink | None = None,
) -> QueryResult:
    return await killable(store, lambda reader: _execute(reader, req, timeout, partial))


async def _execute(
    store: Reader, req: QueryRequest, timeout: float | None, partial: PartialSink | None = None
) -> QueryResult:
    pre, pattern, diff_cmd, post = _split(req.query.commands)
    # With a partial sink the rows come first (the scan count would take the cores from
    # them); without, everything runs at once.
    scan = None if partial else asyncio.create_task(_scanned(store, req, timeout))
    try:
        if pattern is None:
            base = await _mapped_base(store, req, lambda c: c.compile(pre), timeout)
            compiled = Compiler(base, limit=req.limit).compile(pre)
            rows, matched = await _run(store, compiled, timeout, partial)
        else:
            rows, matched = await _run_pattern(store, req, pre, pattern, diff_cmd, post, timeout)
        if scan is None:
            scan = asyncio.create_task(_scanned(store, req, timeout))
        if partial:
            partial(QueryResult(rows, _statistics(req, matched)))
        scanned, scanned_bytes = await scan
    finally:
        if scan is not None and not scan.done():
            scan.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await scan
    return QueryResult(rows, _statistics(req, matched, scanned, scanned_bytes))


def _statistics(
    req: QueryRequest, matched: int, scanned: int = 0, scanned_bytes: int = 0
) -> dict[str, float]:
    return {
        "recordsMatched": float(matched),
        "recordsScanned": float(scanned),
        "bytesScanned": float(scanned_bytes),
        "logGroupsScanned": float(len(req.groups)),
    }


HOUR_MS = 3_600_000
WILDCARD = "*"  # in the catalog: any name (a block held too many to list, migration 0104)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the rows of a range may hold, for the fields a query reads."""

    map_keys: frozenset[str] | None  # keys of the attribute or resource maps; None: any
    path_types: Mapping[str, frozenset[str]] | None  # JSON path -> its types; None: unknown


async def field_catalog(
    store: Reader, base: Base, keys: set[str], timeout: float | None
) -> Catalog:
    """Which of ``keys`` the rows of ``base`` may hold as map keys, and with which types as
    JSON paths, from ``log_field_catalog`` (migration 0104): a superset, kept at insert,
    read from a few rows instead of the range's. A key that first arrives while the query
    runs is missed for those rows, like any read of a moving range."""
    if not keys:
        return Catalog(frozenset(), {})
    params: dict[str, object] = dict(base.params)
    params["catalog_keys"] = sorted(keys)
    rows = await store.query(
        "SELECT groupUniqArrayArray(arrayFilter(k -> k = '*' OR"
        " has({catalog_keys:Array(String)}, k), map_keys)),"
        " groupUniqArrayArray(arrayFilter(p -> p.1 = '*' OR"
        " has({catalog_keys:Array(String)}, p.1), paths)) FROM log_field_catalog"
        f" WHERE last_hour >= intDiv({{start_ms:Int64}}, {HOUR_MS})"
        f" AND first_hour <= intDiv({{end_ms:Int64}}, {HOUR_MS})"
        " AND has(tenants, {tenant:String}) AND hasAny(log_groups, {groups:Array(String)})",
        params,
        timeout=timeout,
    )
    found_keys, pairs = rows.rows[0] if rows.rows else ([], [])
    types: dict[str, set[str]] = {}
    for path, kind in pairs:
        types.setdefault(path, set()).add(kind)
    return Catalog(
        None if WILDCARD in found_keys else frozenset(found_keys),
        None if WILDCARD in types else {p: frozenset(t) for p, t in types.items()},
    )


async def _mapped_base(
    store: Reader,
    req: QueryRequest,
    use: Callable[[Compiler], object],
    timeout: float | None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Base:
    """The query's base with what its rows may hold filled in: a first compile finds the
    event fields the query reads, the field catalog what the rows hold of them."""
    base = _base(req, start_ms, end_ms)
    probe = Compiler(_base(req, start_ms, end_ms))
    use(probe)
    catalog = await field_catalog(store, base, probe.field_keys, timeout)
    base.map_keys, base.path_types = catalog.map_keys, catalog.path_types
    return base


async def _scanned(store: Reader, req: QueryRequest, timeout: float | None) -> tuple[int, int]:
    base = _base(req)
    rows = await store.query(
        f"SELECT count(), sum(body_size) FROM {base.source} WHERE " + " AND ".join(base.where),
        base.params,
        timeout=timeout,
    )
    count, size = rows.rows[0]
    return int(count), int(size or 0)


async def _main(store: Reader, compiled: Compiled, timeout: float | None) -> Rows:
    """The rows' statement; with a window (newest.py), its bound first (no bound: nothing
    in range matches, and the main statement is not run)."""
    params = compiled.params
    if compiled.window is not None:
        found = await store.query(compiled.window.sql, params, timeout=timeout)
        bound = found.rows[0][0] if found.rows else None
        if bound is None:
            return Rows(columns=[], rows=[])
        params = {**params, compiled.window.param: int(bound)}
    return await store.query(compiled.sql, params, timeout=timeout)


async def _run(
    store: Reader, compiled: Compiled, timeout: float | None, partial: PartialSink | None = None
) -> tuple[list[Row], int]:
    main = _main(store, compiled, timeout)
    counted: Rows | None = None
    if compiled.count_sql is not None and partial is None:
        result, counted = await asyncio.gather(
            main, store.query(compiled.count_sql, compiled.params, timeout=timeout)
        )
    else:
        result = await main
    rows = _rows(compiled, result)
    matched = 0
    if compiled.count_sql is not None:
        if counted is None:
            if partial:
                partial(QueryResult(rows, {}))  # the rows; no statistics yet
            counted = await store.query(compiled.count_sql, compiled.params, timeout=timeout)
        matched = int(counted.rows[0][0])
    if compiled.aggregated and result.rows:
        matched = int(result.rows[-1][-1] or 0)
    return rows, matched


def _rows(compiled: Compiled, result: Rows) -> list[Row]:
    rows: list[Row] = []
    columns = compiled.columns
    for raw in result.rows:
        row: Row = []
        for col, value in zip(columns, raw, strict=False):
            text = format_value(value, col.kind)
            if text is not None:
                row.append((col.name, text))
        if compiled.expand_fields:
            shown = {name for name, _ in row}
            discovered = parse_object(raw[len(columns)] or "") or {}
            row.extend((k, v) for k, v in flatten(discovered) if k not in shown)
        rows.append(row)
    return rows


def _rows_layer(columns: tuple[tuple[str, str], ...], data_param: str) -> Layer:
    structure = ", ".join(
        f"p{i} {'Float64' if kind == 'num' else 'String'}" for i, (_, kind) in enumerate(columns)
    )
    from vigil.query.insights.compiler import Col

    env = {name: Col(f"p{i}", kind) for i, (name, kind) in enumerate(columns)}
    layer = Layer(
        f"format(JSONEachRow, '{structure}, __n UInt64', {data_param})",
        base=False,
        env=env,
        aggregated=True,
    )
    layer.order = ["p2 DESC", "p0 ASC"]
    return layer


async def _run_pattern(
    store: Reader,
    req: QueryRequest,
    pre: tuple[ast.Command, ...],
    pattern: ast.PatternCmd,
    diff_cmd: ast.Diff | None,
    post: tuple[ast.Command, ...],
    timeout: float | None,
) -> tuple[list[Row], int]:
    async def messages(start_ms: int, end_ms: int) -> list[str]:
        def use(c: Compiler) -> str:
            return c.values(pre, pattern.source, PATTERN_CAP)

        base = await _mapped_base(store, req, use, timeout, start_ms, end_ms)
        compiler = Compiler(base)
        sql = use(compiler)
        result = await store.query(sql, compiler.params, timeout=timeout)
        return [str(r[0]) for r in result.rows]

    current = await messages(req.start_ms, req.end_ms)
    if diff_cmd is None:
        found = await asyncio.to_thread(cluster, current)
        columns: tuple[tuple[str, str], ...] = PATTERN_COLUMNS
    else:
        if diff_cmd.period is None:
            shift = req.end_ms - req.start_ms + 1
        else:
            shift = PERIOD_SHIFT_MS[diff_cmd.period]
        previous = await messages(req.start_ms - shift, req.end_ms - shift)
        found = await asyncio.to_thread(diff, current, previous)
        columns = DIFF_COLUMNS
    lines = b"\n".join(
        orjson.dumps(
            {**{f"p{i}": r[name] for i, (name, _) in enumerate(columns)}, "__n": r["@sampleCount"]}
        )
        for r in found
    )
    compiler = Compiler(_base(req), limit=req.limit)
    compiler.params["pattern_rows"] = lines.decode()
    compiled = compiler.compile(post, _rows_layer(columns, "{pattern_rows:String}"))
    if not found:
        return [], 0
    return await _run(store, compiled, timeout)


def format_value(value: Any, kind: str) -> str | None:
    """A result value as GetQueryResults shows it (always text)."""
    if value is None:
        return None
    if kind == "time" or isinstance(value, datetime):
        if not isinstance(value, datetime):
            return str(value)
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if kind == "bool":
        return "true" if value else "false"
    if kind == "json" and isinstance(value, str):
        if value.startswith('"'):
            with contextlib.suppress(orjson.JSONDecodeError):
                decoded = orjson.loads(value)
                if isinstance(decoded, str):
                    return decoded
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# --- the registry -------------------------------------------------------------------------------

# (store, request, timeout, partial sink): ``execute`` or a test's stand-in.
Executor = Callable[[Store, QueryRequest, float | None, PartialSink | None], Awaitable[QueryResult]]


@dataclass(slots=True)
class QueryInfo:
    query_id: str
    tenant: str
    request: QueryRequest
    status: str  # Scheduled, Running, Complete, Failed, Cancelled, Timeout
    create_time: float
    result: QueryResult | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # Set when rows are answerable (partial or final) or the query ended; set when it
    # ended. What a waiting GetQueryResults (``QueryRegistry.wait_for``) waits on.
    has_rows: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class TooManyQueries(Exception):
    pass


class QueryRegistry:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 900.0,
        max_running: int = 30,
        keep_seconds: float = 7 * 86400,
        max_kept: int = 2000,
        executor: Executor = execute,
        metrics: SelfMetrics | None = None,
    ) -> None:
        self._metrics = metrics  # each run's time, and the runs stopped at the timeout
        self._store = store
        self._clock = clock
        self.timeout = timeout
        self.max_running = max_running
        self._keep_seconds = keep_seconds
        self._max_kept = max_kept
        self._execute = executor
        self._queries: OrderedDict[str, QueryInfo] = OrderedDict()

    def running(self, tenant: str) -> int:
        return sum(
            1
            for q in self._queries.values()
            if q.tenant == tenant and q.status in ("Scheduled", "Running")
        )

    async def submit(self, request: QueryRequest) -> str:
        """``start``, after the store has agreed that the compiled query can run (raises
        QueryError naming the command that cannot, with its position)."""
        statements = plan(request)

        def prefix(i: int) -> list[tuple[str, dict[str, object]]] | None:
            part = replace(
                request, query=replace(request.query, commands=request.query.commands[:i])
            )
            try:
                return plan(part)
            except QueryError:
                return None

        await probe.check(
            self._store, request.query_string, statements, len(request.query.commands), prefix
        )
        return self.start(request)

    def start(self, request: QueryRequest) -> str:
        """Plan (raises QueryError) and start the query; returns its id."""
        plan(request)
        if self.running(request.tenant) >= self.max_running:
            raise TooManyQueries(f"at most {self.max_running} queries can run at a time")
        self._expire()
        query_id = str(uuid.uuid4())
        info = QueryInfo(query_id, request.tenant, request, "Scheduled", self._clock())
        self._queries[query_id] = info
        info.task = asyncio.create_task(self._run(info), name=f"insights-{query_id}")
        return query_id

    async def _run(self, info: QueryInfo) -> None:
        started = time.perf_counter()
        try:
            await self._run_bounded(info)
        finally:
            info.has_rows.set()
            info.ended.set()
            if self._metrics is not None:
                seconds = time.perf_counter() - started
                self._metrics.expression_seconds.labels("insights").observe(seconds)
                if info.status == "Timeout":
                    self._metrics.expression_overruns.labels("insights").inc()

    async def _run_bounded(self, info: QueryInfo) -> None:
        info.status = "Running"

        def partial(result: QueryResult) -> None:
            # Shown by GetQueryResults while the status is still Running.
            if info.status == "Running":
                info.result = result
                info.has_rows.set()

        try:
            async with asyncio.timeout(self.timeout):
                info.result = await self._execute(self._store, info.request, self.timeout, partial)
            info.status = "Complete"
        except TimeoutError:
            info.status, info.error = "Timeout", f"the query ran over {self.timeout:g} s"
        except QueryTimeout as exc:
            info.status, info.error = "Timeout", str(exc)
        except (asyncio.CancelledError, QueryCancelled):
            info.status = "Cancelled"
        except QueryError as exc:
            info.status, info.error = "Failed", str(exc).splitlines()[0][:1000]
        except StoreError as exc:
            # The store's own text stays in the log; the client learns the query failed.
            log.warning("Insights query %s failed in the store: %s", info.query_id, exc)
            info.status = "Failed"
            info.error = f"the query failed in the store (logged under query id {info.query_id})"
        except Exception:
            # Anything else is a bug, but the query must still end (it stayed "Running"
            # forever when a result value could not be converted, e.g. a year past 9999).
            log.exception("Insights query %s failed", info.query_id)
            info.status = "Failed"
            info.error = f"the query failed (logged under query id {info.query_id})"

    def get(self, tenant: str, query_id: str) -> QueryInfo | None:
        info = self._queries.get(query_id)
        return info if info is not None and info.tenant == tenant else None

    def stop(self, tenant: str, query_id: str) -> bool | None:
        """True if stopped, False if it had already ended, None if unknown."""
        info = self.get(tenant, query_id)
        if info is None:
            return None
        if info.status not in ("Scheduled", "Running") or info.task is None:
            return False
        info.task.cancel()
        info.status = "Cancelled"
        return True

    async def wait_for(self, info: QueryInfo, seconds: float) -> None:
        """Wait at most ``seconds`` for the answer to move on: rows, if it has none yet,
        else the end (a long poll: the answer is shown the moment it exists)."""
        event = info.ended if info.result is not None else info.has_rows
        if info.status in ("Scheduled", "Running"):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await event.wait()

    def list(self, tenant: str) -> list[QueryInfo]:
        self._expire()
        return [q for q in reversed(self._queries.values()) if q.tenant == tenant]

    async def wait(self, tenant: str, query_id: str) -> QueryInfo | None:
        """Wait until the query ends (tests, scheduled queries)."""
        info = self.get(tenant, query_id)
        if info is not None and info.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(info.task)
        return info

    def _expire(self) -> None:
        now = self._clock()
        while self._queries:
            oldest = next(iter(self._queries.values()))
            over = len(self._queries) >= self._max_kept
            if (now - oldest.create_time < self._keep_seconds and not over) or (
                oldest.status in ("Scheduled", "Running")
            ):
                break
            self._queries.popitem(last=False)

    async def close(self) -> None:
        tasks = [q.task for q in self._queries.values() if q.task is not None and not q.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def with_query(req: QueryRequest, query: ast.Query) -> QueryRequest:
    return replace(req, query=query)
