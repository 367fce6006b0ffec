"""Operations that only configure AWS-internal machinery, refused on purpose.

Contract: each service object here answers every one of its operations with one clear
error in the service's own shape and code — never a success that stores state nothing
reads. The operations configure parts of AWS vigil does not have: vended-log delivery
(AWS services writing their logs to CloudWatch Logs, S3 or Firehose through delivery
sources, destinations and deliveries), resource policies that let AWS services write,
account-wide policies (data protection, subscription filters, field indexes, transforms
for every group), and X-Ray's KMS encryption and its segment destination. The support
matrix (``support``) lists them apart from both served and not-yet operations
(``refused_operations``), with this module's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext

_DELIVERY = "vended-log delivery (AWS services sending their logs through delivery sources"
_DELIVERY += ", destinations and deliveries)"
_RESOURCE = "resource policies, which let AWS services write to the account"
_ACCOUNT = "account-wide policies applied by AWS to every log group"

LOGS_REASONS: dict[str, str] = {
    **dict.fromkeys(
        (
            "PutDeliverySource",
            "GetDeliverySource",
            "DescribeDeliverySources",
            "DeleteDeliverySource",
            "PutDeliveryDestination",
            "GetDeliveryDestination",
            "DescribeDeliveryDestinations",
            "DeleteDeliveryDestination",
            "PutDeliveryDestinationPolicy",
            "GetDeliveryDestinationPolicy",
            "DeleteDeliveryDestinationPolicy",
            "CreateDelivery",
            "GetDelivery",
            "DescribeDeliveries",
            "DeleteDelivery",
            "UpdateDeliveryConfiguration",
            "DescribeConfigurationTemplates",
        ),
        _DELIVERY,
    ),
    **dict.fromkeys(
        ("PutResourcePolicy", "DescribeResourcePolicies", "DeleteResourcePolicy"), _RESOURCE
    ),
    **dict.fromkeys(
        ("PutAccountPolicy", "DescribeAccountPolicies", "DeleteAccountPolicy"), _ACCOUNT
    ),
}

XRAY_REASONS: dict[str, str] = {
    **dict.fromkeys(
        ("PutResourcePolicy", "ListResourcePolicies", "DeleteResourcePolicy"), _RESOURCE
    ),
    **dict.fromkeys(
        ("PutEncryptionConfig", "GetEncryptionConfig"),
        "X-Ray's encryption with AWS KMS keys (vigil's data stays on its own disk)",
    ),
    **dict.fromkeys(
        ("UpdateTraceSegmentDestination", "GetTraceSegmentDestination"),
        "where AWS stores segments (vigil stores them itself)",
    ),
}


class _Refusals(AwsService):
    """One refusal handler per operation of ``reasons``, answered with ``code``."""

    reasons: ClassVar[Mapping[str, str]]
    code: ClassVar[str]

    def operations(self) -> Mapping[str, Handler]:
        return {name: _handler(name, self.code, why) for name, why in self.reasons.items()}


def _handler(operation: str, code: str, reason: str) -> Handler:
    message = (
        f"{operation} is not supported by vigil: it configures {reason}, which exists only"
        " inside AWS."
    )

    async def refuse(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise AwsError(code, message)

    return refuse


class LogsInternalRefusals(_Refusals):
    """CloudWatch Logs: ``InvalidOperationException`` (the model's code for an operation
    that is not allowed)."""

    model = "logs"
    validation_error = "InvalidParameterException"
    reasons = LOGS_REASONS
    code = "InvalidOperationException"
    refused_operations = frozenset(LOGS_REASONS)


class XRayInternalRefusals(_Refusals):
    """X-Ray: ``InvalidRequestException`` (the only client-error code its model has)."""

    model = "xray"
    validation_error = "InvalidRequestException"
    reasons = XRAY_REASONS
    code = "InvalidRequestException"
    refused_operations = frozenset(XRAY_REASONS)


# botocore model → operation → why it is refused (the support matrix reads this).
REASONS: dict[str, dict[str, str]] = {"logs": LOGS_REASONS, "xray": XRAY_REASONS}
