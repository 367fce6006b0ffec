"""JSON responses and the error shape of the JSON API.

Errors: ``{"error": {"code": ..., "message": ..., "field": ...}}`` with the HTTP status
(400 invalid_parameter naming the field, 401 unauthorized, 404 not_found, 504 timeout).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)
