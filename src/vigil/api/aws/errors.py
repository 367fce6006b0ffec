"""AWS errors in each wire protocol's own shape, and which protocol a client speaks.

Shapes (what botocore's parsers read):
* ``json`` (awsJson 1.0/1.1): ``{"__type", "message"}``, ``application/x-amz-json-1.x``;
  services with ``awsQueryCompatible`` also get the query code in ``x-amzn-query-error``.
* ``rest-json``: the same body, ``application/json``, and ``x-amzn-ErrorType``.
* ``query`` (and ``rest-xml``, whose parser reads the same document):
  ``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``.
* ``smithy-rpc-v2-cbor``: a CBOR map ``{"__type", "message"}`` with ``smithy-protocol``.

An error's ``details`` (its error shape's other members, e.g. PutDashboard's
``dashboardValidationMessages``) go beside ``message`` in JSON, and into ``<Error>`` as
the model's error shape serializes them in XML.

``client_protocol`` is used for requests no vigil service serves (another AWS service, a
protocol vigil does not speak): the client still gets an error it can parse, rather than
botocore's "invalid XML received … Further retries may succeed".
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import cbor2
import orjson
from botocore.model import ServiceModel, Shape
from starlette.responses import Response

from vigil.api.aws import protocols
from vigil.api.aws.interface import AwsError

FORM = "application/x-www-form-urlencoded"
CBOR = "smithy-rpc-v2-cbor"
# botocore's model protocol names → the shapes above.
_MODEL_PROTOCOLS = {
    "json": "json",
    "rest-json": "rest-json",
    "rest-xml": "rest-xml",
    "query": "query",
    "ec2": "query",
    CBOR: CBOR,
}
# The order botocore prefers when a model lists several (botocore.utils).
_PREFERENCE = ("json", "rest-json", "rest-xml", CBOR, "query", "ec2")


def unknown_operation_code(protocol: str) -> str:
    return "InvalidAction" if protocol in ("query", "rest-xml") else "UnknownOperationException"


def error_response(
    protocol: str, error: AwsError, request_id: str, model: ServiceModel | None = None
) -> Response:
    """``error`` in ``protocol``'s shape (``model``: the service's, when it is known)."""
    if protocol in ("query", "rest-xml"):
        namespace = model.metadata.get("xmlNamespace") if model is not None else None
        shape = _error_shape(model, error.code) if error.details else None
        body = protocols.query_error(
            error.code,
            error.message,
            error.sender_fault,
            request_id,
            namespace,
            error.details,
            shape,
        )
        return Response(
            body, error.status, media_type="text/xml", headers={"x-amzn-RequestId": request_id}
        )
    if protocol == "rest-json":
        return Response(
            orjson.dumps({"__type": error.code, "message": error.message}),
            error.status,
            media_type="application/json",
            headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
        )
    return _json_error(error, request_id, model, cbor=protocol == CBOR)


def _json_error(
    error: AwsError, request_id: str, model: ServiceModel | None, cbor: bool = False
) -> Response:
    """The awsJson error, or (``cbor``) the same map in CBOR: both protocols name the
    error shape in ``__type`` and, for query-compatible services, the query code in
    ``x-amzn-query-error`` (botocore reads it for both)."""
    headers = {"x-amzn-RequestId": request_id}
    if model is not None and "awsQueryCompatible" in model.metadata:
        headers["x-amzn-query-error"] = (
            f"{error.code};{'Sender' if error.sender_fault else 'Receiver'}"
        )
    body = {"__type": _error_shape_name(model, error.code), "message": error.message}
    body.update(error.details)
    if cbor:
        headers["smithy-protocol"] = "rpc-v2-cbor"
        return Response(
            bytes(cbor2.dumps(body)), error.status, media_type="application/cbor", headers=headers
        )
    version = model.metadata.get("jsonVersion", "1.1") if model is not None else "1.1"
    return Response(
        orjson.dumps(body),
        error.status,
        media_type=f"application/x-amz-json-{version}",
        headers=headers,
    )


def _error_shape(model: ServiceModel | None, code: str) -> Shape | None:
    for shape in model.error_shapes if model is not None else ():
        if shape.metadata.get("error", {}).get("code") == code:
            return shape
    return None


def _error_shape_name(model: ServiceModel | None, code: str) -> str:
    if model is None:
        return code
    for shape in model.error_shapes:
        if shape.metadata.get("error", {}).get("code") == code:
            return str(shape.name)
    return code


def client_protocol(headers: Mapping[str, str], query: str, scope: str | None) -> str:
    """The protocol a request's client speaks: from its headers and content type, else
    from botocore's model of the service its signature names, else query."""
    if headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor":
        return CBOR
    if headers.get("x-amz-target"):
        return "json"
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("application/x-amz-json"):
        return "json"
    if ctype == FORM or "Action=" in query:
        return "query"
    return (model_protocol(scope) if scope else None) or "query"


@cache
def _available() -> frozenset[str]:
    return frozenset(protocols.loader().list_available_services("service-2"))


@cache
def model_protocol(name: str) -> str | None:
    """The protocol botocore's client for service ``name`` speaks (None: no such model)."""
    if name not in _available():
        return None
    metadata = protocols.load_model(name).metadata
    listed = metadata.get("protocols") or [metadata.get("protocol")]
    for protocol in _PREFERENCE:
        if protocol in listed:
            return _MODEL_PROTOCOLS[protocol]
    return None
