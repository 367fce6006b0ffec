"""The embedded store's insert path, against a real chDB engine in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from vigil.store.clickhouse import ClickHouseStore, store_url
from vigil.store.interface import QueryCancelled, QueryTimeout, StoreError, StoreUnavailable
from vigil.store.wal import WriteAheadLog
from vigil.store.writer import WalWriter
from vigil.telemetry import SelfMetrics

TABLE = """
CREATE TABLE {name} (k String, m Map(String, String), tags Array(String))
ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    # chDB opens one engine directory per process: one store for the module, closed after.
    path = tmp_path_factory.mktemp("store") / "ch"
    s = ClickHouseStore("chdb://" + str(path) + "/")  # a trailing slash: another spelling
    yield s
    s.close()


SCHEMA = pa.schema(
    [("k", pa.string()), ("m", pa.map_(pa.string(), pa.string())), ("tags", pa.list_(pa.string()))]
)


def _batch(
    k: list[str], m: list[list[tuple[str, str | None]]], tags: list[list[str | None]]
) -> pa.Table:
    return pa.table({"k": k, "m": m, "tags": tags}, schema=SCHEMA)


def _rows(store: ClickHouseStore, name: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.query_sync(f"SELECT k, m, tags FROM {name} ORDER BY k").rows]


def test_a_chdb_url_names_its_directory_one_way(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    expected = "chdb://" + str((tmp_path / "real").resolve())
    assert store_url(f"chdb://{tmp_path}/link/") == expected
    assert store_url(f"chdb://{tmp_path}/real/../real") == expected
    assert store_url(str(tmp_path / "link")) == expected
    assert store_url("http://ch:8123/vigil") == "http://ch:8123/vigil"


def test_inserts_work_through_a_non_canonical_url(store: ClickHouseStore) -> None:
    store.command(TABLE.format(name="plain"))
    store.insert("plain", _batch(["a"], [[("x", "1")]], [["t"]]))
    assert _rows(store, "plain") == [("a", {"x": "1"}, ["t"])]


def test_a_replay_with_the_same_token_is_stored_once(store: ClickHouseStore) -> None:
    store.command(TABLE.format(name="replayed"))
    batch = _batch(["a", "b"], [[], []], [[], []])
    store.insert("replayed", batch, dedup_token="wal-1")
    store.insert("replayed", batch, dedup_token="wal-1")
    store.insert("replayed", batch)  # no token: a write of its own, kept
    assert len(_rows(store, "replayed")) == 4


def test_nulls_inside_maps_and_lists_are_stored_as_empty_strings(store: ClickHouseStore) -> None:
    store.command(TABLE.format(name="nested_nulls"))
    batch = _batch(["a", "b"], [[("x", None)], [("y", "2")]], [["t", None], []])
    store.insert("nested_nulls", batch)
    assert _rows(store, "nested_nulls") == [("a", {"x": ""}, ["t", ""]), ("b", {"y": "2"}, [])]


def test_wide_rows_are_flushed_by_size_not_refused(store: ClickHouseStore, tmp_path: Path) -> None:
    store.command(TABLE.format(name="wide"))
    writer = WalWriter(
        store,
        WriteAheadLog(tmp_path / "wal"),
        SelfMetrics(),
        flush_interval=3600.0,  # neither the timer nor the row count can trigger the flush
        flush_rows=10**9,
        max_queue_bytes=64 << 10,
    )
    writer.start()
    try:
        wide = _batch(["w"] * 40, [[("body", "x" * 1_000)]] * 40, [[]] * 40)
        assert wide.nbytes >= writer.max_queue_bytes // 2
        writer.submit({"wide": wide}).result(timeout=30)
        deadline = time.monotonic() + 30
        while writer.queued_rows and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.queued_rows == 0
        assert len(_rows(store, "wide")) == 40
    finally:
        writer.stop()


def test_a_closed_store_refuses_inserts(store: ClickHouseStore) -> None:
    # A second store on the same directory (last in the module: closing it may close the
    # engine the module shares).
    other = ClickHouseStore(store.url)
    other.close()
    with pytest.raises(StoreUnavailable):
        other.insert("plain", _batch(["z"], [[]], [[]]))


# Long enough to be still running when the test ends it (stops within a second).
ENDLESS = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 0"


def test_a_query_over_its_time_limit_is_a_timeout(store: ClickHouseStore) -> None:
    with pytest.raises(QueryTimeout):
        store.query_sync(ENDLESS, timeout=1)


def test_a_killed_query_is_cancelled_not_timed_out(store: ClickHouseStore) -> None:
    tag = "vigil-test-kill-me"
    raised: list[BaseException] = []

    def run() -> None:
        try:
            store.query_sync(f"{ENDLESS} SETTINGS log_comment = '{tag}'", timeout=60)
        except StoreError as exc:
            raised.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 20
    while not raised and time.monotonic() < deadline:
        store.command(f"KILL QUERY WHERE position(query, '{tag}') > 0 AND query NOT LIKE '%KILL%'")
        time.sleep(0.1)
    runner.join(30)
    assert len(raised) == 1
    assert type(raised[0]) is QueryCancelled


def test_a_read_is_bounded_in_memory(store: ClickHouseStore) -> None:
    """max_memory_usage applies to every read; going over is QueryTooLarge, not a crash."""
    from vigil.store.interface import QueryTooLarge

    saved = store.query_memory_bytes
    store.query_memory_bytes = 64 * 1024**2
    try:
        with pytest.raises(QueryTooLarge):
            store.query_sync("SELECT length(groupArray(number)) FROM numbers(50000000)")
    finally:
        store.query_memory_bytes = saved
    assert store.query_sync("SELECT count() FROM numbers(1000)").rows == [(1000,)]
