"""The notify state on a real PostgreSQL server: two nodes claiming the same outbox get
disjoint deliveries, two nodes ticking one due escalation step run it once, and nodes
starting at once agree on the signing and link keys."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.notify_stack import Clock
from tests.postgres_server import PostgresServer
from vigil.notify.interface import Notification, Target
from vigil.notify.keys import Keys, read_keys
from vigil.notify.pipeline import Notifier, Settings
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.state.db import open_state
from vigil.state.incidents import notify_secrets
from vigil.state.notifylog import NotificationLog


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # /tmp, not pytest's tmp_path: the postgres user must be able to reach the directory.
    with tempfile.TemporaryDirectory(prefix="vigil-pg-") as root:
        Path(root).chmod(0o755)
        server = PostgresServer(Path(root) / "pg").start()
        yield server
        server.stop()


@pytest.fixture
def engine(postgres: PostgresServer) -> Iterator[Engine]:
    engine = open_state(postgres.url)
    yield engine
    with engine.begin() as conn:
        for table in (
            "notify_deliveries",
            "notify_attempts",
            "notify_incidents",
            "notify_incident_events",
            "notify_policies",
            "sns_topics",
            "sns_subscriptions",
        ):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    engine.dispose()


def test_two_nodes_claim_disjoint_deliveries(engine: Engine) -> None:
    clock = Clock()
    notifier = Notifier(NotificationLog(engine), {}, settings=Settings(), clock=clock)
    target = Target("webhook", "http://a.test/hook", "sub-a")
    for i in range(300):
        note = Notification(key=f"k{i}", subject="s", message="m", group=f"g{i}")
        asyncio.run(notifier.publish("default", note, [target]))
    again = Notification(key="k0", subject="s", message="m", group="g0")
    assert asyncio.run(notifier.publish("default", again, [target])) == 0
    got: dict[str, list[int]] = {}

    def claim(log: NotificationLog) -> None:
        ids: list[int] = []
        for _ in range(40):
            ids += [d.id for d in log.claim(int(clock.now * 1000), 60_000, limit=10)]
        got[log.node] = ids

    nodes = [NotificationLog(engine, "n1"), NotificationLog(engine, "n2")]
    threads = [threading.Thread(target=claim, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(got["n1"]) & set(got["n2"])
    assert len(got["n1"]) + len(got["n2"]) == 300


def test_two_nodes_run_a_due_step_once(engine: Engine) -> None:
    clock = Clock()

    async def build(node: str) -> NotifyParts:
        parts = NotifyParts(engine, NotifySettings(), clock=clock, node=node)
        await parts.start()
        return parts

    async def scenario() -> list[int]:
        a, b = await build("a"), await build("b")
        for parts in (a, b):
            await parts.escalations.put_policy(
                "default",
                "p",
                [
                    {"targets": ["webhook:http://one.test/"], "delay": 300},
                    {"targets": ["webhook:http://two.test/"]},
                ],
            )
        note = Notification(key="n1", subject="db down", message="m", kind="trigger", group="db")
        _, new = await a.escalations.open("default", "db", note, "p", [])
        assert new
        clock.now += 300
        # both nodes tick at once, each in its own thread
        return list(await asyncio.gather(a.escalations.tick(), b.escalations.tick()))

    assert sorted(asyncio.run(scenario())) == [0, 1]
    log = NotificationLog(engine)
    rows = log.recent("default", None, 10)
    assert sorted(d.target["endpoint"] for d in rows) == ["http://one.test/", "http://two.test/"]


def test_nodes_starting_at_once_agree_on_the_keys(postgres: PostgresServer) -> None:
    """Six loads at once on two engines (two vigil processes' pools) on a database with
    no keys yet: one of each key is made and every node reads the same ones (insert if
    absent, else read back the winner's)."""
    engines = [open_state(postgres.url) for _ in range(2)]
    try:
        with engines[0].begin() as conn:
            conn.execute(notify_secrets.delete())
        start = threading.Barrier(6)
        got: list[Keys] = []

        def load(engine: Engine) -> None:
            start.wait()
            got.append(read_keys(engine))

        threads = [threading.Thread(target=load, args=(e,)) for e in engines * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 6
        assert len({k.sns_cert_pem for k in got}) == 1
        assert len({k.sns_key.public_key().public_numbers().n for k in got}) == 1
        assert len({(k.ack_links, k.graph_links) for k in got}) == 1
        with engines[1].connect() as conn:
            rows = conn.execute(select(notify_secrets.c.name)).scalars().all()
        assert sorted(rows) == ["ack-links", "graph-links", "sns-signing-cert", "sns-signing-key"]
        # A node that starts later reads them, makes nothing.
        later = NotifyParts(engines[1], NotifySettings())
        asyncio.run(later.start())
        assert later.keys.get().sns_cert_pem == got[0].sns_cert_pem
        asyncio.run(later.close())
    finally:
        for engine in engines:
            engine.dispose()
