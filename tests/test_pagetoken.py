"""The one page-token codec: round trips, padded and unpadded tokens, and refusals."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from vigil.api import pagetoken


@pytest.mark.parametrize("value", [0, 17, "name/with/slashes", [1, 2], ["ns", "m", 3], None])
def test_round_trip_without_padding(value: Any) -> None:
    token = pagetoken.encode(value)
    assert not set(token) & set("=+/")
    assert pagetoken.decode(token, lambda _: True) == value


def test_padded_tokens_read_the_same() -> None:
    padded = base64.urlsafe_b64encode(orjson.dumps([5, "x"])).decode()
    assert padded.endswith("=")
    assert pagetoken.decode(padded, lambda v: isinstance(v, list)) == [5, "x"]


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", pagetoken.encode("text")])
def test_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(pagetoken.BadToken):
        pagetoken.decode(token, pagetoken.is_offset)


def test_no_token_is_no_position() -> None:
    assert pagetoken.decode(None, pagetoken.is_offset) is None
    assert not pagetoken.is_offset(True)
    assert not pagetoken.is_offset(-1)
