"""One HTTP entry for every AWS API: finds service, protocol and operation, checks the
signature, parses, validates, calls the service and answers in the protocol's own shape.

Routing: ``POST /`` with ``X-Amz-Target: Prefix.Operation`` → the JSON service with that
target prefix; ``POST /`` (or ``GET /?Action=…``) with a form → the query service whose API
``Version`` matches (else the one named by the signature's credential scope); any other
path → the rest-json service whose operation has that ``requestUri``.

Authentication: with no API key configured, every request is let in (signed or not).
With one, a request needs a valid SigV4 signature by a configured AWS access key, or
``Authorization: Bearer <api key>``.
"""

from __future__ import annotations

import gzip
import logging
import re
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from botocore.model import OperationModel, ServiceModel, Shape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from vigil.api.auth import Authenticator, AuthError, TenantError, tenant_of
from vigil.api.aws import protocols
from vigil.api.aws.combine import combine
from vigil.api.aws.interface import AwsError, AwsService, RequestContext
from vigil.api.aws.sigv4 import SignatureError, SigV4Verifier, parse_credential, scope_service

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
FORM = "application/x-www-form-urlencoded"

# (JSON-protocol code, query-protocol code, HTTP status) per signature failure.
_AUTH_ERRORS = {
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
    "unknown_key": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
    "mismatch": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "expired": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "malformed": ("IncompleteSignatureException", "IncompleteSignature", 403),
}


@dataclass(frozen=True, slots=True)
class _Bound:
    service: AwsService
    model: ServiceModel
    protocol: str  # "json", "query" or "rest-json"


class _Failure(Exception):
    def __init__(self, error: AwsError) -> None:
        self.error = error


