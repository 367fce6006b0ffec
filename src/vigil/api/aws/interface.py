"""Contract between the AWS front door (``dispatch.AwsDispatcher``) and the services.

A service is an ``AwsService`` subclass: a table of operations of one botocore model.

* ``model`` names the botocore model ("logs", "cloudwatch", "xray" …); the front door
  parses requests and serializes answers with it, for every wire protocol the model lists
  (awsJson 1.0/1.1, query/XML, rest-json), and answers errors in that protocol's shape.
* ``operations()`` returns the table ``{operation name: handler}``. Names must be
  operations of the model (checked at start-up). Several service objects may share one
  model — CloudWatch metrics, alarms, dashboards and anomaly detectors are each their own
  object — and the front door merges their tables; two objects registering the same
  operation is refused at start-up (``ValueError``). An operation in no table is answered
  with the protocol's "unknown operation" error.
* A handler ``(params, ctx) -> output`` gets the operation's input as boto3 would build it
  (nested dicts and lists; timestamps as timezone-aware ``datetime``; blobs as ``bytes``),
  already checked against the model (required members, types, ranges, enums), and returns
  the output as boto3 would return it (datetimes or epoch seconds for timestamps).
  Handlers run on the event loop: offload blocking work to threads.
* Errors: a handler raises ``AwsError`` with the service's own code for what the model
  cannot check. ``error_for(exc)`` maps the service's domain exceptions to ``AwsError``
  (anything it leaves unmapped is a 500 ``InternalFailure``, logged). ``validation_error``
  is the code for a failed model check (``InvalidParameterException`` for Logs,
  ``InvalidParameterValue`` for CloudWatch …; messages in AWS's wording, see
  ``validation``), ``constraint_error`` the code for a broken length, range, pattern or
  enum constraint where the service has another (CloudWatch: ``ValidationError``),
  ``missing_parameter_error`` the code for a missing required member where the service
  names it apart (CloudWatch: ``MissingParameter``). A write the pipeline refuses
  (``vigil.ingest.overload``) becomes ``refused(refusal)``: ``throttling_error`` or
  ``unavailable_error``.
* Optional class attributes (defaults here, never probed with ``getattr``):
  ``raw_operations`` are hot JSON-protocol operations whose input the service checks
  itself: they get the request's JSON object as sent (epoch numbers, no model
  validation), e.g. PutLogEvents with 10,000 events. ``body_operations`` get empty
  ``params`` and the (decompressed) body in ``ctx.body`` on the JSON protocols
  (``dispatch.json_object`` turns it into the object, with the protocol's error); on the
  other protocols they get the parsed parameters without the model check.
  ``request_limits`` maps operations to the most bytes their request body may have as
  sent (compressed bodies count compressed, as AWS counts them); larger requests get
  ``RequestEntityTooLarge`` (413) before any parsing or authentication.
  ``refused_operations`` are in the table only to refuse them clearly (they configure
  AWS-internal machinery, see ``internal``): no model check runs first, and the support
  matrix lists them apart.
* A handler whose answer, as AWS documents it, is a bare HTTP body rather than the
  protocol's envelope (GetMetricWidgetImage with ``OutputFormat=image/png``) returns
  ``{RAW_BODY: RawBody(bytes, media type)}``; the front door sends that body as it is.
* Every call is counted on ``/metrics`` as ``vigil_aws_requests_total{service, operation,
  outcome}`` (outcome: ``ok`` or the error code answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from vigil.ingest.overload import Refusal


class AwsError(Exception):
    """An error in AWS shape: ``code`` as the service names it, HTTP ``status``;
    ``details``: the error shape's other members (e.g. ``dashboardValidationMessages``),
    as boto3 reads them."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        sender_fault: bool = True,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class RequestContext:
    tenant: str
    request_id: str
    region: str = "us-east-1"
    account_id: str = "000000000000"
    access_key_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""  # the request body, for ``body_operations`` only

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


Handler = Callable[[dict[str, Any], RequestContext], Awaitable[dict[str, Any]]]

RAW_BODY = "vigil:raw-body"  # the output key of a ``RawBody`` answer


@dataclass(frozen=True, slots=True)
class RawBody:
    """An answer sent as this HTTP body and content type, outside the protocol's shape."""

    body: bytes
    media_type: str


class AwsService:
    """Base of every AWS service; see the module docstring."""

    model: ClassVar[str]
    validation_error: ClassVar[str]
    missing_parameter_error: ClassVar[str | None] = None
    # The code for a broken model constraint (length, range, pattern, enum) where it
    # differs from ``validation_error`` (CloudWatch: ValidationError).
    constraint_error: ClassVar[str | None] = None
    # (code, HTTP status) when the write queue is full; the code when the store failed.
    throttling_error: ClassVar[tuple[str, int]] = ("ThrottlingException", 400)
    unavailable_error: ClassVar[str] = "ServiceUnavailableException"
    raw_operations: ClassVar[frozenset[str]] = frozenset()
    body_operations: ClassVar[frozenset[str]] = frozenset()
    request_limits: ClassVar[Mapping[str, int]] = MappingProxyType({})
    refused_operations: ClassVar[frozenset[str]] = frozenset()

    def operations(self) -> Mapping[str, Handler]:
        """The operation table: operation name → handler."""
        raise NotImplementedError

    def error_for(self, exc: Exception) -> AwsError | None:
        """The service's error for one of its domain exceptions, or None (→ 500)."""
        return None

    def refused(self, refusal: Refusal) -> AwsError:
        """The service's answer to a write the pipeline refused (full queue, store down)."""
        if refusal.overloaded:
            code, status = self.throttling_error
            return AwsError(code, refusal.message, status)
        return AwsError(self.unavailable_error, refusal.message, 503, sender_fault=False)
