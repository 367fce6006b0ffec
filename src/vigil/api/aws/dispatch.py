"""One HTTP entry for every AWS API: finds service, protocol and operation, checks the
signature, parses, validates, calls the service and answers in the protocol's own shape.

Services: every ``AwsService`` object is one operation table of one botocore model; the
tables of a model are merged at start-up (a duplicate or an operation the model lacks
refuses to start), see ``interface``. Each call is counted on ``/metrics``.

Routing: ``POST /`` with ``X-Amz-Target: Prefix.Operation`` → the JSON service with that
target prefix; ``POST /`` (or ``GET /?Action=…``) with a form → the query service whose API
``Version`` matches (else the one named by the signature's credential scope); any other
path → the rest-json service whose operation has that ``requestUri``;
``POST /service/<targetPrefix>/operation/<Operation>`` → the Smithy RPC v2 CBOR service
with that target prefix (``cbor``). A request for a
service, protocol or path vigil does not serve is refused in the client's own protocol
(``errors``).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from botocore.model import OperationModel, ServiceModel
from prometheus_client import Counter
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, request_response
from starlette.types import Receive, Scope, Send

from vigil.api.aws import cbor, errors, eventstream, protocols, validation
from vigil.api.aws.interface import (
    RAW_BODY,
    AwsError,
    AwsService,
    Handler,
    RawBody,
    RequestContext,
)
from vigil.api.aws.sigv4 import SignatureError, SigV4Verifier, parse_credential, scope_service
from vigil.auth import Authenticator, AuthError, TenantError, tenant_of
from vigil.telemetry import SelfMetrics

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024

# (JSON-protocol code, query-protocol code, HTTP status) per signature failure.
_AUTH_ERRORS = {
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
    "unknown_key": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
    "mismatch": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "expired": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "malformed": ("IncompleteSignatureException", "IncompleteSignature", 403),
}


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str
    handler: Handler
    owner: AwsService  # the service object that registered it: its codes and options


@dataclass(frozen=True, slots=True)
class _Api:
    """One botocore model and the merged operation tables of its service objects."""

    name: str
    model: ServiceModel
    operations: Mapping[str, _Operation]


@dataclass(frozen=True, slots=True)
class _Bound:
    api: _Api
    protocol: str  # "json", "query", "rest-json" or errors.CBOR


class _Failure(Exception):
    def __init__(self, error: AwsError) -> None:
        self.error = error


class _Unsupported(Exception):
    """No service of vigil's serves the request (its error code depends on the protocol)."""

    def __init__(self, service: str) -> None:
        self.service = service


def merge(services: list[AwsService], only: frozenset[str] | None = None) -> list[_Api]:
    """The services' operation tables merged per botocore model; a duplicate operation or
    one the model does not have is refused (at start-up)."""
    tables: dict[str, dict[str, _Operation]] = {}
    for service in services:
        model = protocols.load_model(service.model)
        table = tables.setdefault(service.model, {})
        handlers = service.operations()
        for name, handler in handlers.items():
            if name not in model.operation_names:
                raise ValueError(
                    f"{type(service).__name__} registers {name}, which botocore's"
                    f" {service.model!r} model does not have"
                )
            if name in table:
                raise ValueError(
                    f"{service.model} operation {name} is registered twice: by"
                    f" {type(table[name].owner).__name__} and {type(service).__name__}"
                )
            if only is None or name in only:
                table[name] = _Operation(name, handler, service)
        options = (
            service.raw_operations
            | service.body_operations
            | service.refused_operations
            | set(service.request_limits)
        )
        if not options <= set(handlers):
            raise ValueError(
                f"{type(service).__name__} sets options for operations it does not serve:"
                f" {sorted(options - set(handlers))}"
            )
    return [_Api(name, protocols.load_model(name), table) for name, table in tables.items()]


