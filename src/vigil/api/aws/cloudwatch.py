"""The CloudWatch metrics API (JSON 1.0 and query protocols through the AWS dispatcher).

Thin: decoding lives in ``vigil.ingest.cloudwatch_metrics``, queries in
``vigil.query.metrics``; this module maps parameters and answers, errors and paging.
Operations: PutMetricData, GetMetricData, GetMetricStatistics, ListMetrics, TagResource,
UntagResource, ListTagsForResource.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import orjson

from vigil.api import pagetoken
from vigil.api.aws.dispatch import json_object
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.ingest.cloudwatch_metrics import InvalidMetricData, decode_put_metric_data
from vigil.ingest.cloudwatch_native import decode_body
from vigil.ingest.interface import Decoded
from vigil.ingest.overload import submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.model.deadline import Deadline, ExpressionTimeout
from vigil.query import metrics as md
from vigil.query.metricmath.functions import FunctionTable, default_functions
from vigil.state.cloudwatch_resources import ResourceRef, parse_arn
from vigil.state.metrictags import NoSuchResource, TagStore, TooManyTags
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention
from vigil.telemetry import SelfMetrics

LIST_PAGE = 500
MAX_PUT_BYTES = 1024 * 1024
_READS = frozenset({"GetMetricData", "GetMetricStatistics", "ListMetrics"})
DEFAULT_MAX_DATAPOINTS = 100_800


class CloudWatchService(AwsService):
    """CloudWatch metrics and resource tags; alarms, dashboards and anomaly detectors are
    services of their own on the same model (the front door merges the tables)."""

    model = "cloudwatch"
    validation_error = "InvalidParameterValue"
    missing_parameter_error = "MissingParameter"
    constraint_error = "ValidationError"
    throttling_error = ("Throttling", 400)
    unavailable_error = "ServiceUnavailable"
    # PutMetricData's JSON body goes straight to the (native) decoder, which checks the
    # model's rules itself: botocore's validator, even the JSON parse, would cost more.
    body_operations = frozenset({"PutMetricData"})
    # CloudWatch: "Each PutMetricData request is limited to 1 MB in size for HTTP POST
    # requests", gzip bodies counted as sent.
    request_limits: ClassVar[dict[str, int]] = {"PutMetricData": MAX_PUT_BYTES}

    def __init__(
        self,
        pipeline: IngestPipeline,
        store: Store,
        tags: TagStore,
        retention: MetricRetention,
        metrics: SelfMetrics,
        clock: Callable[[], int] = time.time_ns,
        search_limit: int = 500,
        functions: FunctionTable | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._store = store
        self._tags = tags
        self._retention = retention
        self._metrics = metrics
        self._clock = clock
        self._search_limit = search_limit
        # read at request time: pillars built later register their functions in it
        self._functions = functions if functions is not None else default_functions()

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutMetricData": self._put_metric_data,
            "GetMetricData": self._get_metric_data,
            "GetMetricStatistics": self._get_metric_statistics,
            "ListMetrics": self._list_metrics,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
        }

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, md.QueryError | InvalidMetricData):
            return AwsError(exc.code, exc.message)
        return None

    def _fetch(self, ctx: RequestContext) -> md.Fetch:
        return md.Fetch(self._store, self._retention, ctx.tenant, self._clock() // 10**9)

    # --- writes -----------------------------------------------------------------------

    async def _put_metric_data(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        try:
            if ctx.body:
                columns = decode_body(ctx.body, ctx.tenant, self._clock(), json_object)
            else:  # the query protocol: boto3-shaped parameters
                columns = decode_put_metric_data(params, ctx.tenant, self._clock())
        except InvalidMetricData:
            self._metrics.ingest_requests.labels("cloudwatch", "metrics", "400").inc()
            raise
        decoded = Decoded(signal="metrics", metrics=columns)
        refused = await submit(
            self._pipeline.accept, decoded, self._metrics, "cloudwatch", "metrics"
        )
        if refused is not None:
            self._metrics.ingest_requests.labels("cloudwatch", "metrics", str(refused.status)).inc()
            raise self.refused(refused)
        self._metrics.ingest_requests.labels("cloudwatch", "metrics", "200").inc()
        self._metrics.count_items("cloudwatch", "metrics", len(columns), 0)
        return {}

    # --- reads ------------------------------------------------------------------------

    async def _list_metrics(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        now = self._clock() // 10**9
        owner = params.get("OwningAccount")
        if owner is not None and owner != ctx.account_id:
            # vigil is one account: a linked source account owns no metrics here.
            return {"Metrics": [], "OwningAccounts": []}
        window = 3 * 3600 if params.get("RecentlyActive") == "PT3H" else md.LIST_WINDOW
        try:
            after = pagetoken.decode(params.get("NextToken"), _is_series_position)
        except pagetoken.BadToken:
            # CloudWatch's answer to a token it did not hand out (ListMetrics's model has
            # no InvalidNextToken error).
            raise AwsError(
                "InvalidParameterValue", "Request parameter NextToken is invalid"
            ) from None
        found = await md.list_metrics(
            self._store,
            ctx.tenant,
            now - window,
            namespace=params.get("Namespace"),
            name=params.get("MetricName"),
            dimension_filters=[(d["Name"], d.get("Value")) for d in params.get("Dimensions", [])],
            after=(after[0], after[1], after[2]) if after else None,
            limit=LIST_PAGE + 1,
        )
        out: dict[str, Any] = {
            "Metrics": [
                {
                    "Namespace": s.ref.namespace,
                    "MetricName": s.ref.name,
                    "Dimensions": [
                        {"Name": k, "Value": v} for k, v in sorted(s.dimensions.items())
                    ],
                }
                for s in found[:LIST_PAGE]
            ]
        }
        if params.get("IncludeLinkedAccounts"):
            # One owner per metric, in order (Grafana indexes this list by the metric's).
            out["OwningAccounts"] = [ctx.account_id] * len(out["Metrics"])
        if len(found) > LIST_PAGE:
            last = found[LIST_PAGE - 1].ref
            out["NextToken"] = pagetoken.encode([last.namespace, last.name, last.series_id])
        return out

    async def _get_metric_statistics(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        stats = list(params.get("Statistics") or [])
        extended = list(params.get("ExtendedStatistics") or [])
        if not stats and not extended:
            raise AwsError(
                "InvalidParameterCombination",
                "Must specify either Statistics or ExtendedStatistics, but not both.",
            )
        if params["StartTime"] >= params["EndTime"]:
            raise AwsError(
                "InvalidParameterValue",
                "The parameter StartTime must be less than the parameter EndTime.",
            )
        if stats and extended:
            raise AwsError(
                "InvalidParameterCombination",
                "The parameters Statistics and ExtendedStatistics are mutually exclusive.",
            )
        for stat in stats:
            if stat not in ("SampleCount", "Average", "Sum", "Minimum", "Maximum"):
                raise AwsError("InvalidParameterValue", f"The statistic {stat!r} is not valid.")
        for stat in extended:
            if md.check_stat(stat).kind == "aggregate":
                raise AwsError(
                    "InvalidParameterValue",
                    f"The extended statistic {stat!r} is not valid: use Statistics for it.",
                )
        metric = md.MetricSpec(
            params["Namespace"],
            params["MetricName"],
            tuple((d["Name"], d["Value"]) for d in params.get("Dimensions", [])),
        )
        points = await md.get_statistics(
            self._fetch(ctx),
            metric,
            stats + extended,
            params["Period"],
            _seconds(params["StartTime"]),
            _seconds(params["EndTime"]),
            params.get("Unit"),
        )
        return {"Label": params["MetricName"], "Datapoints": points}

    async def _get_metric_data(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        for index, query in enumerate(params["MetricDataQueries"], 1):
            if query.get("MetricStat") is None and query.get("Expression") is None:
                raise AwsError(
                    "ValidationError",
                    f"The parameter MetricDataQueries.member.{index}.MetricStat is required.",
                )
        if params["StartTime"] >= params["EndTime"]:
            raise AwsError(
                "ValidationError", "The parameter EndTime must be greater than StartTime."
            )
        queries = [_metric_query(q) for q in params["MetricDataQueries"]]
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        max_points = params.get("MaxDatapoints", DEFAULT_MAX_DATAPOINTS)
        if max_points <= 0:
            raise AwsError("InvalidParameterValue", "The parameter MaxDatapoints must be positive.")
        digest = _request_digest(params)
        position = _decode_token(
            params.get("NextToken"),
            "GetMetricData",
            lambda v: isinstance(v, list) and len(v) == 3 and v[0] == digest,
        )
        with self._metrics.expression("metric-math") as run:
            try:
                results = await md.get_metric_data(
                    self._fetch(ctx),
                    queries,
                    start,
                    end,
                    search_limit=self._search_limit,
                    functions=self._functions,
                    timezone=(params.get("LabelOptions") or {}).get("Timezone"),
                    deadline=Deadline(),
                )
            except ExpressionTimeout as exc:
                run.overran()
                raise AwsError("LimitExceeded", f"{exc}: simplify it or narrow the range") from None
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        first, offset = (int(position[1]), int(position[2])) if position else (0, 0)
        page, next_position = _paginate(results, first, offset, max_points, descending)
        out: dict[str, Any] = {"MetricDataResults": page, "Messages": _request_messages(page)}
        if next_position is not None:
            out["NextToken"] = pagetoken.encode([digest, *next_position])
        return out

    # --- tags -------------------------------------------------------------------------

    async def _tag_resource(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        arn = params["ResourceARN"]
        ref = _check_arn(arn)
        tags = {t["Key"]: t["Value"] for t in params["Tags"]}
        for key in tags:
            if key.lower().startswith("aws:"):
                raise AwsError(
                    "InvalidParameterValue", f"The tag key {key!r} uses the reserved prefix aws:."
                )
        try:
            await asyncio.to_thread(self._tags.tag, ctx.tenant, arn, ref, tags)
        except TooManyTags as exc:
            raise AwsError("LimitExceededException", str(exc)) from None
        except NoSuchResource as exc:
            raise _not_found(exc) from None
        return {}

    async def _untag_resource(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        arn = params["ResourceARN"]
        ref = _check_arn(arn)
        try:
            await asyncio.to_thread(self._tags.untag, ctx.tenant, arn, ref, list(params["TagKeys"]))
        except NoSuchResource as exc:
            raise _not_found(exc) from None
        return {}

    async def _list_tags_for_resource(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        arn = params["ResourceARN"]
        ref = _check_arn(arn)
        try:
            tags = await asyncio.to_thread(self._tags.tags, ctx.tenant, arn, ref)
        except NoSuchResource as exc:
            raise _not_found(exc) from None
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _check_arn(arn: str) -> ResourceRef:
    ref = parse_arn(arn)
    if ref is None:
        raise AwsError(
            "InvalidParameterValue",
            f"The ARN {arn!r} is not a CloudWatch alarm, insight rule, metric stream or"
            " dashboard ARN.",
        )
    return ref


def _not_found(exc: NoSuchResource) -> AwsError:
    # The model's ResourceNotFoundException (404), as CloudWatch answers for an ARN that
    # names no existing resource.
    return AwsError("ResourceNotFoundException", str(exc), 404)


def _metric_query(q: dict[str, Any]) -> md.MetricQuery:
    query = md.MetricQuery(
        id=q["Id"],
        label=q.get("Label"),
        return_data=q.get("ReturnData", True),
        period=q.get("Period"),
        expression=q.get("Expression"),
    )
    stat = q.get("MetricStat")
    if stat is not None:
        metric = stat["Metric"]
        if "Namespace" not in metric or "MetricName" not in metric:
            raise AwsError(
                "MissingParameter",
                f"MetricStat.Metric of query {query.id} needs Namespace and MetricName.",
            )
        query.metric = md.MetricSpec(
            metric["Namespace"],
            metric["MetricName"],
            tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])),
        )
        query.stat, query.period, query.unit = stat["Stat"], stat["Period"], stat.get("Unit")
    return query


def _paginate(
    results: list[md.Result], first: int, offset: int, budget: int, descending: bool
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    page: list[dict[str, Any]] = []
    next_position: tuple[int, int] | None = None
    for index in range(first, len(results)):
        result = results[index]
        stamps, values = result.timestamps, result.values
        if descending:
            stamps, values = stamps[::-1], values[::-1]
        start = offset if index == first else 0
        take = 0 if next_position is not None else min(budget, len(stamps) - start)
        budget -= take
        done = start + take >= len(stamps)
        if not done and next_position is None:
            next_position = (index, start + take)
        page.append(
            {
                "Id": result.id,
                "Label": result.label,
                "Timestamps": [
                    datetime.fromtimestamp(t).astimezone() for t in stamps[start : start + take]
                ],
                "Values": values[start : start + take],
                "StatusCode": result.status if done else "PartialData",
                "Messages": result.messages,
            }
        )
    return page, next_position


# Metrics Insights limits, which CloudWatch reports for the whole request (Grafana reads
# them there), not on a result.
REQUEST_CODES = frozenset(
    {"MaxQueryTimeRangeExceeded", "MaxMatchingResultsExceeded", "MaxQueryResultsExceeded"}
)


def _request_messages(page: list[dict[str, Any]]) -> list[dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for result in page:
        kept = []
        for message in result["Messages"]:
            if message.get("Code") in REQUEST_CODES:
                found.setdefault(message["Code"], message)
            else:
                kept.append(message)
        result["Messages"] = kept
    return list(found.values())


def _seconds(value: datetime) -> int:
    return int(value.timestamp())


def _request_digest(params: dict[str, Any]) -> str:
    stable = {k: v for k, v in params.items() if k not in ("NextToken", "MaxDatapoints")}
    raw = orjson.dumps(stable, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def _is_series_position(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[2], int)


def _decode_token(token: str | None, operation: str, check: Callable[[Any], bool]) -> Any:
    try:
        return pagetoken.decode(token, check)
    except pagetoken.BadToken:
        raise AwsError(
            "InvalidNextToken", f"The NextToken is not one that {operation} returned."
        ) from None
