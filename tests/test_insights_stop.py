"""Stopping a Logs Insights query, or its time limit, ends its statement in ClickHouse
(embedded chDB here), not only the asyncio task: the statement is gone from
``system.processes`` once the query has ended, and the read pool is free again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.query.insights import parse_query
from vigil.query.insights.runner import (
    KILL_TAG,
    PartialSink,
    QueryRegistry,
    QueryRequest,
    QueryResult,
    Reader,
    killable,
)
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.interface import Store

# Runs for hours unless killed: every row is looked at.
ENDLESS = "SELECT count() FROM numbers(10000000000000) WHERE NOT ignore(number)"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore("chdb://" + str(Path(tmp_path_factory.mktemp("stop")) / "ch"))
    yield s
    s.close()


async def endless(
    store: Store, req: QueryRequest, timeout: float | None, partial: PartialSink | None = None
) -> QueryResult:
    async def run(reader: Reader) -> QueryResult:
        # A time limit in case the kill does not work: the test fails rather than hangs.
        await reader.query(ENDLESS, timeout=60)
        return QueryResult([], {})

    return await killable(store, run)


def running(store: ClickHouseStore) -> int:
    rows = store.query_sync(
        "SELECT count() FROM system.processes WHERE position(query, concat({t:String}, '')) > 0"
        " AND position(query, 'numbers(') > 0 AND position(query, 'KILL') = 0",
        {"t": KILL_TAG},
    ).rows
    return int(rows[0][0])


def test_stop_query_kills_the_statement(store: ClickHouseStore) -> None:
    asyncio.run(_stop_query_kills_the_statement(store))


async def _stop_query_kills_the_statement(store: ClickHouseStore) -> None:
    registry = QueryRegistry(store, executor=endless)
    text = "stats count()"
    query_id = registry.start(QueryRequest("t", text, parse_query(text), ["/g"], 0, 1000))
    for _ in range(2000):  # until the statement is in the engine (bounded)
        if running(store):
            break
        await asyncio.sleep(0.005)
    assert running(store) == 1
    assert registry.stop("t", query_id) is True
    info = await registry.wait("t", query_id)
    assert info is not None
    assert info.status == "Cancelled"
    assert running(store) == 0
    # The read pool is free: a new query answers.
    assert (await store.query("SELECT 1")).rows == [(1,)]
    await registry.close()


def test_time_limit_kills_the_statement(store: ClickHouseStore) -> None:
    asyncio.run(_time_limit_kills_the_statement(store))


async def _time_limit_kills_the_statement(store: ClickHouseStore) -> None:
    # The statement never ends on its own, so the registry's limit is what ends it.
    registry = QueryRegistry(store, executor=endless, timeout=0.5)
    text = "stats count()"
    query_id = registry.start(QueryRequest("t", text, parse_query(text), ["/g"], 0, 1000))
    info = await registry.wait("t", query_id)
    assert info is not None
    assert info.status == "Timeout"
    assert running(store) == 0
    await registry.close()