class AwsDispatcher:
    def __init__(
        self,
        services: list[AwsService],
        auth: Authenticator,
        aws_secrets: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth = auth
        self._verifier = SigV4Verifier(aws_secrets, clock)
        self._by_target: dict[str, AwsService] = {}
        self._by_version: dict[str, AwsService] = {}
        self._by_signing_name: dict[str, AwsService] = {}
        self._rest: list[tuple[re.Pattern[str], str, str, AwsService]] = []
        self._rest_paths: set[str] = set()
        for service in combine(services):
            model = protocols.load_model(service.model)
            protocols_ = model.metadata.get("protocols", [model.protocol])
            if model.metadata.get("targetPrefix"):
                self._by_target[model.metadata["targetPrefix"]] = service
            if "query" in protocols_:
                self._by_version[model.api_version] = service
            self._by_signing_name[model.signing_name] = service
            if "rest-json" in protocols_:
                for name in model.operation_names:
                    http = model.operation_model(name).http
                    path = http["requestUri"].split("?", 1)[0]
                    self._rest.append((_uri_pattern(path), http["method"], name, service))
                    self._rest_paths.add(re.sub(r"\{([^}+]+)\+\}", r"{\1:path}", path))

    # --- routing -------------------------------------------------------------------

    def routes(self) -> list[Route]:
        routes = [Route("/", self.root, methods=["GET", "POST"])]
        routes += [
            Route(path, self.rest, methods=["GET", "POST", "PUT", "DELETE"])
            for path in sorted(self._rest_paths)
        ]
        return routes

    def is_aws(self, scope: Scope) -> bool:
        """Requests the dispatcher authenticates itself (exempt from the Bearer check)."""
        path = scope["path"]
        if path == "/":
            return True
        return any(p.match(path) for p, *_ in self._rest)

    async def root(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target")
        try:
            if target:
                prefix, _, operation = target.rpartition(".")
                service = self._by_target.get(prefix)
                if service is None:
                    raise _Failure(
                        AwsError("UnknownOperationException", f"unknown target {target}")
                    )
                bound = _Bound(service, protocols.load_model(service.model), "json")
                return await self._run(request, bound, operation, request_id)
            form = await self._form(request)
            action = _first(form, "Action")
            service = self._by_version.get(
                _first(form, "Version") or ""
            ) or self._by_signing_name.get(scope_service(request.headers) or "")
            if service is None or not action:
                what = "Action" if not action else "Version"
                raise _Failure(
                    AwsError(
                        "MissingAction" if not action else "InvalidParameterValue",
                        f"missing or unknown {what} parameter",
                    )
                )
            bound = _Bound(service, protocols.load_model(service.model), "query")
            return await self._run(request, bound, action, request_id, form=form)
        except _Failure as failure:
            return _json_error(failure.error, request_id, None)

    async def rest(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        for pattern, method, operation, service in self._rest:
            match = pattern.fullmatch(request.url.path)
            if match and method == request.method:
                bound = _Bound(service, protocols.load_model(service.model), "rest-json")
                return await self._run(request, bound, operation, request_id, uri=match.groupdict())
        return _rest_error(
            AwsError("UnknownOperationException", "unknown operation", 404), request_id
        )

    # --- one call --------------------------------------------------------------------

    async def _run(
        self,
        request: Request,
        bound: _Bound,
        operation: str,
        request_id: str,
        form: list[tuple[str, str]] | None = None,
        uri: dict[str, str] | None = None,
    ) -> Response:
        op_model: OperationModel | None = None
        try:
            body = await _body(request) if form is None else b""
            _check_size(request, bound.service, operation)
            key_id = await self._authenticate(request, bound, body, form)
            if (
                operation not in bound.service.operations
                or operation not in bound.model.operation_names
            ):
                code = "InvalidAction" if bound.protocol == "query" else "UnknownOperationException"
                raise AwsError(
                    code,
                    f"operation {operation} is not supported by vigil's {bound.service.model} API",
                )
            op_model = bound.model.operation_model(operation)
            raw_body = b""
            if bound.protocol == "json" and operation in getattr(
                bound.service, "body_operations", ()
            ):
                # The service decodes the body itself (even the JSON parse costs more than
                # its native decoder).
                params, raw_body = {}, body
            elif bound.protocol == "json" and operation in getattr(
                bound.service, "raw_operations", ()
            ):
                # The service checks this (hot) operation's input itself, faster than the
                # generic conversion and validation could.
                params = json_object(body)
            else:
                params = _parse(bound.protocol, op_model, body, form, uri, request)
                # A body operation's service checks its input itself, on every protocol.
                problem = (
                    None
                    if operation in getattr(bound.service, "body_operations", ())
                    else protocols.validate(params, op_model.input_shape)
                )
                if problem:
                    raise AwsError(_validation_code(bound.service, problem), problem)
            ctx = RequestContext(
                tenant=_tenant(request),
                request_id=request_id,
                region=_region(request),
                access_key_id=key_id,
                headers=request.headers,
                body=raw_body,
            )
            output = await bound.service.call(operation, params, ctx)
        except AwsError as error:
            return self._error(bound, error, request_id)
        except Exception:
            log.exception("AWS %s.%s failed", bound.service.model, operation)
            return self._error(
                bound,
                AwsError("InternalFailure", "internal error", 500, sender_fault=False),
                request_id,
            )
        return _answer(bound, op_model, output, request_id)

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        if request.method == "GET":
            return parse_qsl(request.url.query, keep_blank_values=True)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != FORM:
            raise _Failure(
                AwsError(
                    "UnknownOperationException",
                    "expected an X-Amz-Target header or a form-encoded Action",
                )
            )
        try:
            body = await _body(request)
        except AwsError as error:
            raise _Failure(error) from None
        try:
            return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise _Failure(AwsError("MalformedQueryString", "the form body is not UTF-8")) from None

    async def _authenticate(
        self, request: Request, bound: _Bound, body: bytes, form: list[tuple[str, str]] | None
    ) -> str | None:
        header = request.headers.get("authorization", "")
        if not self._auth.enabled:
            return _unverified_key(header)
        if header.lower().startswith("bearer "):
            try:
                self._auth.check_bearer(header)
            except AuthError as exc:
                raise _auth_error(bound, "unknown_key", str(exc)) from None
            return None
        raw = getattr(request.state, "aws_raw", body)
        try:
            return self._verifier.verify(
                request.method,
                request.scope.get("raw_path", b"/").decode("latin-1"),
                request.url.query,
                request.headers,
                raw,
            )
        except SignatureError as exc:
            raise _auth_error(bound, exc.kind, str(exc)) from None

    def _error(self, bound: _Bound, error: AwsError, request_id: str) -> Response:
        if bound.protocol == "query":
            body = protocols.query_error(
                error.code,
                error.message,
                error.sender_fault,
                request_id,
                bound.model.metadata.get("xmlNamespace"),
                error.details,
                _error_shape(bound.model, error.code) if error.details else None,
            )
            return Response(
                body, error.status, media_type="text/xml", headers={"x-amzn-RequestId": request_id}
            )
        if bound.protocol == "rest-json":
            return _rest_error(error, request_id)
        return _json_error(error, request_id, bound.model)


def _validation_code(service: AwsService, problem: str) -> str:
    """The service's code for a failed model check; services that name missing parameters
    apart (CloudWatch: MissingParameter) set ``missing_parameter_error``."""
    missing: str | None = getattr(service, "missing_parameter_error", None)
    if missing and problem.startswith("Missing required parameter"):
        return missing
    return service.validation_error


def _parse(
    protocol: str,
    op_model: OperationModel,
    body: bytes,
    form: list[tuple[str, str]] | None,
    uri: dict[str, str] | None,
    request: Request,
) -> dict[str, Any]:
    shape = op_model.input_shape
    if protocol == "query":
        return protocols.from_query(form or [], shape)
    if shape is None:
        return {}
    params: dict[str, Any] = protocols.from_json(json_object(body), shape)
    if protocol == "rest-json":
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri" and uri and wire in uri:
                params[name] = uri[wire]
            elif location == "querystring" and wire in request.query_params:
                params[name] = protocols.scalar(request.query_params[wire], member)
            elif location == "header" and wire.lower() in request.headers:
                params[name] = request.headers[wire.lower()]
    return params


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON protocol body as its object, or SerializationException (services use it too)."""
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise AwsError(
            "SerializationException", f"the request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise AwsError("SerializationException", "the request body must be a JSON object")
    return data


def _answer(
    bound: _Bound, op_model: OperationModel | None, output: dict[str, Any], request_id: str
) -> Response:
    assert op_model is not None
    if bound.protocol == "query":
        return Response(
            protocols.query_response(op_model, output, request_id),
            200,
            media_type="text/xml",
            headers={"x-amzn-RequestId": request_id},
        )
    body = orjson.dumps(protocols.to_json(output or {}, op_model.output_shape) or {})
    if bound.protocol == "rest-json":
        return Response(
            body, 200, media_type="application/json", headers={"x-amzn-RequestId": request_id}
        )
    version = bound.model.metadata.get("jsonVersion", "1.1")
    return Response(
        body,
        200,
        media_type=f"application/x-amz-json-{version}",
        headers={"x-amzn-RequestId": request_id},
    )


def _error_shape(model: ServiceModel, code: str) -> Shape | None:
    for shape in model.error_shapes:
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


def _json_error(error: AwsError, request_id: str, model: ServiceModel | None) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if model is not None and "awsQueryCompatible" in model.metadata:
        headers["x-amzn-query-error"] = (
            f"{error.code};{'Sender' if error.sender_fault else 'Receiver'}"
        )
    version = model.metadata.get("jsonVersion", "1.1") if model is not None else "1.1"
    body = {"__type": _error_shape_name(model, error.code), "message": error.message}
    body.update(error.details)
    return Response(
        orjson.dumps(body),
        error.status,
        media_type=f"application/x-amz-json-{version}",
        headers=headers,
    )


def _rest_error(error: AwsError, request_id: str) -> Response:
    return Response(
        orjson.dumps({"__type": error.code, "message": error.message}),
        error.status,
        media_type="application/json",
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )


def _auth_error(bound: _Bound, kind: str, message: str) -> AwsError:
    json_code, query_code, status = _AUTH_ERRORS[kind]
    return AwsError(query_code if bound.protocol == "query" else json_code, message, status)


def _unverified_key(header: str) -> str | None:
    try:
        return parse_credential(header)[0].access_key_id
    except SignatureError:
        return None


def _tenant(request: Request) -> str:
    try:
        return tenant_of(request.headers)
    except TenantError as exc:
        raise AwsError("InvalidParameterValue", str(exc)) from None


def _region(request: Request) -> str:
    try:
        return parse_credential(request.headers.get("authorization", ""))[0].region
    except SignatureError:
        return "us-east-1"


def _check_size(request: Request, service: AwsService, operation: str) -> None:
    """Enforce the operation's own request size limit on the body as sent (compressed)."""
    limit = getattr(service, "request_limits", {}).get(operation)
    if limit is None:
        return
    sent = len(getattr(request.state, "aws_raw", b""))
    if sent > limit:
        raise AwsError("RequestEntityTooLarge", f"Request size {sent} exceeded {limit} bytes", 413)


async def _body(request: Request) -> bytes:
    """The decoded body; the bytes as sent stay in ``request.state.aws_raw`` for SigV4."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise AwsError("RequestEntityTooLarge", f"request body over {MAX_BODY} bytes", 413)
        chunks.append(chunk)
    body = request.state.aws_raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        try:
            inflater = zlib.decompressobj(31)
            body = inflater.decompress(body, MAX_BODY + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise AwsError("InvalidParameterValue", f"invalid gzip body: {exc}") from None
        if len(body) > MAX_BODY:
            raise AwsError("RequestEntityTooLarge", f"decompressed body over {MAX_BODY} bytes", 413)
    return body


def _first(form: list[tuple[str, str]], key: str) -> str | None:
    for k, v in form:
        if k == key:
            return v
    return None


def _uri_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\{([^}+]+)\+\}", r"(?P<\1>.+)", path)
    regex = re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(regex)
