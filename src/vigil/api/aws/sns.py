"""The SNS API (query protocol, XML answers) over ``vigil.notify.topics``.

Thin: maps parameters and answers, paging (100 per page, NextToken = the last ARN) and
errors (``TopicError`` carries SNS's code). Operations: CreateTopic, DeleteTopic,
ListTopics, Get/SetTopicAttributes, Subscribe, ConfirmSubscription, Unsubscribe,
ListSubscriptions, ListSubscriptionsByTopic, Get/SetSubscriptionAttributes, Publish,
PublishBatch, TagResource, UntagResource, ListTagsForResource. Not supported (answered
InvalidAction): platform applications and endpoints, SMS, permissions (AddPermission,
RemovePermission), data protection policies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.notify.topics import PublishRequest, TopicError, Topics

PAGE = 100
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class SnsService(AwsService):
    model = "sns"
    validation_error = "InvalidParameter"

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def operations(self) -> Mapping[str, Handler]:
        return {
            "CreateTopic": self._create_topic,
            "DeleteTopic": self._delete_topic,
            "ListTopics": self._list_topics,
            "GetTopicAttributes": self._get_topic_attributes,
            "SetTopicAttributes": self._set_topic_attributes,
            "Subscribe": self._subscribe,
            "ConfirmSubscription": self._confirm_subscription,
            "Unsubscribe": self._unsubscribe,
            "ListSubscriptions": self._list_subscriptions,
            "ListSubscriptionsByTopic": self._list_subscriptions_by_topic,
            "GetSubscriptionAttributes": self._get_subscription_attributes,
            "SetSubscriptionAttributes": self._set_subscription_attributes,
            "Publish": self._publish,
            "PublishBatch": self._publish_batch,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
        }

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, TopicError):
            return AwsError(exc.code, exc.message, exc.status)
        return None

    # --- topics ----------------------------------------------------------------------

    async def _create_topic(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
        topic = await self.topics.create_topic(
            ctx.tenant, ctx.arn("sns", "")[:-1], p["Name"], p.get("Attributes", {}), tags
        )
        return {"TopicArn": topic.arn}

    async def _delete_topic(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self.topics.delete_topic(ctx.tenant, p["TopicArn"])
        return {}

    async def _list_topics(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        found = await asyncio.to_thread(
            self.topics.store.topics, ctx.tenant, p.get("NextToken"), PAGE + 1
        )
        out: dict[str, Any] = {"Topics": [{"TopicArn": t.arn} for t in found[:PAGE]]}
        if len(found) > PAGE:
            out["NextToken"] = found[PAGE - 1].arn
        return out

    async def _get_topic_attributes(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"Attributes": await self.topics.topic_attributes(ctx.tenant, p["TopicArn"])}

    async def _set_topic_attributes(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self.topics.set_topic_attribute(
            ctx.tenant, p["TopicArn"], p["AttributeName"], p.get("AttributeValue", "")
        )
        return {}

    # --- subscriptions ---------------------------------------------------------------

    async def _subscribe(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if not p.get("Endpoint"):
            raise AwsError("InvalidParameter", "Invalid parameter: Endpoint")
        sub = await self.topics.subscribe(
            ctx.tenant, p["TopicArn"], p["Protocol"], p["Endpoint"], p.get("Attributes", {})
        )
        shown = sub.arn if sub.confirmed or p.get("ReturnSubscriptionArn") else None
        return {"SubscriptionArn": shown or "pending confirmation"}

    async def _confirm_subscription(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        sub = await self.topics.confirm(ctx.tenant, p["TopicArn"], p["Token"])
        return {"SubscriptionArn": sub.arn}

    async def _unsubscribe(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self.topics.unsubscribe(ctx.tenant, p["SubscriptionArn"])
        return {}

    async def _list_subscriptions(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._subscriptions(ctx, None, p.get("NextToken"))

    async def _list_subscriptions_by_topic(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self._subscriptions(ctx, p["TopicArn"], p.get("NextToken"))

    async def _subscriptions(
        self, ctx: RequestContext, topic_arn: str | None, token: str | None
    ) -> dict[str, Any]:
        found = await self.topics.subscriptions(ctx.tenant, topic_arn, token, PAGE + 1)
        out: dict[str, Any] = {
            "Subscriptions": [
                {
                    "SubscriptionArn": s.arn if s.confirmed else "PendingConfirmation",
                    "Owner": ctx.account_id,
                    "Protocol": s.protocol,
                    "Endpoint": s.endpoint,
                    "TopicArn": s.topic_arn,
                }
                for s in found[:PAGE]
            ]
        }
        if len(found) > PAGE:
            out["NextToken"] = found[PAGE - 1].arn
        return out

    async def _get_subscription_attributes(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        attrs = await self.topics.subscription_attributes(ctx.tenant, p["SubscriptionArn"])
        return {"Attributes": attrs}

    async def _set_subscription_attributes(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        await self.topics.set_subscription_attribute(
            ctx.tenant, p["SubscriptionArn"], p["AttributeName"], p.get("AttributeValue")
        )
        return {}

    # --- publish ---------------------------------------------------------------------

    async def _publish(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if p.get("TargetArn") or p.get("PhoneNumber"):
            raise AwsError(
                "InvalidParameter",
                "Invalid parameter: TargetArn/PhoneNumber: mobile push and SMS are not "
                "supported by vigil",
            )
        if not p.get("TopicArn"):
            raise AwsError("InvalidParameter", "Invalid parameter: TopicArn")
        published = await self.topics.publish(ctx.tenant, _request(p["TopicArn"], p))
        return {"MessageId": published.message_id}

    async def _publish_batch(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        entries = p.get("PublishBatchRequestEntries", [])
        if not entries:
            raise AwsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
        if len(entries) > 10:
            raise AwsError(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible.",
            )
        ids = [e["Id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise AwsError(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.",
            )
        bad = next((i for i in ids if not _BATCH_ID.match(i)), None)
        if bad is not None:
            raise AwsError("InvalidBatchEntryId", f"The Id of a batch entry is invalid: {bad}")
        await self.topics.topic(ctx.tenant, p["TopicArn"])  # NotFound for the whole batch
        ok, failed = [], []
        for entry in entries:
            try:
                published = await self.topics.publish(ctx.tenant, _request(p["TopicArn"], entry))
            except TopicError as exc:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": exc.code,
                        "Message": exc.message,
                        "SenderFault": True,
                    }
                )
                continue
            ok.append({"Id": entry["Id"], "MessageId": published.message_id})
        return {"Successful": ok, "Failed": failed}

    # --- tags ------------------------------------------------------------------------

    async def _tag_resource(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        tags = {t["Key"]: t["Value"] for t in p["Tags"]}
        await self.topics.tag(ctx.tenant, p["ResourceArn"], tags)
        return {}

    async def _untag_resource(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self.topics.untag(ctx.tenant, p["ResourceArn"], list(p["TagKeys"]))
        return {}

    async def _list_tags_for_resource(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        tags = await self.topics.tags(ctx.tenant, p["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _request(topic_arn: str, p: dict[str, Any]) -> PublishRequest:
    return PublishRequest(
        topic_arn=topic_arn,
        message=p["Message"],
        subject=p.get("Subject"),
        attributes=p.get("MessageAttributes", {}),
        structure=p.get("MessageStructure"),
    )
