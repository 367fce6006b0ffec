"""CloudWatch Contributor Insights: PutInsightRule, DescribeInsightRules,
GetInsightRuleReport, Enable-/Disable-/DeleteInsightRules; PutManagedInsightRules and
ListManagedInsightRules refused.

Thin: the rule language is ``query.contributors.rule`` (a bad definition stores nothing:
``InvalidParameterValue`` with the reason), the report is computed in the store by
``query.contributors.report`` when asked, rules are kept by ``state.insight_rules``. Rules
are CloudWatch resources for the tag operations (the "insight-rule" kind); PutInsightRule's
``Tags`` apply when it creates a rule and are ignored when it updates one (as CloudWatch
documents); deleting a rule drops its tags. Enable/Disable/Delete act on every rule that
exists and list the others as ``Failures``.

Managed rules belong to AWS resources (DynamoDB tables …) that vigil does not have, so
PutManagedInsightRules and ListManagedInsightRules answer ``InvalidParameterValue`` naming
the resource, and the support matrix lists them as refused.

A report is computed from the stored log events when asked: it covers events from before
the rule existed, and a DISABLED rule still reports (CloudWatch analyses events as they
arrive while the rule is enabled). Both differences are in the README.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.query.contributors.report import METRICS, report
from vigil.query.contributors.rule import RuleError, parse
from vigil.state.cloudwatch_resources import CloudWatchResources, ResourceRef
from vigil.state.insight_rules import InsightRule, InsightRules
from vigil.state.metrictags import TagStore, TooManyTags
from vigil.store.interface import Store

SCHEMA_TEXT = '{"Name": "CloudWatchLogRule", "Version": 1}'
STATES = ("ENABLED", "DISABLED")
DEFAULT_PAGE = 500
MAX_CONTRIBUTORS = 100
MAX_PERIODS = 100_800  # as GetMetricData's datapoint bound


class InsightRulesService(AwsService):
    model: ClassVar[str] = "cloudwatch"
    validation_error: ClassVar[str] = "InvalidParameterValue"
    missing_parameter_error: ClassVar[str | None] = "MissingParameter"
    # A broken model constraint (RuleName's pattern, RuleState's enum …), as CloudWatch
    # answers it (api/aws/validation.py).
    constraint_error: ClassVar[str | None] = "ValidationError"

    def __init__(
        self,
        rules: InsightRules,
        store: Store,
        tags: TagStore,
        resources: CloudWatchResources,
    ) -> None:
        self._rules = rules
        self._store = store
        self._tags = tags
        resources.register("insight-rule", rules.exists)

    def error_for(self, exc: Exception) -> AwsError | None:
        # A stored definition was checked at PutInsightRule; one a newer parser refuses
        # is the rule's problem, not the server's.
        if isinstance(exc, RuleError):
            return AwsError("InvalidParameterValue", f"Invalid rule definition: {exc}")
        return None

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutInsightRule": self._put,
            "DescribeInsightRules": self._describe,
            "GetInsightRuleReport": self._report,
            "EnableInsightRules": self._enable,
            "DisableInsightRules": self._disable,
            "DeleteInsightRules": self._delete,
            "PutManagedInsightRules": self._managed,
            "ListManagedInsightRules": self._managed,
        }

    async def _put(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name, text = params["RuleName"], params["RuleDefinition"]
        state = params.get("RuleState", "ENABLED")
        if state not in STATES:
            raise AwsError("InvalidParameterValue", "RuleState must be ENABLED or DISABLED.")
        try:
            parse(text)
        except RuleError as exc:
            raise AwsError("InvalidParameterValue", f"Invalid rule definition: {exc}") from None
        existed = await asyncio.to_thread(self._rules.exists, ctx.tenant, name)
        rule = InsightRule(name, state, text, bool(params.get("ApplyOnTransformedLogs", False)))
        tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        arn = rule_arn(ctx, name)
        if tags and not existed and len(tags) > 50:
            raise AwsError("LimitExceededException", "A rule can have at most 50 tags.")
        await asyncio.to_thread(self._rules.put, ctx.tenant, rule)
        if tags and not existed:
            try:
                await asyncio.to_thread(
                    self._tags.tag, ctx.tenant, arn, ResourceRef("insight-rule", name), tags
                )
            except TooManyTags as exc:
                raise AwsError("LimitExceededException", str(exc)) from None
        return {}

    async def _describe(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        limit = params.get("MaxResults", DEFAULT_PAGE)
        after = _decode_token(params.get("NextToken"))
        found = await asyncio.to_thread(self._rules.list, ctx.tenant, after, limit + 1)
        out: dict[str, Any] = {
            "InsightRules": [
                {
                    "Name": r.name,
                    "State": r.state,
                    "Schema": SCHEMA_TEXT,
                    "Definition": r.definition,
                    "ManagedRule": False,
                    "ApplyOnTransformedLogs": r.transformed,
                }
                for r in found[:limit]
            ]
        }
        if len(found) > limit:
            out["NextToken"] = base64.urlsafe_b64encode(found[limit - 1].name.encode()).decode()
        return out

    async def _report(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = params["RuleName"]
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        period = int(params["Period"])
        if end <= start:
            raise AwsError(
                "InvalidParameterValue", "The parameter StartTime must be less than EndTime."
            )
        if -(-(end - start) // period) > MAX_PERIODS:
            raise AwsError(
                "InvalidParameterValue",
                f"The report would have more than {MAX_PERIODS} periods: increase Period or"
                " narrow the time range.",
            )
        count = params.get("MaxContributorCount", 10)
        if not 1 <= count <= MAX_CONTRIBUTORS:
            raise AwsError(
                "InvalidParameterValue", "MaxContributorCount must be between 1 and 100."
            )
        order_by = params.get("OrderBy", "Sum")
        if order_by not in ("Sum", "Maximum"):
            raise AwsError("InvalidParameterValue", "OrderBy must be Sum or Maximum.")
        metrics = list(dict.fromkeys(params.get("Metrics", [])))
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise AwsError(
                "InvalidParameterValue",
                f"Unknown metric {unknown[0]!r}: Metrics may hold {', '.join(METRICS)}.",
            )
        rule = await asyncio.to_thread(self._rules.get, ctx.tenant, name)
        if rule is None:
            raise AwsError("ResourceNotFoundException", f"The rule {name} does not exist.", 404)
        found = await report(
            self._store, parse(rule.definition), ctx.tenant, start, end, period, count, order_by
        )
        return {
            "KeyLabels": found.key_labels,
            "AggregationStatistic": found.aggregation,
            "AggregateValue": found.aggregate_value,
            "ApproximateUniqueCount": found.unique_count,
            "Contributors": [
                {
                    "Keys": c.keys,
                    "ApproximateAggregateValue": c.value,
                    "Datapoints": [
                        {"Timestamp": t, "ApproximateValue": v} for t, v in c.datapoints
                    ],
                }
                for c in found.contributors
            ],
            "MetricDatapoints": [
                {"Timestamp": t, **{m: values[m] for m in metrics}}
                for t, values in sorted(found.periods.items())
            ],
        }

    async def _enable(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._each(params, ctx, "ENABLED")

    async def _disable(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._each(params, ctx, "DISABLED")

    async def _delete(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._each(params, ctx, None)

    async def _each(
        self, params: dict[str, Any], ctx: RequestContext, state: str | None
    ) -> dict[str, Any]:
        names: list[str] = params["RuleNames"]
        if state is None:
            missing = await asyncio.to_thread(self._rules.delete, ctx.tenant, names)
            for name in names:
                if name not in missing:
                    await asyncio.to_thread(self._tags.forget, ctx.tenant, rule_arn(ctx, name))
        else:
            missing = await asyncio.to_thread(self._rules.set_state, ctx.tenant, names, state)
        return {
            "Failures": [
                {
                    "FailureResource": name,
                    "ExceptionType": "ResourceNotFoundException",
                    "FailureCode": "404",
                    "FailureDescription": f"The rule {name} does not exist.",
                }
                for name in missing
            ]
        }

    async def _managed(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        arns = [r["ResourceARN"] for r in params.get("ManagedRules", [])]
        arns += [params["ResourceARN"]] if "ResourceARN" in params else []
        raise AwsError(
            "InvalidParameterValue",
            f"No managed Contributor Insights rules exist for {', '.join(arns) or 'it'}:"
            " managed rules belong to AWS resources, which vigil does not have.",
        )


def rule_arn(ctx: RequestContext, name: str) -> str:
    return ctx.arn("cloudwatch", f"insight-rule/{name}")


def _seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AwsError("InvalidNextToken", "The NextToken is not one this API returned.") from None
