"""The notify pillar's server-wide keys: the RSA key and certificate that sign SNS
messages (``signing``), and the HMAC keys of the graph links (``graph``) and of the
one-click acknowledge links (``escalation``).

Contract
--------
* Each key is made once, on first use, and kept in the state database
  (``notify_secrets``, through ``state.incidents.stored_text``: read; if absent, insert
  in a savepoint; on a conflict, read back the row another node inserted first). So
  every restart, and every node on one PostgreSQL state database, uses the same keys:
  a link signed before a restart or by another node is accepted, and a key that exists
  is never replaced.
* ``NotifyKeys`` is made empty (no I/O: the pillar's ``build`` makes it) and filled by
  ``await load(engine)``, at the pillar's start (or at the first alarm event the alarms
  pillar redelivers while it starts, which is earlier). Loading twice reads once.
* Before that, ``get()`` raises ``KeysNotLoaded``: a link is never signed with, nor
  checked against, a key that is not the stored one.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine

from vigil.notify.signing import new_key_pem, self_signed_pem
from vigil.state.incidents import secret, stored_text

# The rows of notify_secrets (their names are what existing state databases hold).
SNS_KEY = "sns-signing-key"
SNS_CERT = "sns-signing-cert"
GRAPH_LINKS = "graph-links"
ACK_LINKS = "ack-links"


class KeysNotLoaded(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the notify keys are not loaded: the notify pillar has not started")


@dataclass(frozen=True, slots=True)
class Keys:
    sns_key: rsa.RSAPrivateKey
    sns_cert_pem: str
    sns_cert_id: str  # names the certificate's URL (SigningCertURL)
    graph_links: bytes
    ack_links: bytes


def read_keys(engine: Engine) -> Keys:
    """The stored keys, each made first if absent (blocking: a few small queries)."""
    key_pem = stored_text(engine, SNS_KEY, new_key_pem)
    # Made from the stored key (another node's, if it won the race for the key).
    cert_pem = stored_text(engine, SNS_CERT, lambda: self_signed_pem(key_pem))
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Keys(
        sns_key=key,
        sns_cert_pem=cert_pem,
        sns_cert_id=hashlib.sha256(cert_pem.encode()).hexdigest()[:32],
        graph_links=secret(engine, GRAPH_LINKS),
        ack_links=secret(engine, ACK_LINKS),
    )


class NotifyKeys:
    def __init__(self) -> None:
        self._keys: Keys | None = None
        self._loading = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._keys is not None

    def get(self) -> Keys:
        if self._keys is None:
            raise KeysNotLoaded()
        return self._keys

    async def load(self, engine: Engine) -> Keys:
        """Read (or make, once) the keys; later calls return what the first one read."""
        async with self._loading:
            if self._keys is None:
                self._keys = await asyncio.to_thread(read_keys, engine)
            return self._keys
