"""API keys and tenants, shared by every HTTP and gRPC entry.

A neutral module below both the API and the OTLP receivers of ingest (see the layers in
pyproject.toml), so that neither imports the other for it.

With no key configured every request is let in (vigil then only binds loopback unless told
otherwise; see server.py). With a key, requests need ``Authorization: Bearer KEY``;
``/healthz`` stays open. The tenant comes from the ``X-Vigil-Tenant`` header (gRPC
metadata ``x-vigil-tenant``), ``default`` when absent.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from vigil.model.common import DEFAULT_TENANT, valid_tenant

TENANT_HEADER = "x-vigil-tenant"


class AuthError(Exception):
    """Missing or wrong credentials (401 / UNAUTHENTICATED)."""


class TenantError(ValueError):
    """A tenant header that is not a valid tenant name (400 / INVALID_ARGUMENT)."""


class Authenticator:
    def __init__(self, api_keys: list[str]) -> None:
        self._keys = [k.encode() for k in api_keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check_bearer(self, authorization: str | None) -> None:
        """Raise AuthError unless the header carries a configured key (or none is set)."""
        if not self._keys:
            return
        if not authorization:
            raise AuthError("missing Authorization header (expected: Bearer <api key>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be: Bearer <api key>")
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, key) for key in self._keys):
            raise AuthError("invalid API key")


def tenant_of(headers: Mapping[str, str]) -> str:
    tenant = headers.get(TENANT_HEADER, "").strip() or DEFAULT_TENANT
    if not valid_tenant(tenant):
        raise TenantError(
            f"invalid {TENANT_HEADER} header: 1 to 64 characters of letters, digits, '.', '_', '-'"
        )
    return tenant
