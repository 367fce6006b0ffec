"""SNS message signatures: SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA).

vigil holds one RSA key and a self-signed certificate for it, made on first use and
kept in the state DB (every node signs with the same key; ``keys`` loads them). Each
http/https (and email-json) message gets ``SignatureVersion``, ``Signature`` (base64 of
the RSA PKCS#1 v1.5 signature of ``snsmessage.string_to_sign``) and ``SigningCertURL``, which vigil
serves (``cert_path``), so a standard SNS message validator — told to trust vigil's
certificate URL instead of ``sns.<region>.amazonaws.com`` — accepts the messages.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from vigil.notify.snsmessage import string_to_sign

if TYPE_CHECKING:  # keys imports this module (the key's and certificate's makers)
    from vigil.notify.keys import NotifyKeys

CERT_PREFIX = "/notify/sns/SimpleNotificationService-"


def new_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def self_signed_pem(key_pem: str, now: dt.datetime | None = None) -> str:
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    now = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil SNS message signing")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Signer:
    """Signs with the stored key (``keys``), once the pillar's start has loaded it."""

    def __init__(self, keys: NotifyKeys, public_url: str) -> None:
        self.keys = keys
        self.public_url = public_url.rstrip("/")

    @property
    def cert_pem(self) -> str:
        return self.keys.get().sns_cert_pem

    @property
    def cert_path(self) -> str:
        return f"{CERT_PREFIX}{self.keys.get().sns_cert_id}.pem"

    def sign(self, message: dict[str, str], version: str) -> dict[str, str]:
        algorithm: hashes.HashAlgorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        text = string_to_sign(message).encode()
        signature = self.keys.get().sns_key.sign(text, padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": "2" if version == "2" else "1",
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": self.public_url + self.cert_path,
        }
