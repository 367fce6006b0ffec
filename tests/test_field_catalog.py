"""The field catalog (migration 0104) lets Logs Insights read a JSON path of one plain type
from that type's subcolumn and skip the attribute maps for keys no row holds; ``level`` and
``message`` are read from columns of their own (migration 0105). These tests run each query
twice on a real store — compiled with both, and compiled knowing nothing (every path cast
whole from ``fields``, both maps read) — and require the same rows; and they check that
upgrading a data directory catalogues the rows it already holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.query.insights import fields, parse_query, runner
from vigil.query.insights.compiler import logs_base
from vigil.query.insights.runner import Catalog, QueryRequest, execute
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import all_migrations, migrate

NOW = 1_795_000_000_000
GROUP = "/catalog/mixed"

# One path per situation: a single plain type (each of them), two types mixed, a type
# read through the cast only (dates, arrays), nested objects, and paths some lines lack.
MESSAGES: list[Any] = [
    {"s": "alpha", "f": 1.5, "i": 3, "u": 18446744073709551615, "b": True, "mix": 1,
     "d": "2026-01-02", "arr": [1, 2], "obj": {"k": "v1", "n": 1}, "num_text": "12.5"},
    {"s": "beta", "f": -0.25, "i": -7, "u": 18446744073709551614, "b": False, "mix": "one",
     "d": "2026-01-03", "arr": [3], "obj": {"k": "v2", "n": 2.5}, "num_text": "x"},
    {"s": "alpha beta", "f": 1e100, "i": 0, "b": True, "mix": 2.5, "obj": {"k": "v1"}},
    {"s": "", "f": 2.0, "level": "ERROR"},
    "plain text line with alpha",
    {"only_here": "yes", "mix": True},
    {"message": "alpha done", "level": "INFO", "s": "gamma"},
    {"message": 1.50, "level": True},
    {"message": {"text": "alpha nested"}, "level": ["ERROR"]},
    {"message": "", "level": None},
]  # fmt: skip

QUERIES = [
    "fields s, f, i, u, b, mix, d, arr, obj.k, obj.n, num_text, only_here, absent"
    " | sort @timestamp",
    "filter s like /alpha/ | fields s, f | sort @timestamp",
    'filter s = "beta" or mix = "one" | stats count() as n',
    "filter f > 1 | stats sum(f) as total, avg(i) as ai, max(u) as mu",
    "stats count() as n, sum(mix) as sm, avg(num_text) as an, sum(obj.n) as on by obj.k",
    "stats count() as n by b, s | sort n desc, s asc",
    "filter ispresent(only_here) or isempty(s) | fields only_here, s, level",
    "filter absent = 1 or absent like /x/ | stats count() as n",
    "fields concat(s, '-', i) as both, f * 2 as twice, tolower(mix) as lm | sort @timestamp",
    "stats count() as n by d, arr",
    "filter message like /alpha/ or level = 'ERROR' | fields message, level, message.text",
    "stats count() as n by level, message | sort n desc, level asc, message asc",
    "filter ispresent(message) and not isempty(message) | stats count() as n",
    "filter message not like /done/ | fields message | sort @timestamp",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClickHouseStore]:
    opened = ClickHouseStore(str(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


def put(store: ClickHouseStore, group: str, messages: list[Any]) -> None:
    events = [
        {"timestamp": NOW + i, "message": m if isinstance(m, str) else json.dumps(m)}
        for i, m in enumerate(messages)
    ]
    decoded = decode_put_log_events(
        events, tenant="default", group=group, stream="s", now_ms=NOW + 60_000, retention_days=None
    ).decoded
    assert decoded.logs is not None
    store.insert("logs", decoded.logs.to_arrow())


def run(store: ClickHouseStore, group: str, query: str) -> list[list[tuple[str, str]]]:
    req = QueryRequest("default", query, parse_query(query), [group], NOW - 1000, NOW + 60_000)
    return asyncio.run(execute(store, req, timeout=60)).rows


def lookup(store: ClickHouseStore, keys: set[str], start: int = NOW, end: int = NOW) -> Catalog:
    base = logs_base("default", [GROUP], start, end)
    return asyncio.run(runner.field_catalog(store, base, keys, None))


async def knowing_nothing(*_: object) -> Catalog:
    return Catalog(map_keys=frozenset(), path_types=None)


def same_as_generic(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> dict[str, list[list[tuple[str, str]]]]:
    """Each query's rows, checked equal to the rows compiled knowing nothing."""
    fast = {q: run(store, GROUP, q) for q in QUERIES}
    with monkeypatch.context() as patch:
        patch.setattr(runner, "field_catalog", knowing_nothing)
        patch.setattr(fields, "_TEXT_COLUMNS", {})  # level, message: cast from fields too
        for query in QUERIES:
            assert fast[query] == run(store, GROUP, query), query
    return fast


def test_catalog_reads_match_the_generic_reads(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(store)
    put(store, GROUP, MESSAGES)
    put(store, "/catalog/other", [{"s": 5, "f": "text"}])  # other types, another group
    fast = same_as_generic(store, monkeypatch)
    assert [[c for c in row if c[0] != "@ptr"] for row in fast[QUERIES[1]]] == [
        [("s", "alpha"), ("f", "1.5")],
        [("s", "alpha beta"), ("f", "1e100")],
    ]


def test_catalog_holds_paths_types_and_map_keys(store: ClickHouseStore) -> None:
    migrate(store)
    put(store, GROUP, MESSAGES)
    catalog = lookup(store, {"s", "mix", "obj.k", "nope"})
    assert catalog.path_types == {
        "s": frozenset({"String"}),
        "mix": frozenset({"Int64", "String", "Float64", "Bool"}),
        "obj.k": frozenset({"String"}),
    }
    assert catalog.map_keys == frozenset()
    two_hours_later = lookup(store, {"s"}, NOW + 7_200_000, NOW + 10_800_000)
    assert two_hours_later.path_types == {}


def test_upgrade_catalogues_the_rows_already_stored(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data directory from before migrations 0104 and 0105: its rows are catalogued on
    upgrade, and read the same while the new columns are being materialized and after."""
    store.command(
        "CREATE TABLE IF NOT EXISTS vigil_migrations (id String, description String,"
        " applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY id"
    )
    for migration in all_migrations():
        if migration.id < "0104":
            for statement in migration.statements:
                store.command(statement)
            store.command(
                "INSERT INTO vigil_migrations (id, description) VALUES ({id:String}, '')",
                {"id": migration.id},
            )
    put(store, GROUP, MESSAGES)
    assert {"0104", "0105"} <= set(migrate(store))
    same_as_generic(store, monkeypatch)
    store.command("OPTIMIZE TABLE logs FINAL")  # parts rewritten: the columns are stored
    same_as_generic(store, monkeypatch)
    rows = run(store, GROUP, "filter s like /alpha/ | stats count() as n, sum(i) as total")
    assert rows == [[("n", "2"), ("total", "3")]]
    catalog = lookup(store, {"f"})
    assert catalog.path_types == {"f": frozenset({"Float64"})}


def test_a_block_of_too_many_names_makes_the_catalog_assume_nothing(
    store: ClickHouseStore,
) -> None:
    migrate(store)
    many = [{f"id_{i}": i, "s": "x" if i % 2 else 7} for i in range(1001)]
    put(store, GROUP, many)
    catalog = lookup(store, {"s", "id_5"})
    assert catalog.path_types is None
    assert catalog.map_keys == frozenset()
    assert run(store, GROUP, "filter id_5 = 5 or s = 7 | stats count() as n") == [[("n", "502")]]
