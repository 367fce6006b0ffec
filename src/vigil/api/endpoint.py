"""One wrapper for every JSON API handler: tenant, typed parameters, errors, timing.

A handler is ``async (request, tenant, params) -> Response`` and raises ``ParamError`` for
bad input; the wrapper answers every failure in the API's error shape (see
``api.responses``): 400 naming the field, 504 for a query over its time limit, 500 for a
store failure or a bug — in the same JSON shape, with the store's own text and the
traceback in vigil's log (under the request's id), never in the answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from prometheus_client import Histogram
from starlette.requests import Request
from starlette.responses import Response

from vigil.api.params import ParamError, Params
from vigil.api.responses import error
from vigil.auth import TenantError, tenant_of
from vigil.store.interface import QueryTimeout, QueryTooLarge, StoreError

log = logging.getLogger(__name__)

Handler = Callable[[Request, str, Params], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def json_endpoint(handler: Handler, timer: Histogram | None = None) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            return await handler(request, tenant_of(request.headers), Params(request.query_params))
        except ParamError as exc:
            return error(400, exc.code, exc.message, exc.field)
        except TenantError as exc:
            return error(400, "invalid_parameter", str(exc), "X-Vigil-Tenant")
        except QueryTimeout as exc:
            return error(504, "timeout", str(exc))
        except QueryTooLarge as exc:
            return error(400, "query_too_large", f"{exc}: narrow the time range or the query")
        except StoreError as exc:
            incident = uuid.uuid4().hex[:12]
            log.warning("store error %s on %s: %s", incident, request.url.path, exc)
            return error(500, "store_error", f"the store could not answer (incident {incident})")
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s on %s", incident, request.url.path)
            return error(500, "internal_error", f"internal error (incident {incident})")
        finally:
            if timer is not None:
                timer.observe(time.perf_counter() - started)

    return endpoint
