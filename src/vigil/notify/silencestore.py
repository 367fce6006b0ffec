"""Silences kept in the state DB (``notify_silences``), read by the pipeline's silence
stage on every flush. Blocking: call from worker threads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Engine, select

from vigil.notify.silences import Silence, SilenceError
from vigil.state.incidents import silences


def from_spec(silence_id: str, tenant: str, spec: dict[str, Any]) -> Silence:
    matchers = spec.get("matchers", {})
    if not isinstance(matchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in matchers.items()
    ):
        raise SilenceError("matchers must map label names to strings")
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    for key in ("starts", "ends", "duration"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SilenceError(f"{key} must be a number of seconds")
    silence = Silence(
        id=silence_id,
        matchers=matchers,
        starts=spec.get("starts"),
        ends=spec.get("ends"),
        cron=spec.get("cron"),
        duration_s=float(spec.get("duration") or 0),
        tz=str(spec.get("time_zone", "UTC")),
        comment=str(spec.get("comment", "")),
        tenant=tenant,
        extra=spec.get("extra") or {},
    )
    silence.check()
    return silence


def to_spec(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": dict(silence.matchers),
        "starts": silence.starts,
        "ends": silence.ends,
        "cron": silence.cron,
        "duration": silence.duration_s or None,
        "time_zone": silence.tz,
        "comment": silence.comment,
        **({"extra": dict(silence.extra)} if silence.extra else {}),
    }


class SilenceStore:
    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, tenant: str, spec: dict[str, Any]) -> Silence:
        silence = from_spec(uuid.uuid4().hex[:12], tenant, spec)
        with self.engine.begin() as conn:
            conn.execute(
                silences.insert().values(
                    tenant=tenant,
                    id=silence.id,
                    spec=orjson.dumps(to_spec(silence)).decode(),
                    created_ms=int(self.clock() * 1000),
                )
            )
        return silence

    def put(self, silence: Silence) -> bool:
        """Create or replace a silence by its id (mute rules: ``mute/<name>``); True if new."""
        silence.check()
        spec = orjson.dumps(to_spec(silence)).decode()
        now = int(self.clock() * 1000)
        with self.engine.begin() as conn:
            key = (silences.c.tenant == silence.tenant, silences.c.id == silence.id)
            done = conn.execute(silences.update().where(*key).values(spec=spec)).rowcount
            if not done:
                conn.execute(
                    silences.insert().values(
                        tenant=silence.tenant, id=silence.id, spec=spec, created_ms=now
                    )
                )
            return not done

    def get(self, tenant: str, silence_id: str) -> Silence | None:
        with self.engine.connect() as conn:
            spec = conn.execute(
                select(silences.c.spec).where(
                    silences.c.tenant == tenant, silences.c.id == silence_id
                )
            ).scalar()
        return None if spec is None else from_spec(silence_id, tenant, orjson.loads(spec))

    def all(self, tenant: str) -> list[Silence]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(silences.c.id, silences.c.spec)
                .where(silences.c.tenant == tenant)
                .order_by(silences.c.created_ms)
            )
            return [from_spec(r.id, tenant, orjson.loads(r.spec)) for r in rows]

    def delete(self, tenant: str, silence_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                silences.delete().where(silences.c.tenant == tenant, silences.c.id == silence_id)
            )
            return bool(result.rowcount)
