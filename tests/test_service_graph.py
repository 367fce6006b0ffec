"""The service graph kept per minute (query.servicegraph) gives the read-time graph's
answer: over generated traces stored in any order (late parents, late answers to client
calls), for windows that cut traces apart, and through a real server across a restart and
a WAL replay."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from bench.traces_data import span_table

from tests.vigil_process import VigilProcess
from tests.xray_helpers import xray_client
from vigil.query import traces as xq
from vigil.query.traces.servicegraph import (
    BACKGROUND_SHARE_K,
    MINUTE_NS,
    READ_MAX_SLOTS,
    ServiceGraphKeeper,
)
from vigil.store.clickhouse import ClickHouseStore
from vigil.store.migrations import migrate
from vigil.tasks import pause_after

S = 10**9


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    # chDB opens one engine directory per process: one store for the module.
    s = ClickHouseStore("chdb://" + str(tmp_path_factory.mktemp("graph") / "ch"))
    migrate(s)
    yield s
    s.close()


def _tenant(table: pa.Table, tenant: str) -> pa.Table:
    index = table.schema.get_field_index("tenant")
    return table.set_column(index, "tenant", pa.array([tenant] * table.num_rows, pa.string()))


def _graph(
    store: ClickHouseStore, tenant: str, lo: int, hi: int, keeper: ServiceGraphKeeper | None
) -> xq.Graph:
    return asyncio.run(xq.service_graph(store, tenant, lo, hi, keeper=keeper))


def _windows(lo: int, hi: int) -> list[tuple[int, int]]:
    """Whole-minute windows: everything, the first and the second half, one minute."""
    a, b = lo // MINUTE_NS * MINUTE_NS, (hi // MINUTE_NS + 1) * MINUTE_NS
    mid = (a + b) // 2 // MINUTE_NS * MINUTE_NS
    return [(a, b - 1), (a, mid - 1), (mid, b - 1), (mid, mid + MINUTE_NS - 1)]


def test_a_read_recomputes_only_its_window(store: ClickHouseStore) -> None:
    """A block of two hours (an upgrade registers weeks as one block): a read of its last
    ten minutes recomputes the slots of those minutes, not the block; the rest follows."""
    tenant = f"slots-{uuid.uuid4().hex[:6]}"
    end = (time.time_ns() // MINUTE_NS - 5) * MINUTE_NS
    lo = end - 120 * MINUTE_NS
    store.insert("spans", _tenant(span_table(np.random.default_rng(5), 2400, lo, end), tenant))
    keeper = ServiceGraphKeeper(store)

    def minutes() -> int:
        sql = "SELECT uniq(minute) FROM service_graph WHERE tenant = {t:String}"
        return int(store.query_sync(sql, {"t": tenant}).rows[0][0])

    recent = (end - 10 * MINUTE_NS, end - 1)
    assert _graph(store, tenant, *recent, keeper) == _graph(store, tenant, *recent, None)
    assert 10 <= minutes() <= 30
    whole = (lo, end - 1)
    assert _graph(store, tenant, *whole, keeper) == _graph(store, tenant, *whole, None)
    assert minutes() >= 120


def test_spans_in_any_order_give_the_read_time_graph(store: ClickHouseStore) -> None:
    tenant = f"order-{uuid.uuid4().hex[:6]}"
    now = time.time_ns()
    lo, hi = now - 20 * MINUTE_NS, now - 2 * MINUTE_NS
    table = _tenant(span_table(np.random.default_rng(3), 3000, lo, hi), tenant)
    # Children first (servers and their calls), then the roots and the client calls that
    # are their parents, in several inserts: every pair is completed by a later block.
    position = pc.remainder(pa.array(np.arange(table.num_rows)), 10)
    late = pc.less(position, 4)
    for part in (table.filter(pc.invert(late)), table.filter(late)):
        for chunk in range(0, part.num_rows, 4000):
            store.insert("spans", part.slice(chunk, 4000))
    keeper = ServiceGraphKeeper(store)
    assert asyncio.run(keeper.catch_up()) > 0
    for window in _windows(lo, hi):
        kept = _graph(store, tenant, *window, keeper)
        assert kept == _graph(store, tenant, *window, None), window
        assert kept.edges
    # Catching up again (the blocks are too recent to be done) changes nothing.
    asyncio.run(keeper.catch_up(tenant))
    whole = _windows(lo, hi)[0]
    assert _graph(store, tenant, *whole, keeper) == _graph(store, tenant, *whole, None)


def test_a_window_rounds_out_to_whole_minutes(store: ClickHouseStore) -> None:
    tenant = f"round-{uuid.uuid4().hex[:6]}"
    minute = (time.time_ns() // MINUTE_NS - 30) * MINUTE_NS
    table = _tenant(
        span_table(np.random.default_rng(4), 50, minute + 20 * S, minute + 21 * S), tenant
    )
    store.insert("spans", table)
    keeper = ServiceGraphKeeper(store)
    inside = _graph(store, tenant, minute + 30 * S, minute + 40 * S, keeper)
    assert inside == _graph(store, tenant, minute, minute + MINUTE_NS - 1, None)
    assert inside.nodes
    assert not _graph(store, tenant, minute + MINUTE_NS, minute + 2 * MINUTE_NS, keeper).nodes


# --- through a real server -------------------------------------------------------------


def _otlp(service: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def _span(
    trace: str, span: str, kind: int, start: float, parent: str = "", **attrs: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace,
        "spanId": span,
        "name": f"op-{kind}",
        "kind": kind,
        "startTimeUnixNano": str(int(start * 1e9)),
        "endTimeUnixNano": str(int((start + 0.05) * 1e9)),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }
    if parent:
        out["parentSpanId"] = parent
    return out


class Calls:
    """One gateway → inventory request per call: the root, its client call, the callee."""

    def __init__(self, server: VigilProcess, tenant: str) -> None:
        self.server = server
        self.headers = {"X-Vigil-Tenant": tenant}

    def post(self, service: str, spans: list[dict[str, Any]]) -> None:
        httpx.post(
            f"{self.server.otlp_http_url}/v1/traces",
            headers=self.headers,
            json=_otlp(service, spans),
            timeout=30,
        ).raise_for_status()

    def parent_side(self, trace: str, root: str, call: str, at: float) -> None:
        self.post(
            "gateway",
            [
                _span(trace, root, 2, at),
                _span(trace, call, 3, at + 0.001, root, **{"server.address": "inventory"}),
            ],
        )

    def child_side(self, trace: str, call: str, at: float) -> None:
        self.post("inventory", [_span(trace, uuid.uuid4().hex[:16], 2, at + 0.002, call)])


def _edges(server: VigilProcess, tenant: str, start: float, end: float) -> dict[Any, int]:
    """(caller, callee) -> requests; an uninstrumented callee is named ``remote:NAME``."""
    graph = xray_client(server, tenant).get_service_graph(StartTime=start, EndTime=end)
    names = {
        s["ReferenceId"]: ("remote:" if s["Type"] == "remote" else "") + s.get("Name", s["Type"])
        for s in graph["Services"]
    }
    return {
        (names[s["ReferenceId"]], names[e["ReferenceId"]]): e["SummaryStatistics"]["TotalCount"]
        for s in graph["Services"]
        for e in s["Edges"]
    }


def test_late_parents_restarts_and_replays(tmp_path: Path) -> None:
    tenant = f"late-{uuid.uuid4().hex[:6]}"
    data = tmp_path / "data"
    # A long flush interval: acknowledged writes stay in the WAL until a read needs them.
    server = VigilProcess(data, "--flush-interval-ms", "600000").start()
    calls = Calls(server, tenant)
    now = time.time()
    window = (now - 900, now + 60)
    try:
        # The callee's span arrives first: a node, no edge yet.
        first = uuid.uuid4().hex
        root, call = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        calls.child_side(first, call, now - 10)
        assert _edges(server, tenant, *window) == {}
        # Its parent arrives: the gateway's request is paired with it, and the call is not
        # one to an uninstrumented remote.
        calls.parent_side(first, root, call, now - 10)
        assert _edges(server, tenant, *window) == {
            ("client", "gateway"): 1,
            ("gateway", "inventory"): 1,
        }
        # A call nobody answered yet is a remote edge until its callee's span arrives.
        second = uuid.uuid4().hex
        root2, call2 = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        calls.parent_side(second, root2, call2, now - 5)
        assert _edges(server, tenant, *window) == {
            ("client", "gateway"): 2,
            ("gateway", "inventory"): 1,
            ("gateway", "remote:inventory"): 1,
        }
        calls.child_side(second, call2, now - 5)
        assert _edges(server, tenant, *window) == {
            ("client", "gateway"): 2,
            ("gateway", "inventory"): 2,
        }
        # An older request, ten minutes earlier: a window can leave it out.
        old = uuid.uuid4().hex
        root3, call3 = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        calls.parent_side(old, root3, call3, now - 600)
        calls.child_side(old, call3, now - 600)
        # Acknowledged, not read yet: in the WAL only when the process is killed.
    finally:
        server.kill()
    server = VigilProcess(data).start()
    try:
        assert _edges(server, tenant, *window) == {
            ("client", "gateway"): 3,
            ("gateway", "inventory"): 3,
        }
        assert _edges(server, tenant, now - 700, now - 300) == {
            ("client", "gateway"): 1,
            ("gateway", "inventory"): 1,
        }
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
    # A clean restart (every block done) changes nothing either.
    server = VigilProcess(data).start()
    try:
        assert _edges(server, tenant, *window) == {
            ("client", "gateway"): 3,
            ("gateway", "inventory"): 3,
        }
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def test_the_background_catch_up_takes_a_bounded_share_of_the_time() -> None:
    # Quick passes wait the interval; a backlog is worked through at once; a long pass
    # (live minutes under heavy ingest) waits four times its length: ≤ 20 % of the time.
    # (The catch-up is the traces pillar's "service-graph" task; the runner does the waits.)
    def pause(elapsed: float, left: int) -> float:
        return pause_after(elapsed, bool(left), interval=5, busy_ratio=BACKGROUND_SHARE_K)

    assert pause(0.1, left=0) == 5
    assert pause(0.0, left=3) == 0
    assert pause(0.5, left=3) == 2
    assert pause(12.0, left=0) == 48


def test_a_span_from_decades_ago_does_not_make_the_catch_up_walk_decades(
    store: ClickHouseStore,
) -> None:
    """Issue 18 item 5: one insert holding spans of 2001 and of today is one block; the
    keeper walks only the minutes the traces' retention keeps."""
    tenant = f"old-{uuid.uuid4().hex[:6]}"
    end = (time.time_ns() // MINUTE_NS - 5) * MINUTE_NS
    old = 978307200 * S  # 2001-01-01
    rng = np.random.default_rng(7)
    both = pa.concat_tables(
        [span_table(rng, 20, old, old + MINUTE_NS), span_table(rng, 200, end - 10 * MINUTE_NS, end)]
    )
    store.insert("spans", _tenant(both, tenant))
    keeper = ServiceGraphKeeper(store, max_age_ns=30 * 86400 * S)
    started = time.monotonic()
    minutes = asyncio.run(keeper.catch_up(tenant))
    # The recent block's minutes and one minute at the retention horizon, nothing between.
    assert minutes <= 10 + 2 * 10 + 1
    assert time.monotonic() - started < 30
    recent = (end - 10 * MINUTE_NS, end - 1)
    assert _graph(store, tenant, *recent, keeper) == _graph(store, tenant, *recent, None)


def test_a_read_recomputes_at_most_its_newest_slots(store: ClickHouseStore) -> None:
    """Issue 18 (found by bench/fuzz.py): a read from StartTime=0 over a block of 25 days
    recomputes only its READ_MAX_SLOTS newest slots under the lock, not 3,600, so the other
    reads do not wait; the background pass does the rest."""
    tenant = f"wide-{uuid.uuid4().hex[:6]}"
    end = (time.time_ns() // MINUTE_NS - 5) * MINUTE_NS
    old = end - 25 * 86400 * S
    rng = np.random.default_rng(11)
    both = pa.concat_tables(
        [span_table(rng, 20, old, old + MINUTE_NS), span_table(rng, 200, end - 10 * MINUTE_NS, end)]
    )
    store.insert("spans", _tenant(both, tenant))
    keeper = ServiceGraphKeeper(store, max_age_ns=30 * 86400 * S)
    started = time.monotonic()
    _graph(store, tenant, 0, end - 1, keeper)
    assert time.monotonic() - started < 30
    sql = "SELECT uniq(minute) FROM service_graph WHERE tenant = {t:String}"
    assert int(store.query_sync(sql, {"t": tenant}).rows[0][0]) <= READ_MAX_SLOTS * 10
    # The newest minutes are exact.
    recent = (end - 10 * MINUTE_NS, end - 1)
    assert _graph(store, tenant, *recent, keeper) == _graph(store, tenant, *recent, None)


def test_an_idle_catch_up_asks_the_store_nothing_until_spans_are_inserted(
    store: ClickHouseStore,
) -> None:
    """The background pass is every 5 s; on an idle server it must not wake the engine
    (vigil.memory): once it finds no pending block it skips until spans are inserted."""
    # Every block of the module's earlier tests done: nothing is pending.
    store.command(
        "INSERT INTO span_blocks (tenant, id, lo, hi, spans, done)"
        " SELECT tenant, id, lo, hi, spans, 1 FROM span_blocks FINAL WHERE done = 0"
    )
    keeper = ServiceGraphKeeper(store)
    assert asyncio.run(keeper.catch_up_pass()) is False
    idle = store.activity()
    for _ in range(3):
        assert asyncio.run(keeper.catch_up_pass()) is False
    assert store.activity() == idle
    tenant = f"idle-{uuid.uuid4().hex[:6]}"
    minute = (time.time_ns() // MINUTE_NS - 30) * MINUTE_NS
    table = span_table(np.random.default_rng(5), 50, minute + 20 * S, minute + 21 * S)
    store.insert("spans", _tenant(table, tenant))
    asyncio.run(keeper.catch_up_pass())
    assert store.activity() > idle + 1  # the insert, then the pass looked and recomputed
    graph = _graph(store, tenant, minute, minute + MINUTE_NS - 1, keeper)
    assert graph == _graph(store, tenant, minute, minute + MINUTE_NS - 1, None)
    assert graph.nodes
