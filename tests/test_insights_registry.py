"""The query registry's life cycle: running, stopping, the time limit, the concurrency
limit and expiry, with an injected clock and an executor the test controls (the store
and the SQL are covered by the golden files)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from vigil.query.insights import parse_query
from vigil.query.insights.errors import QueryError
from vigil.query.insights.runner import (
    PartialSink,
    QueryRegistry,
    QueryRequest,
    QueryResult,
    TooManyQueries,
)
from vigil.store.interface import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def request(text: str = "stats count()", tenant: str = "t") -> QueryRequest:
    return QueryRequest(tenant, text, parse_query(text), ["/g"], 0, 1000)


def gated() -> tuple[asyncio.Event, Any]:
    gate = asyncio.Event()

    async def executor(
        store: Store, req: QueryRequest, timeout: float | None, partial: PartialSink | None
    ) -> QueryResult:
        await gate.wait()
        return QueryResult([[("count()", "3")]], {"recordsMatched": 3.0})

    return gate, executor


def registry(executor: Any, clock: Clock, **kwargs: Any) -> QueryRegistry:
    return QueryRegistry(cast(Store, None), clock=clock, executor=executor, **kwargs)


def test_run_stop_and_describe() -> None:
    asyncio.run(_test_run_stop_and_describe())


async def _test_run_stop_and_describe() -> None:
    gate, executor = gated()
    clock = Clock()
    reg = registry(executor, clock)
    first = reg.start(request())
    second = reg.start(request())
    await asyncio.sleep(0)
    assert reg.get("t", first).status == "Running"  # type: ignore[union-attr]
    assert reg.get("other-tenant", first) is None
    assert reg.stop("t", second) is True
    gate.set()
    done = await reg.wait("t", first)
    assert done is not None
    assert done.status == "Complete"
    assert done.result is not None
    assert done.result.rows == [[("count()", "3")]]
    await asyncio.sleep(0)
    assert reg.get("t", second).status == "Cancelled"  # type: ignore[union-attr]
    assert reg.stop("t", first) is False  # already ended
    assert reg.stop("t", "nope") is None
    assert [q.query_id for q in reg.list("t")] == [second, first]
    clock.now += 8 * 86400  # results are kept 7 days
    assert reg.list("t") == []
    await reg.close()


def test_time_limit_and_concurrency_limit() -> None:
    asyncio.run(_test_time_limit_and_concurrency_limit())


async def _test_time_limit_and_concurrency_limit() -> None:
    gate, executor = gated()
    reg = registry(executor, Clock(), timeout=0.05, max_running=2)
    a = reg.start(request())
    reg.start(request())
    with pytest.raises(TooManyQueries):
        reg.start(request())
    reg.start(request(tenant="u"))  # the limit is per tenant
    info = await reg.wait("t", a)
    assert info is not None
    assert info.status == "Timeout"
    assert info.error is not None
    reg.start(request())  # room again
    gate.set()
    await reg.close()


def test_compile_errors_surface_at_start() -> None:
    asyncio.run(_test_compile_errors_surface_at_start())


async def _test_compile_errors_surface_at_start() -> None:
    gate, executor = gated()
    reg = registry(executor, Clock())
    with pytest.raises(QueryError, match="unknown function"):
        reg.start(request("fields nosuch(a)"))
    with pytest.raises(QueryError, match="once per query"):
        reg.start(request("pattern @message | pattern @message"))
    assert reg.list("t") == []
    gate.set()
    await reg.close()


def test_partial_rows_are_answered_while_running() -> None:
    asyncio.run(_test_partial_rows_are_answered_while_running())


async def _test_partial_rows_are_answered_while_running() -> None:
    # The executor hands over its rows, then waits (the counts of the statistics).
    gate = asyncio.Event()

    async def executor(
        store: Store, req: QueryRequest, timeout: float | None, partial: PartialSink | None
    ) -> QueryResult:
        assert partial is not None
        partial(QueryResult([[("@message", "a")]], {}))
        await gate.wait()
        return QueryResult([[("@message", "a")]], {"recordsMatched": 1.0})

    reg = registry(executor, Clock())
    query_id = reg.start(request("fields @message"))
    await asyncio.sleep(0)
    info = reg.get("t", query_id)
    assert info is not None
    assert info.status == "Running"
    assert info.result is not None
    assert info.result.rows == [[("@message", "a")]]
    assert info.result.statistics == {}
    gate.set()
    done = await reg.wait("t", query_id)
    assert done is not None
    assert done.status == "Complete"
    assert done.result is not None
    assert done.result.statistics == {"recordsMatched": 1.0}
    await reg.close()


def test_wait_for_returns_when_the_answer_moves_on() -> None:
    asyncio.run(_test_wait_for_returns_when_the_answer_moves_on())


async def _test_wait_for_returns_when_the_answer_moves_on() -> None:
    rows_gate, end_gate = asyncio.Event(), asyncio.Event()

    async def executor(
        store: Store, req: QueryRequest, timeout: float | None, partial: PartialSink | None
    ) -> QueryResult:
        assert partial is not None
        await rows_gate.wait()
        partial(QueryResult([[("@message", "a")]], {}))
        await end_gate.wait()
        return QueryResult([[("@message", "a")]], {"recordsMatched": 1.0})

    reg = registry(executor, Clock())
    info = reg.get("t", reg.start(request("fields @message")))
    assert info is not None

    def answer() -> tuple[str, QueryResult | None]:
        assert info is not None
        return info.status, info.result

    # Nothing moves: the wait ends at its limit, the query still runs without rows.
    await reg.wait_for(info, 0.05)
    assert answer() == ("Running", None)
    # Rows: a waiting poll returns with them, before the end.
    waiting = asyncio.create_task(reg.wait_for(info, 30))
    await asyncio.sleep(0)
    rows_gate.set()
    await asyncio.wait_for(waiting, 5)
    assert answer() == ("Running", QueryResult([[("@message", "a")]], {}))
    # With rows, the next wait is for the end.
    waiting = asyncio.create_task(reg.wait_for(info, 30))
    await asyncio.sleep(0)
    assert not waiting.done()
    end_gate.set()
    await asyncio.wait_for(waiting, 5)
    assert info.status == "Complete"
    await reg.close()
