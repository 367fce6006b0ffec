"""``GET /api/v1/alarms`` — alarm states for the UI (alarm widgets, the home page).

``?name=N`` (repeatable) limits the answer to those alarms, ``?state=ALARM|OK|
INSUFFICIENT_DATA`` to that state → ``{"alarms": [{"name", "kind", "state", "reason",
"updated"}]}``, the most recently changed first. Read from the state database, where
the alarms engine saves every state change (a change is visible once saved).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vigil.api.endpoint import json_endpoint
from vigil.api.params import ParamError, Params
from vigil.api.responses import JSONResponse
from vigil.model.timefmt import rfc3339
from vigil.state.alarms import AlarmStore

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


class AlarmsApi:
    def __init__(self, store: AlarmStore) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [Route("/api/v1/alarms", json_endpoint(self.list))]

    async def list(self, request: Request, tenant: str, p: Params) -> Response:
        names = set(p.all("name"))
        state = p.text("state")
        if state is not None and state not in STATES:
            raise ParamError("state", f"must be one of {', '.join(STATES)}")
        stored = await asyncio.to_thread(self._store.load)
        found = [
            a
            for a in stored
            if a.tenant == tenant
            and (not names or a.name in names)
            and (state is None or a.state == state)
        ]
        found.sort(key=lambda a: a.state_updated_ms, reverse=True)
        return JSONResponse(
            {
                "alarms": [
                    {
                        "name": a.name,
                        "kind": a.kind,
                        "state": a.state,
                        "reason": a.reason,
                        "updated": rfc3339(a.state_updated_ms * 10**6),
                    }
                    for a in found
                ]
            }
        )
