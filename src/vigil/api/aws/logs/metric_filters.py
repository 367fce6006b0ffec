"""CloudWatch Logs: metric filters (applied at ingest by ingest.logmetrics) and
TestMetricFilter."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.api.aws.interface import AwsError, Handler, RequestContext
from vigil.api.aws.logs.common import (
    LogsApiBase,
    invalid,
    not_found,
    paged,
    reload_filters,
)
from vigil.ingest.logmetrics import MetricFilterProcessor
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.syntax.filterpattern import PatternError
from vigil.syntax.filterpattern import parse as parse_pattern

MAX_METRIC_FILTERS = 100


@dataclass
class MetricFiltersService(LogsApiBase):
    catalog: LogsCatalog
    registry: LogGroupRegistry
    filters: MetricFilterProcessor

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutMetricFilter": self.put_metric_filter,
            "DescribeMetricFilters": self.describe_metric_filters,
            "DeleteMetricFilter": self.delete_metric_filter,
            "TestMetricFilter": self.test_metric_filter,
        }

    async def put_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        group, name = p["logGroupName"], p["filterName"]
        try:
            pattern = parse_pattern(p["filterPattern"])
        except PatternError as exc:
            raise invalid(f"Invalid metric filter pattern: {exc}") from None
        transforms = p["metricTransformations"]
        if len(transforms) != 1:
            raise invalid("metricTransformations must hold exactly one transformation.")
        t = transforms[0]
        value = str(t["metricValue"])
        if not value.startswith("$"):
            try:
                float(value)
            except ValueError:
                raise invalid(
                    f"Invalid metricValue {value!r}: use a number, $.json.field or $field"
                ) from None
        elif pattern.kind == "terms":
            raise invalid(
                "A metricValue that names a field needs a JSON or space-delimited pattern."
            )
        dims = t.get("dimensions") or {}
        if dims and "defaultValue" in t:
            raise invalid("defaultValue and dimensions cannot both be set.")
        if len(dims) > 3:
            raise invalid("A metric filter can have at most 3 dimensions.")
        for dim, ref in dims.items():
            if not str(ref).startswith("$"):
                raise invalid(f"Dimension {dim!r} must name a field ($.field or $field).")
        await self._group(ctx, group)
        existing = [
            f
            for t_, f in await asyncio.to_thread(self.catalog.metric_filters, ctx.tenant)
            if f.log_group == group
        ]
        if len(existing) >= MAX_METRIC_FILTERS and name not in {f.name for f in existing}:
            raise AwsError(
                "LimitExceededException",
                f"A log group can have at most {MAX_METRIC_FILTERS} metric filters.",
            )
        await asyncio.to_thread(
            self.catalog.put_metric_filter, ctx.tenant, group, name, p["filterPattern"], transforms
        )
        await reload_filters(self.catalog, self.filters)
        return {}

    async def describe_metric_filters(
        self, p: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        group = p.get("logGroupName")
        if (p.get("metricName") is None) != (p.get("metricNamespace") is None):
            raise invalid("metricName and metricNamespace must be given together.")
        if group is not None:
            await self._group(ctx, group)
        rows = [f for _, f in await asyncio.to_thread(self.catalog.metric_filters, ctx.tenant)]
        prefix = p.get("filterNamePrefix")
        chosen = [
            f
            for f in rows
            if (group is None or f.log_group == group)
            and (not prefix or f.name.startswith(prefix))
            and (
                p.get("metricName") is None
                or any(
                    t["metricName"] == p["metricName"]
                    and t["metricNamespace"] == p["metricNamespace"]
                    for t in f.transformations
                )
            )
        ]
        return paged(
            "metricFilters",
            chosen,
            p,
            "limit",
            50,
            lambda f: {
                "filterName": f.name,
                "filterPattern": f.pattern,
                "metricTransformations": f.transformations,
                "creationTime": f.created_ms,
                "logGroupName": f.log_group,
            },
        )

    async def delete_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await self._group(ctx, p["logGroupName"])
        found = await asyncio.to_thread(
            self.catalog.delete_metric_filter, ctx.tenant, p["logGroupName"], p["filterName"]
        )
        if not found:
            raise not_found("metric filter")
        await reload_filters(self.catalog, self.filters)
        return {}

    async def test_metric_filter(self, p: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        try:
            pattern = parse_pattern(p["filterPattern"])
        except PatternError as exc:
            raise invalid(f"Invalid metric filter pattern: {exc}") from None
        matches = []
        for number, message in enumerate(p["logEventMessages"], start=1):
            extracted = pattern.extract(message)
            if extracted is None:
                continue
            values = {k: _text(v) for k, v in extracted.items()}
            if pattern.kind == "json":
                values = _json_refs(pattern.text, extracted, pattern)
            matches.append(
                {"eventNumber": number, "eventMessage": message, "extractedValues": values}
            )
        return {"matches": matches}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_SELECTOR = re.compile(r"\$(?:\.[A-Za-z0-9_@$\-]+|\[-?\d+\])+")


def _json_refs(text: str, extracted: Any, pattern: Any) -> dict[str, str]:
    """The values of the selectors a JSON pattern names, as TestMetricFilter shows them."""
    out = {}
    for ref in _SELECTOR.findall(text):
        value = pattern.value_of(ref, extracted)
        if value is not None:
            out[ref] = _text(value)
    return out
