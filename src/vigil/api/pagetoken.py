"""The one page-token codec of every API (AWS ``NextToken``/``nextToken``, the read API's
``cursor``).

A token is the JSON text of a position (an offset, a name, a list of sort keys …) in
URL-safe base64 without padding: opaque to clients, safe in a query string, and read back
only if ``check`` accepts what it decodes to. Padded tokens (as older vigil versions wrote
them) read the same. Callers turn ``BadToken`` into their protocol's error
(``InvalidNextToken``, ``InvalidParameterException``, a 400 naming ``cursor`` …).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson


class BadToken(ValueError):
    """The token is not one this API handed out."""


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode(token: str | None, check: Callable[[Any], bool]) -> Any:
    """The position in ``token`` (None for no token), or ``BadToken``."""
    if token is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=="))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise BadToken(token) from None
    if not check(value):
        raise BadToken(token)
    return value


def is_offset(value: Any) -> bool:
    """A non-negative integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
