"""SNS's ``http`` and ``https`` protocols: the SNS JSON message POSTed with SNS's headers.

Headers: ``x-amz-sns-message-type``, ``x-amz-sns-message-id``, ``x-amz-sns-topic-arn``,
``x-amz-sns-subscription-arn`` (notifications), ``Content-Type: text/plain;
charset=UTF-8`` as SNS sends. With ``RawMessageDelivery`` a notification's body is the
message alone. When a signer is configured the message carries SignatureVersion,
Signature and SigningCertURL (``vigil.notify.signing``). SNS treats 2xx-4xx other than
429 as delivered-or-permanent and retries 5xx/429/timeouts; so does vigil.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from vigil.notify.channels.http import Poster, new_client, post
from vigil.notify.interface import Notification, SendOutcome, Target
from vigil.notify.snsmessage import envelope, message_type, topic_of


class Signer(Protocol):
    def sign(self, message: dict[str, str], version: str) -> dict[str, str]:
        """The message with SignatureVersion, Signature and SigningCertURL added."""
        ...


class SnsHttpChannel:
    kinds: tuple[str, ...] = ("http", "https")

    def __init__(self, client: Poster | None = None, signer: Signer | None = None):
        self.client = client or new_client()
        self.signer = signer

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        kind = message_type(notification)
        headers = {
            "x-amz-sns-message-type": kind,
            "x-amz-sns-message-id": str(notification.details.get("MessageId", notification.key)),
            "x-amz-sns-topic-arn": topic_of(notification, target),
        }
        raw = target.options.get("raw", "false") == "true"
        if kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = target.options.get("subscription_arn", "")
            if raw:
                headers["x-amz-sns-rawdelivery"] = "true"
        if raw and kind == "Notification":
            content = notification.body_for(target.channel).encode()
        else:
            message = envelope(notification, target, target.channel)
            if self.signer is not None:
                message = self.signer.sign(message, target.options.get("signature_version", "1"))
            content = orjson.dumps(message)
        return await post(
            self.client, target.endpoint, content, headers, "text/plain; charset=UTF-8"
        )
