"""The pillar contract (``vigil.pillar``), checked for every pillar the server runs:
``build(core)`` does no I/O — it runs on the event loop, before any pillar starts — so
each one builds against a state database and a store that refuse every use, and the
runtime then starts, serves and stops as usual."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.no_io import IoRefused, refused_io
from tests.runtime import InProcessVigil
from vigil.pillar import Builder, Core, Pillar
from vigil.server import PILLARS


def test_every_pillar_builds_without_state_or_store_io(tmp_path: Path) -> None:
    built: list[str] = []

    def checked(build: Builder) -> Builder:
        def run(core: Core) -> Pillar:
            if not built:  # the refusal itself works, on this core's engine and store
                with refused_io(core.state, core.store):
                    with pytest.raises(IoRefused):
                        core.state.connect()
                    with pytest.raises(IoRefused):
                        core.store.query_sync("SELECT 1")
            try:
                with refused_io(core.state, core.store):
                    pillar = build(core)
            except IoRefused as exc:
                raise AssertionError(f"{build.__module__}.build did I/O: {exc}") from exc
            built.append(pillar.name)
            return pillar

        return run

    server = InProcessVigil(tmp_path / "data", pillars=[checked(b) for b in PILLARS]).start()
    try:
        assert len(built) == len(PILLARS)
        # Built without I/O, started after: what they load at start is there.
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert httpx.get(server.url + "/api/v1/incidents").status_code == 200
    finally:
        assert server.stop() == 0
