"""The X-Ray API (rest-json) on the shared AWS endpoint: a thin layer over ingest/xray,
query/xray, query/xrayfilter and state/sampling.

Errors are X-Ray's: ``InvalidRequestException`` for bad input (a malformed filter
expression names its position), ``ThrottledException`` (429) when the write queue is full.
Groups live in ``xray_groups``; GetServiceGraph with a GroupName/GroupARN draws the
graph of that group's traces.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vigil.api import pagetoken
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.api.aws.xray_groups import group_trace_ids, statistics
from vigil.ingest.overload import submit
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.xray import ServiceNames
from vigil.ingest.xray_native import decode_documents
from vigil.model.xray import parse_trace_id
from vigil.query import traces as xq
from vigil.query.traces.lookup import trace_window
from vigil.query.traces.servicegraph import ServiceGraphKeeper
from vigil.query.xrayfilter import FilterError, compile_filter, parse
from vigil.state.sampling import DEFAULT_RULE, SamplingError, SamplingRules, rule_record
from vigil.state.xray_groups import GroupError, XRayGroups
from vigil.store.interface import QueryTimeout, Store
from vigil.telemetry import SelfMetrics

INVALID = "InvalidRequestException"
PAGE = 100
SAMPLE_TRACES = 10_000  # traces a sampled GetTraceSummaries looks at by default
MAX_BATCH_TRACES = 5  # X-Ray's own limit per BatchGetTraces / GetTraceGraph call

SAMPLING_OPERATIONS = frozenset({"GetSamplingRules", "GetSamplingTargets"})


def _ns(value: datetime) -> int:
    return int(value.timestamp() * 1e9)


def _is_cursor(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    )


def _cursor(token: str | None) -> tuple[int, str] | None:
    try:
        value = pagetoken.decode(token or None, _is_cursor)
    except pagetoken.BadToken:
        raise AwsError(INVALID, "NextToken is not a token this API returned") from None
    return None if value is None else (value[0], value[1])


class XRayService(AwsService):
    model = "xray"
    validation_error = INVALID
    throttling_error = ("ThrottledException", 429)
    unavailable_error = "ServiceUnavailable"

    def __init__(
        self,
        pipeline: IngestPipeline,
        store: Store,
        sampling: SamplingRules,
        metrics: SelfMetrics,
        names: ServiceNames,
        clock: Callable[[], int] = time.time_ns,
        graph: ServiceGraphKeeper | None = None,
        groups: XRayGroups | None = None,
    ) -> None:
        self._groups = groups
        self._pipeline = pipeline
        self._store = store
        self._graph = graph or ServiceGraphKeeper(store)
        self._sampling = sampling
        self._metrics = metrics
        self._names = names
        self._clock = clock

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutTraceSegments": self._put_trace_segments,
            "PutTelemetryRecords": self._put_telemetry_records,
            "GetTraceSummaries": self._get_trace_summaries,
            "BatchGetTraces": self._batch_get_traces,
            "GetTraceGraph": self._get_trace_graph,
            "GetServiceGraph": self._get_service_graph,
            "GetSamplingRules": self._get_sampling_rules,
            "GetSamplingTargets": self._get_sampling_targets,
            "CreateSamplingRule": self._create_sampling_rule,
            "UpdateSamplingRule": self._update_sampling_rule,
            "DeleteSamplingRule": self._delete_sampling_rule,
            "GetSamplingStatisticSummaries": self._get_sampling_statistic_summaries,
        }

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, SamplingError | GroupError):
            return AwsError(exc.code, exc.message)
        if isinstance(exc, FilterError):
            return AwsError(INVALID, f"invalid FilterExpression: {exc}")
        if isinstance(exc, QueryTimeout):
            return AwsError("ThrottledException", "the query ran over its time limit", 429)
        return None

    # --- segments ----------------------------------------------------------------------

    async def _put_trace_segments(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        docs = params.get("TraceSegmentDocuments", [])
        result = decode_documents(docs, ctx.tenant, self._clock(), self._names)
        decoded = result.decoded
        refused = await submit(self._pipeline.accept, decoded, self._metrics, "xray_api", "traces")
        if refused is not None:
            raise self.refused(refused)
        self._metrics.count_items("xray_api", "traces", decoded.accepted, decoded.rejected.count)
        return {
            "UnprocessedTraceSegments": [
                {"Id": f.id, "ErrorCode": "InvalidSegment", "Message": f.message}
                for f in result.failures
            ]
        }

    async def _put_telemetry_records(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        """The X-Ray daemon's and SDKs' own health figures (segments received, sent,
        rejected, connection errors). AWS keeps them for its console; vigil counts the
        records on /metrics (``vigil_ingest_items_total{protocol="xray_api",
        signal="telemetry"}``) and keeps nothing else — its own /metrics already says how
        segments arrive. Accepted so that daemons and SDKs that send it do not log errors."""
        self._metrics.count_items("xray_api", "telemetry", len(params["TelemetryRecords"]), 0)
        return {}

    # --- traces ------------------------------------------------------------------------

    async def _get_trace_summaries(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        start, end = _ns(params["StartTime"]), _ns(params["EndTime"])
        if end <= start:
            raise AwsError(INVALID, "EndTime must be after StartTime")
        text = (params.get("FilterExpression") or "").strip()
        compiled = compile_filter(parse(text)) if text else None
        sample = await self._sample(params, ctx.tenant, start, end)
        search = xq.SummarySearch(
            tenant=ctx.tenant,
            start_ns=start,
            end_ns=end,
            filter=compiled,
            by_trace_id_time=params.get("TimeRangeType") == "TraceId",
            limit=PAGE,
            cursor=_cursor(params.get("NextToken")),
            sample=sample,
        )
        with self._metrics.expression("xray-filter" if compiled else "xray-scan") as run:
            try:
                summaries, cursor = await xq.search_summaries(self._store, search)
            except QueryTimeout:
                # The store bounds the filter's run (max_execution_time): a limit, not a fault.
                run.overran()
                raise AwsError(
                    INVALID, "the filter ran longer than vigil's bound: narrow the time range"
                ) from None
        out: dict[str, Any] = {
            "TraceSummaries": summaries,
            "ApproximateTime": self._clock() / 1e9,
            "TracesProcessedCount": len(summaries),
        }
        if cursor is not None:
            out["NextToken"] = pagetoken.encode(list(cursor))
        return out

    async def _sample(self, params: dict[str, Any], tenant: str, start: int, end: int) -> float:
        """The fraction of traces GetTraceSummaries looks at: all unless ``Sampling`` is
        true. ``FixedRate``: ``Value`` is the fraction (0 < Value <= 1). ``PartialScan``
        (the default): about ``Value`` traces of the window (default 10,000), evenly
        sampled by trace id, and every trace when the window holds fewer."""
        if not params.get("Sampling"):
            return 1.0
        strategy = params.get("SamplingStrategy") or {}
        name = strategy.get("Name", "PartialScan")
        value = strategy.get("Value")
        if name == "FixedRate":
            if value is None or not 0 < value <= 1:
                raise AwsError(INVALID, "SamplingStrategy FixedRate needs a Value in (0, 1]")
            return float(value)
        scan = SAMPLE_TRACES if value is None else value
        if not scan >= 1:
            raise AwsError(INVALID, "SamplingStrategy PartialScan needs a Value of 1 or more")
        total = await xq.traces_in_window(self._store, tenant, start, end)
        return 1.0 if total <= scan else scan / total

    def _ids(self, params: dict[str, Any]) -> tuple[list[bytes], list[str]]:
        ids = params.get("TraceIds", [])
        if len(ids) > MAX_BATCH_TRACES:
            raise AwsError(INVALID, f"at most {MAX_BATCH_TRACES} TraceIds per call")
        good, bad = [], []
        for text in ids:
            raw = parse_trace_id(text)
            if raw is None:
                bad.append(text)
            else:
                good.append(raw)
        return good, bad

    async def _batch_get_traces(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        good, bad = self._ids(params)
        traces, missing = await xq.batch_get(self._store, ctx.tenant, good)
        unknown = [t for t in params.get("TraceIds", []) if t in bad]
        originals = {parse_trace_id(t): t for t in params.get("TraceIds", [])}
        unknown += [originals.get(raw) or raw.hex() for raw in missing]
        return {"Traces": traces, "UnprocessedTraceIds": unknown}

    async def _get_trace_graph(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        good, _ = self._ids(params)
        hex_ids = [raw.hex() for raw in good]
        window = await trace_window(self._store, ctx.tenant, hex_ids) if hex_ids else None
        if window is None:
            return {"Services": []}
        graph = await xq.service_graph(self._store, ctx.tenant, window[0], window[1], hex_ids)
        return {"Services": graph_services(graph)}

    async def _get_service_graph(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        start, end = params["StartTime"], params["EndTime"]
        if _ns(end) <= _ns(start):
            raise AwsError(INVALID, "EndTime must be after StartTime")
        ids = None
        if self._groups is not None:
            ids = await group_trace_ids(
                self._store, self._groups, params, ctx, _ns(start), _ns(end)
            )
        if ids == []:
            graph = xq.Graph()
        else:
            graph = await xq.service_graph(
                self._store, ctx.tenant, _ns(start), _ns(end), ids, keeper=self._graph
            )
        return {
            "StartTime": start,
            "EndTime": end,
            "Services": graph_services(graph),
            "ContainsOldGroupVersions": False,
        }

    # --- sampling ----------------------------------------------------------------------

    def _arn(self, ctx: RequestContext, name: str) -> str:
        return ctx.arn("xray", f"sampling-rule/{name}")

    async def _get_sampling_rules(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        rules = await asyncio.to_thread(self._sampling.rules, ctx.tenant)
        return {"SamplingRuleRecords": [rule_record(r, self._arn(ctx, r.name)) for r in rules]}

    async def _get_sampling_targets(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        rules = await asyncio.to_thread(self._sampling.rules, ctx.tenant)
        targets, unprocessed = self._sampling.targets(
            ctx.tenant, rules, params.get("SamplingStatisticsDocuments", [])
        )
        modified = max([r.modified_ms for r in rules] + [self._sampling.deleted_ms(ctx.tenant)])
        return {
            "SamplingTargetDocuments": targets,
            "LastRuleModification": modified / 1000,
            "UnprocessedStatistics": unprocessed,
        }

    async def _create_sampling_rule(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        spec = params["SamplingRule"]
        # Optional in the model (RuleName or RuleARN names a rule elsewhere), but a new rule
        # needs its name: refused here rather than a KeyError in the state engine.
        if not spec.get("RuleName"):
            raise AwsError(INVALID, "SamplingRule.RuleName is required to create a rule")
        rule = await asyncio.to_thread(self._sampling.create, ctx.tenant, spec)
        return {"SamplingRuleRecord": rule_record(rule, self._arn(ctx, rule.name))}

    def _rule_name(self, params: dict[str, Any], ctx: RequestContext) -> str:
        name = params.get("RuleName")
        arn = params.get("RuleARN")
        if arn:
            prefix = self._arn(ctx, "")
            if not arn.startswith(prefix):
                raise AwsError(INVALID, f"RuleARN {arn} is not a sampling rule of this account")
            name = name or arn.removeprefix(prefix)
        if not name:
            raise AwsError(INVALID, "RuleName or RuleARN is required")
        return str(name)

    async def _update_sampling_rule(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        changes = params["SamplingRuleUpdate"]
        name = self._rule_name(changes, ctx)
        rule = await asyncio.to_thread(self._sampling.update, ctx.tenant, name, changes)
        return {"SamplingRuleRecord": rule_record(rule, self._arn(ctx, rule.name))}

    async def _delete_sampling_rule(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        name = self._rule_name(params, ctx)
        if name == DEFAULT_RULE:
            raise AwsError(INVALID, "the Default rule cannot be deleted")
        rule = await asyncio.to_thread(self._sampling.delete, ctx.tenant, name)
        return {"SamplingRuleRecord": rule_record(rule, self._arn(ctx, rule.name))}

    async def _get_sampling_statistic_summaries(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return {"SamplingStatisticSummaries": self._sampling.statistics(ctx.tenant)}


def graph_services(graph: xq.Graph) -> list[dict[str, Any]]:
    """The graph as X-Ray ``Service`` records (edges listed on their caller)."""
    keys = sorted(graph.nodes)
    refs = {key: i for i, key in enumerate(keys)}
    out = []
    for key in keys:
        node = graph.nodes[key]
        edges = [
            {
                "ReferenceId": refs[edge.target],
                "StartTime": edge.stats.start_ns / 1e9,
                "EndTime": edge.stats.end_ns / 1e9,
                "SummaryStatistics": statistics(edge.stats),
                "ResponseTimeHistogram": xq.histogram(edge.stats),
                "Aliases": [],
                "EdgeType": "REQUEST",
            }
            for (src, _), edge in sorted(graph.edges.items())
            if src == key
        ]
        if key == xq.CLIENT:
            # X-Ray's client node: no name, no statistics of its own; its edges have them.
            client = {"ReferenceId": refs[key], "Names": [], "Type": "client"}
            out.append({**client, "State": "unknown", "Edges": edges})
            continue
        record: dict[str, Any] = {
            "ReferenceId": refs[key],
            "Name": node.name,
            "Names": [node.name],
            "Root": node.root,
            "Type": node.type or ("remote" if node.remote else "service"),
            "State": "active" if not node.remote else "unknown",
            "Edges": edges,
            "SummaryStatistics": statistics(node.stats),
            "DurationHistogram": xq.histogram(node.stats),
            "ResponseTimeHistogram": xq.histogram(node.stats),
        }
        if node.stats.count:
            record["StartTime"] = node.stats.start_ns / 1e9
            record["EndTime"] = node.stats.end_ns / 1e9
        out.append(record)
    return out