class AwsDispatcher:
    def __init__(
        self,
        services: list[AwsService],
        auth: Authenticator,
        aws_secrets: Mapping[str, str],
        clock: Callable[[], float] = time.time,
        metrics: SelfMetrics | None = None,
        only: frozenset[str] | None = None,
    ) -> None:
        """``only``: serve just these operations (the X-Ray daemon's sampling calls)."""
        self._auth = auth
        self._verifier = SigV4Verifier(aws_secrets, clock)
        self._requests = (metrics or SelfMetrics()).aws_requests
        self._counters: dict[tuple[str, str, str], Counter] = {}
        self._by_target: dict[str, _Api] = {}
        self._by_version: dict[str, _Api] = {}
        self._by_signing_name: dict[str, _Api] = {}
        self._by_rpcv2_service: dict[str, _Api] = {}
        self._rest: list[tuple[re.Pattern[str], str, str, _Api]] = []
        self._rest_paths: set[str] = set()
        self._apis = merge(services, only)
        for api in self._apis:
            model = api.model
            protocols_ = model.metadata.get("protocols", [model.protocol])
            if model.metadata.get("targetPrefix"):
                self._by_target[model.metadata["targetPrefix"]] = api
            if "query" in protocols_:
                self._by_version[model.api_version] = api
            if errors.CBOR in protocols_ and model.metadata.get("targetPrefix"):
                self._by_rpcv2_service[model.metadata["targetPrefix"]] = api
            self._by_signing_name[model.signing_name] = api
            if "rest-json" in protocols_:
                for name in model.operation_names:
                    http = model.operation_model(name).http
                    path = http["requestUri"].split("?", 1)[0]
                    self._rest.append((_uri_pattern(path), http["method"], name, api))
                    self._rest_paths.add(re.sub(r"\{([^}+]+)\+\}", r"{\1:path}", path))

    def served(self) -> dict[str, list[str]]:
        """Botocore model name → the operations served, sorted (e.g. for a support
        matrix generated from the operation tables)."""
        return {api.name: sorted(api.operations) for api in self._apis}

    # --- routing -------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """``/``, the rest-json paths, and last, for AWS-shaped requests (signed, with a
        target or a Smithy protocol) on any other path, the "not supported" answer."""
        routes: list[BaseRoute] = [Route("/", self.root, methods=["GET", "POST"])]
        if self._by_rpcv2_service:
            routes.append(Route(_RPCV2_PATH, self.rpcv2, methods=["POST"]))
        routes += [
            Route(path, self.rest, methods=["GET", "POST", "PUT", "DELETE"])
            for path in sorted(self._rest_paths)
        ]
        routes.append(_AwsShaped(self.elsewhere))
        return routes

    def is_aws(self, scope: Scope) -> bool:
        """Requests the dispatcher authenticates itself (exempt from the Bearer check)."""
        path = scope["path"]
        if path == "/":
            return True
        if path.startswith("/service/") and self._by_rpcv2_service:
            match = _RPCV2_PATTERN.fullmatch(path)
            return match is not None and match["service"] in self._by_rpcv2_service
        return any(p.match(path) for p, *_ in self._rest)

    async def root(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target")
        try:
            if target:
                prefix, _, operation = target.rpartition(".")
                api = self._by_target.get(prefix)
                if api is None:
                    raise _Unsupported(f"with target {prefix!r}")
                return await self._run(request, _Bound(api, "json"), operation, request_id)
            form = await self._form(request)
            action, version = _first(form, "Action"), _first(form, "Version")
            # The signature's scope is read only when needed: it costs microseconds.
            api = self._by_version.get(version or "") or self._by_signing_name.get(
                scope_service(request.headers) or ""
            )
            if api is None:
                if version:
                    raise _Unsupported(f"of API version {version!r}")
                raise _Failure(
                    AwsError(
                        "MissingParameter", "the request needs a Version parameter (or a signature)"
                    )
                )
            if not action:
                raise _Failure(AwsError("MissingAction", "the request needs an Action parameter"))
            return await self._run(request, _Bound(api, "query"), action, request_id, form=form)
        except (_Failure, _Unsupported) as failure:
            scope = scope_service(request.headers)
            protocol = errors.client_protocol(request.headers, request.url.query, scope)
            if scope and scope not in self._by_signing_name:
                # Signed for a service vigil does not serve: say that, whatever else failed.
                error = self._unsupported(protocol, scope)
            elif isinstance(failure, _Unsupported):
                error = self._unsupported(protocol, failure.service)
            else:
                error = failure.error
            self._count(None, None, error.code)
            return errors.error_response(protocol, error, request_id)

    async def rest(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        for pattern, method, operation, api in self._rest:
            match = pattern.fullmatch(request.url.path)
            if match and method == request.method:
                bound = _Bound(api, "rest-json")
                return await self._run(request, bound, operation, request_id, uri=match.groupdict())
        error = AwsError("UnknownOperationException", "unknown operation", 404)
        self._count(None, None, error.code)
        return errors.error_response("rest-json", error, request_id)

    async def rpcv2(self, request: Request) -> Response:
        """Smithy RPC v2 CBOR: ``POST /service/<targetPrefix>/operation/<Operation>``."""
        request_id = str(uuid.uuid4())
        api = self._by_rpcv2_service.get(request.path_params["service"])
        if api is None:
            return await self.elsewhere(request)
        bound = _Bound(api, errors.CBOR)
        return await self._run(request, bound, request.path_params["operation"], request_id)

    async def elsewhere(self, request: Request) -> Response:
        """An AWS request on a path none of vigil's services has."""
        request_id = str(uuid.uuid4())
        scope = scope_service(request.headers)
        protocol = errors.client_protocol(request.headers, request.url.query, scope)
        api = self._by_signing_name.get(scope or "")
        if protocol == errors.CBOR and (api is None or api not in self._by_rpcv2_service.values()):
            served = f"vigil serves {api.name} over {_wire_names(api)}" if api else None
            error = AwsError(
                errors.unknown_operation_code(protocol),
                "the smithy-rpc-v2-cbor protocol is not supported by vigil"
                + (f": {served}" if served else ""),
            )
        elif api is None:
            error = self._unsupported(protocol, scope or f"at {request.url.path}")
        else:
            error = AwsError(
                errors.unknown_operation_code(protocol),
                f"{api.name} has no operation at {request.method} {request.url.path}",
                404,
            )
        self._count(None, None, error.code)
        return errors.error_response(protocol, error, request_id)

    def _unsupported(self, protocol: str, service: str) -> AwsError:
        served = ", ".join(sorted({api.name for api in self._by_signing_name.values()}))
        return AwsError(
            errors.unknown_operation_code(protocol),
            f"service {service} is not supported by vigil (it serves {served})",
        )

    def _count(self, api: _Api | None, operation: _Operation | None, outcome: str) -> None:
        # Unknown services and operations share one label value: clients cannot grow the
        # label set. The children are kept: ``labels()`` costs more than the increment.
        key = (api.name if api else "unknown", operation.name if operation else "unknown", outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._requests.labels(*key)
        counter.inc()

    # --- one call --------------------------------------------------------------------

    async def _run(
        self,
        request: Request,
        bound: _Bound,
        name: str,
        request_id: str,
        form: list[tuple[str, str]] | None = None,
        uri: dict[str, str] | None = None,
    ) -> Response:
        api = bound.api
        operation = api.operations.get(name)
        try:
            body = await _body(request) if form is None else b""
            if operation is not None:
                _check_size(request, operation)
            key_id = await self._authenticate(request, bound, body, form)
            if operation is None:
                code = errors.unknown_operation_code(bound.protocol)
                raise AwsError(code, f"operation {name} is not supported by vigil's {api.name} API")
            output = await self._call(
                request, bound, operation, request_id, body, form, uri, key_id
            )
        except AwsError as error:
            self._count(api, operation, error.code)
            return self._error(bound, error, request_id)
        except Exception:
            log.exception("AWS %s.%s failed", api.name, name)
            failure = AwsError("InternalFailure", "internal error", 500, sender_fault=False)
            self._count(api, operation, failure.code)
            return self._error(bound, failure, request_id)
        self._count(api, operation, "ok")
        raw = output.get(RAW_BODY) if isinstance(output, dict) else None
        if isinstance(raw, RawBody):  # e.g. GetMetricWidgetImage's image/png
            return Response(
                raw.body, 200, media_type=raw.media_type, headers={"x-amzn-RequestId": request_id}
            )
        op_model = api.model.operation_model(name)
        if op_model.has_event_stream_output:  # StartLiveTail …: events as they come
            return eventstream.answer(op_model, output, request_id)
        return _answer(bound, op_model, output, request_id)

    async def _call(
        self,
        request: Request,
        bound: _Bound,
        operation: _Operation,
        request_id: str,
        body: bytes,
        form: list[tuple[str, str]] | None,
        uri: dict[str, str] | None,
        key_id: str | None,
    ) -> dict[str, Any]:
        """Parse, validate and run one known operation; every failure as an ``AwsError``."""
        owner, name = operation.owner, operation.name
        op_model = bound.api.model.operation_model(name)
        raw_body = b""
        if bound.protocol == "json" and name in owner.body_operations:
            # The service decodes the body itself (even the JSON parse costs more than
            # its native decoder).
            params, raw_body = {}, body
        elif bound.protocol == "json" and name in owner.raw_operations:
            # The service checks this (hot) operation's input itself, faster than the
            # generic conversion and validation could.
            params = json_object(body)
        else:
            params = _parse(bound.protocol, op_model, body, form, uri, request)
            # A body operation's service checks its input itself, on every protocol.
            if name not in owner.body_operations and name not in owner.refused_operations:
                problem = validation.check(params, op_model.input_shape)
                if problem:
                    raise _validation_error(owner, problem)
        ctx = RequestContext(
            tenant=_tenant(request),
            request_id=request_id,
            region=_region(request),
            access_key_id=key_id,
            headers=request.headers,
            body=raw_body,
        )
        try:
            return await operation.handler(params, ctx)
        except AwsError:
            raise
        except Exception as exc:
            mapped = owner.error_for(exc)
            if mapped is None:
                raise
            raise mapped from None

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        if request.method == "GET":
            return parse_qsl(request.url.query, keep_blank_values=True)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != errors.FORM:
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
        return errors.error_response(bound.protocol, error, request_id, bound.api.model)


def _validation_error(service: AwsService, problem: validation.Problem) -> AwsError:
    """The service's error for a failed model check: a value of the wrong type gets
    ``validation_error``; a broken constraint ``constraint_error`` (CloudWatch answers
    ``ValidationError`` there, as its SDK tests expect); a missing member, where the
    service names that apart (CloudWatch's ``MissingParameter``), its own code and
    wording ("The parameter Namespace is required.")."""
    if problem.kind == "missing" and service.missing_parameter_error:
        return AwsError(
            service.missing_parameter_error, f"The parameter {problem.missing[0]} is required."
        )
    if problem.kind == "type":
        return AwsError(service.validation_error, problem.message)
    return AwsError(service.constraint_error or service.validation_error, problem.message)


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
    if protocol == errors.CBOR:
        params_: dict[str, Any] = cbor.from_cbor(cbor.decode(body), shape)
        return params_
    data = json_object(body)
    problem = protocols.json_depth_problem(data)
    if problem:
        raise AwsError("SerializationException", problem)
    params: dict[str, Any] = protocols.from_json(data, shape)
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
    bound: _Bound, op_model: OperationModel, output: dict[str, Any], request_id: str
) -> Response:
    if bound.protocol == "query":
        return Response(
            protocols.query_response(op_model, output, request_id),
            200,
            media_type="text/xml",
            headers={"x-amzn-RequestId": request_id},
        )
    if bound.protocol == errors.CBOR:
        return Response(
            cbor.encode(cbor.to_cbor(output or {}, op_model.output_shape) or {}),
            200,
            media_type=cbor.MEDIA_TYPE,
            headers={"x-amzn-RequestId": request_id, "smithy-protocol": cbor.HEADER},
        )
    body = orjson.dumps(protocols.to_json(output or {}, op_model.output_shape) or {})
    if bound.protocol == "rest-json":
        return Response(
            body, 200, media_type="application/json", headers={"x-amzn-RequestId": request_id}
        )
    version = bound.api.model.metadata.get("jsonVersion", "1.1")
    return Response(
        body,
        200,
        media_type=f"application/x-amz-json-{version}",
        headers={"x-amzn-RequestId": request_id},
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


def _check_size(request: Request, operation: _Operation) -> None:
    """Enforce the operation's own request size limit on the body as sent (compressed)."""
    limit = operation.owner.request_limits.get(operation.name)
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


_RPCV2_PATH = "/service/{service}/operation/{operation}"
_RPCV2_PATTERN = re.compile(r"/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)")


def _wire_names(api: _Api) -> str:
    listed = api.model.metadata.get("protocols") or [api.model.protocol]
    return " and ".join(listed)


class _AwsShaped(BaseRoute):
    """Matches any path, but only requests an AWS SDK sent (SigV4-signed, or carrying an
    ``X-Amz-Target`` or ``smithy-protocol`` header): others keep the app's own 404/405."""

    _MARKS = (b"x-amz-target", b"smithy-protocol")

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self._app = request_response(endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name in self._MARKS or (
                    name == b"authorization" and value.startswith(b"AWS4-HMAC-SHA256")
                ):
                    return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
