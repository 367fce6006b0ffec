"""The notify pillar's keys (``vigil.notify.keys``): nothing touches the state database
until the pillar starts; then the SNS signing key and certificate and the graph- and
ack-link keys are read (made once), so links and signatures made before a restart are
accepted after it, and a stored key is never replaced. Two nodes on one PostgreSQL
database agree on the keys: tests/test_notify_postgres.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Engine, select
from starlette.applications import Starlette

from tests.asgi_server import serve
from tests.no_io import refused_io
from tests.notify_stack import Clock
from tests.test_escalation import Event
from vigil.api.notify_v1 import NotifyApi
from vigil.notify.keys import KeysNotLoaded
from vigil.notify.runtime import NotifyParts, NotifySettings
from vigil.notify.signing import new_key_pem, self_signed_pem
from vigil.notify.snsmessage import string_to_sign
from vigil.state.db import open_state
from vigil.state.incidents import notify_secrets

SETTINGS = NotifySettings(public_url="http://vigil.test", public_links=True)
WIDGET: dict[str, Any] = {"metrics": [["App", "Latency"]], "period": 60}
TOPIC = "arn:aws:sns:us-east-1:000000000000:pages"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_state(str(tmp_path / "state.db"))
    yield engine
    engine.dispose()


def _parts(engine: Engine, draw: bool = False) -> NotifyParts:
    async def no_png(tenant: str, widget: Any) -> bytes | None:
        return None

    return NotifyParts(engine, SETTINGS, clock=Clock(), draw=no_png if draw else None)


def _stored(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.name: r.value for r in conn.execute(select(notify_secrets))}


def _verify(cert_pem: str, message: dict[str, str]) -> None:
    key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(message["Signature"])
    key.verify(signature, string_to_sign(message).encode(), padding.PKCS1v15(), hashes.SHA256())


def _ack_query(link: str) -> tuple[str, str, str]:
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    return parts.path.rsplit("/", 1)[1], query["expires"][0], query["sig"][0]


def test_built_without_state_io_and_refusing_until_started(engine: Engine) -> None:
    with refused_io(engine):  # any connection or statement raises
        parts = _parts(engine)
        api = NotifyApi(parts)
        routes = api.routes()
    assert _stored(engine) == {}
    with pytest.raises(KeysNotLoaded):
        parts.escalations.ack_link("default", "inc-1")
    with pytest.raises(KeysNotLoaded):
        parts.graphs.link("default", WIDGET)
    with pytest.raises(KeysNotLoaded):
        parts.signer.sign({"Type": "Notification", "Message": "m"}, "2")
    with serve(Starlette(routes=routes)) as url:
        # Served before start (the server never does: it serves after every start), the
        # routes refuse clearly instead of checking a link against no key.
        early = httpx.get(f"{url}/notify/ack/inc-1?tenant=default&expires=9&sig=00")
        assert early.status_code == 503
        assert early.json()["error"]["message"] == "the notify pillar has not started yet"
        assert httpx.get(f"{url}/api/v1/incidents").status_code == 503
        asyncio.run(parts.start())
        assert set(_stored(engine)) == {
            "sns-signing-key",
            "sns-signing-cert",
            "graph-links",
            "ack-links",
        }
        assert httpx.get(f"{url}/api/v1/incidents").status_code == 200
        cert = httpx.get(url + parts.signer.cert_path)
        assert cert.status_code == 200
        assert cert.text == parts.signer.cert_pem
        other = "/notify/sns/SimpleNotificationService-" + "0" * 32 + ".pem"
        assert httpx.get(url + other).status_code == 404
    asyncio.run(parts.close())


def test_links_and_signatures_outlive_a_restart_and_keys_are_never_remade(
    tmp_path: Path,
) -> None:
    url = str(tmp_path / "state.db")
    first_engine = open_state(url)
    first = _parts(first_engine, draw=True)
    asyncio.run(first.start())
    ack = first.escalations.ack_link("default", "inc-1")
    graph = first.graphs.link("default", WIDGET)
    signed = first.signer.sign({"Type": "Notification", "MessageId": "m1", "Message": "x"}, "2")
    stored = _stored(first_engine)
    asyncio.run(first.close())
    first_engine.dispose()

    engine = open_state(url)  # the restart
    try:
        second = _parts(engine, draw=True)
        asyncio.run(second.start())
        asyncio.run(second.start())  # a second start reads nothing new
        assert _stored(engine) == stored
        incident, expires, sig = _ack_query(ack)
        assert second.escalations.check_link("default", incident, expires, sig) is None
        forged = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        assert second.escalations.check_link("default", incident, expires, forged) is not None
        assert second.graphs.check(graph.rsplit("/", 1)[1]) == ("default", WIDGET)
        assert second.signer.cert_pem == stored["sns-signing-cert"]
        assert signed["SigningCertURL"] == "http://vigil.test" + second.signer.cert_path
        _verify(second.signer.cert_pem, signed)
        asyncio.run(second.close())
    finally:
        engine.dispose()


def test_a_stored_key_is_used_as_it_is(engine: Engine) -> None:
    key = new_key_pem()
    cert = self_signed_pem(key)
    with engine.begin() as conn:
        conn.execute(notify_secrets.insert().values(name="sns-signing-key", value=key))
        conn.execute(notify_secrets.insert().values(name="sns-signing-cert", value=cert))
        conn.execute(notify_secrets.insert().values(name="ack-links", value="ab" * 32))
    parts = _parts(engine)
    asyncio.run(parts.start())
    assert parts.signer.cert_pem == cert
    _verify(cert, parts.signer.sign({"Type": "Notification", "Message": "m"}, "2"))
    assert parts.keys.get().ack_links == bytes.fromhex("ab" * 32)
    stored = _stored(engine)
    assert (stored["sns-signing-key"], stored["ack-links"]) == (key, "ab" * 32)
    asyncio.run(parts.close())


def test_an_alarm_event_redelivered_before_start_loads_the_keys(engine: Engine) -> None:
    """The alarms pillar starts first and redelivers undelivered events from its start:
    the sink (``NotifyParts.deliver``) loads the keys before opening the incident, whose
    first step carries a signed ack link."""
    parts = _parts(engine)
    event = Event("Q", "OK", "ALARM", 1_796_000_000_000, [TOPIC])

    async def scenario() -> list[dict[str, Any]]:
        before = parts.started
        await parts.deliver(event)
        assert (before, parts.started) == (False, True)
        found = await parts.escalations.list("default", None)
        await parts.close()
        return found

    found = asyncio.run(scenario())
    assert [(i["alarm"], i["status"]) for i in found] == [(event.alarm_arn, "open")]
