"""Contract between the AWS dispatcher and the service implementations.

A service (CloudWatch Logs, CloudWatch, X-Ray, SNS …) implements ``AwsService``:

* ``model`` is the botocore model name ("logs", "cloudwatch", "xray", "sns"); the
  dispatcher parses requests and serializes answers with it, for every wire protocol the
  model lists.
* ``call(operation, params, ctx)`` gets the operation's input as boto3 would build it
  (nested dicts and lists; timestamps as timezone-aware ``datetime``; blobs as ``bytes``),
  already checked against the model (required members, types, ranges, enums), and returns
  the output as boto3 would return it (datetimes or epoch seconds for timestamps).
* It raises ``AwsError`` with the service's own error code for everything the model
  cannot check; ``validation_error`` names the code the service uses for malformed input
  (``InvalidParameterException`` for Logs, ``InvalidParameterValue`` for CloudWatch …);
  a service may also set ``missing_parameter_error`` for missing required members
  (CloudWatch: ``MissingParameter``).
* Operations not in ``operations`` are answered with the protocol's "unknown operation"
  error. Calls run on the event loop: offload blocking work to threads.
* Optionally, ``raw_operations`` names hot JSON-protocol operations whose input the
  service converts and checks itself: they get the request's JSON object as sent (epoch
  numbers, no model validation), e.g. PutLogEvents with 10,000 events, or CloudWatch
  PutMetricData (botocore's validator would cost more than the decoding).
* Optionally, ``body_operations`` names JSON-protocol operations whose handler parses
  the body itself: they get empty ``params`` and the (decompressed) body in ``ctx.body``
  (``dispatch.json_object`` turns it into the object, with the protocol's error). On the
  other protocols they get the parsed parameters without the model check: the service
  checks them itself (botocore's validator costs more than decoding a 1,000-datum form).
* Optionally, ``request_limits`` maps operations to the most bytes their request body may
  have as sent (compressed bodies count compressed, as AWS counts them); larger requests
  get ``RequestEntityTooLarge`` (413) before any parsing or authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


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


class AwsService(Protocol):
    model: str
    operations: frozenset[str]
    validation_error: str

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        """Run one operation; see the module docstring."""
        ...
