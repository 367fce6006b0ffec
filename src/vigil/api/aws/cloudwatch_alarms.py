"""The CloudWatch alarm and anomaly-detector operations (JSON 1.0 and query protocols).

Thin: checks in ``alarm_params``, evaluation and state in ``rules.alarms.engine``.
Served beside ``CloudWatchService`` under the same model (the front door merges the
operation tables). Alarms are taggable: ``register_resources`` makes them known to the tag
operations, PutMetricAlarm/PutCompositeAlarm apply ``Tags``, DeleteAlarms forgets them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.api.aws import alarm_params as checks
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.rules.alarms import rule as rules
from vigil.rules.alarms.anomaly import DetectorConfig
from vigil.rules.alarms.batch import DetectorKey
from vigil.rules.alarms.engine import AlarmEngine, Entry
from vigil.rules.alarms.model import STATES, CompositeAlarm, MetricAlarm
from vigil.state.alarms import AlarmStore
from vigil.state.cloudwatch_resources import CloudWatchResources, ResourceRef
from vigil.state.metrictags import NoSuchResource, TagStore, TooManyTags

ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")


class CloudWatchAlarmsService(AwsService):
    model = "cloudwatch"
    validation_error = "InvalidParameterValue"
    missing_parameter_error = "MissingParameter"
    constraint_error = "ValidationError"

    def __init__(self, engine: AlarmEngine, store: AlarmStore, tags: TagStore) -> None:
        self._engine = engine
        self._store = store
        self._tags = tags

    def register_resources(self, resources: CloudWatchResources) -> None:
        resources.register("alarm", self._engine.exists)

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutMetricAlarm": self._put_metric_alarm,
            "PutCompositeAlarm": self._put_composite_alarm,
            "DescribeAlarms": self._describe_alarms,
            "DescribeAlarmsForMetric": self._describe_alarms_for_metric,
            "DescribeAlarmHistory": self._describe_alarm_history,
            "DeleteAlarms": self._delete_alarms,
            "SetAlarmState": self._set_alarm_state,
            "EnableAlarmActions": self._enable_alarm_actions,
            "DisableAlarmActions": self._disable_alarm_actions,
            "PutAnomalyDetector": self._put_anomaly_detector,
            "DescribeAnomalyDetectors": self._describe_anomaly_detectors,
            "DeleteAnomalyDetector": self._delete_anomaly_detector,
        }

    # --- definitions -------------------------------------------------------------------

    async def _put_metric_alarm(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        name = params["AlarmName"]
        arn = ctx.arn("cloudwatch", f"alarm:{name}")
        self._check_kind(ctx.tenant, name, "MetricAlarm")
        spec = checks.metric_alarm(params, arn)
        await self._engine.put(ctx.tenant, "MetricAlarm", spec)
        await self._apply_tags(ctx, arn, name, params.get("Tags"))
        return {}

    async def _put_composite_alarm(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        name = params["AlarmName"]
        arn = ctx.arn("cloudwatch", f"alarm:{name}")
        self._check_kind(ctx.tenant, name, "CompositeAlarm")
        spec = checks.composite_alarm(params, arn)
        tenant = ctx.tenant
        try:
            rules.validate(
                params["AlarmRule"],
                name,
                lambda n: self._engine.exists(tenant, n),
                lambda n: self._engine.rule_of(tenant, n),
            )
        except rules.RuleError as exc:
            raise checks.validation(f"Error in alarm rule: {exc}") from None
        except rules.RuleCheckError as exc:
            raise checks.validation(str(exc)) from None
        suppressor = params.get("ActionsSuppressor")
        if suppressor and not self._engine.exists(tenant, rules.alarm_name(suppressor)):
            raise checks.validation(f"The ActionsSuppressor alarm {suppressor} does not exist.")
        await self._engine.put(tenant, "CompositeAlarm", spec)
        await self._apply_tags(ctx, arn, name, params.get("Tags"))
        return {}

    def _check_kind(self, tenant: str, name: str, kind: str) -> None:
        entry = self._engine.get(tenant, name)
        if entry is not None and entry.alarm.kind != kind:
            raise checks.validation(
                f"An alarm named {name} already exists and is a {entry.alarm.kind}."
            )

    async def _apply_tags(
        self, ctx: RequestContext, arn: str, name: str, tags: list[dict[str, str]] | None
    ) -> None:
        if not tags:
            return
        values = {t["Key"]: t["Value"] for t in tags}
        try:
            await asyncio.to_thread(
                self._tags.tag, ctx.tenant, arn, ResourceRef("alarm", name), values
            )
        except TooManyTags as exc:
            raise AwsError("LimitExceeded", str(exc)) from None
        except NoSuchResource as exc:
            raise AwsError("ResourceNotFound", str(exc), 404) from None

    async def _delete_alarms(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        names = list(params["AlarmNames"])
        missing = [n for n in names if not self._engine.exists(ctx.tenant, n)]
        if missing:
            raise AwsError(
                "ResourceNotFound", f"Could not find alarm(s): {', '.join(missing)}", 404
            )
        await self._engine.delete(ctx.tenant, names)
        for name in names:
            await asyncio.to_thread(
                self._tags.forget, ctx.tenant, ctx.arn("cloudwatch", f"alarm:{name}")
            )
        return {}

    async def _set_alarm_state(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name, value = params["AlarmName"], params["StateValue"]
        if value not in STATES:
            raise checks.validation(f"Invalid value for StateValue: {value}.")
        if not self._engine.exists(ctx.tenant, name):
            raise AwsError("ResourceNotFound", f"Alarm {name} not found", 404)
        data = params.get("StateReasonData")
        if data is not None:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.") from None
        await self._engine.set_state(ctx.tenant, name, value, params["StateReason"], data)
        return {}

    async def _enable_alarm_actions(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        await self._engine.set_actions_enabled(ctx.tenant, params["AlarmNames"], True)
        return {}

    async def _disable_alarm_actions(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        await self._engine.set_actions_enabled(ctx.tenant, params["AlarmNames"], False)
        return {}

    # --- reads -------------------------------------------------------------------------

    async def _describe_alarms(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        entries = self._engine.entries(ctx.tenant)
        if "ChildrenOfAlarmName" in params or "ParentsOfAlarmName" in params:
            entries = self._related(ctx.tenant, params, entries)
        names = params.get("AlarmNames")
        if names:
            wanted = set(names)
            entries = [e for e in entries if e.alarm.name in wanted]
        prefix = params.get("AlarmNamePrefix")
        if prefix:
            if names:
                raise AwsError(
                    "InvalidParameterCombination",
                    "AlarmNames and AlarmNamePrefix can not be used together.",
                )
            entries = [e for e in entries if e.alarm.name.startswith(prefix)]
        state = params.get("StateValue")
        if state:
            entries = [e for e in entries if e.state.value == state]
        action = params.get("ActionPrefix")
        if action:
            entries = [e for e in entries if any(a.startswith(action) for a in _all_actions(e))]
        entries = [e for e in entries if e.alarm.kind in types]
        limit = params.get("MaxRecords", 50)
        after = _decode_token(params.get("NextToken"), "DescribeAlarms")
        if after is not None:
            entries = [e for e in entries if e.alarm.name > after]
        page, more = entries[:limit], len(entries) > limit
        out: dict[str, Any] = {
            "MetricAlarms": [_metric(e) for e in page if isinstance(e.alarm, MetricAlarm)],
            "CompositeAlarms": [_composite(e) for e in page if isinstance(e.alarm, CompositeAlarm)],
        }
        if more:
            out["NextToken"] = _encode_token(page[-1].alarm.name)
        return out

    def _related(self, tenant: str, params: dict[str, Any], entries: list[Entry]) -> list[Entry]:
        others = [k for k in ("AlarmNames", "AlarmNamePrefix", "StateValue", "ActionPrefix")]
        if any(params.get(k) for k in others):
            raise AwsError(
                "InvalidParameterCombination",
                "ChildrenOfAlarmName and ParentsOfAlarmName can not be used with other filters.",
            )
        if "ChildrenOfAlarmName" in params:
            rule = self._engine.rule_of(tenant, params["ChildrenOfAlarmName"])
            if rule is None:
                return []
            children = set(rules.children(rules.parse(rule)))
            return [e for e in entries if e.alarm.name in children]
        parents = set(self._engine.parents(tenant, params["ParentsOfAlarmName"]))
        return [e for e in entries if e.alarm.name in parents]

    async def _describe_alarms_for_metric(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        dims = tuple(sorted((d["Name"], d["Value"]) for d in params.get("Dimensions", [])))
        out = []
        for e in self._engine.entries(ctx.tenant):
            a = e.alarm
            if not isinstance(a, MetricAlarm) or a.metric is None:
                continue
            if (a.metric.namespace, a.metric.name) != (params["Namespace"], params["MetricName"]):
                continue
            if "Dimensions" in params and a.metric.dimensions != dims:
                continue
            stat = params.get("Statistic") or params.get("ExtendedStatistic")
            if stat is not None and a.statistic != stat:
                continue
            if "Period" in params and a.period != params["Period"]:
                continue
            if "Unit" in params and a.unit != params["Unit"]:
                continue
            out.append(_metric(e))
        return {"MetricAlarms": out}

    async def _describe_alarm_history(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        if params.get("AlarmContributorId"):
            # vigil's alarms have no contributors (no Metrics Insights/PromQL alarms).
            return {"AlarmHistoryItems": []}
        limit = params.get("MaxRecords", 100)
        newest_first = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        after = _decode_token(params.get("NextToken"), "DescribeAlarmHistory")
        if after is not None and not (isinstance(after, list) and len(after) == 2):
            raise AwsError("InvalidNextToken", "The NextToken is not one this API returned.")
        items = await asyncio.to_thread(
            self._store.history,
            ctx.tenant,
            params.get("AlarmName"),
            types,
            params.get("HistoryItemType"),
            _ms(params.get("StartDate")),
            _ms(params.get("EndDate")),
            (int(after[0]), int(after[1])) if after else None,
            limit + 1,
            newest_first,
        )
        page = items[:limit]
        out: dict[str, Any] = {
            "AlarmHistoryItems": [
                {
                    "AlarmName": i.name,
                    "AlarmType": i.kind,
                    "Timestamp": _time(i.timestamp_ms),
                    "HistoryItemType": i.item_type,
                    "HistorySummary": i.summary,
                    "HistoryData": orjson.dumps(i.data).decode(),
                }
                for i in page
            ]
        }
        if len(items) > limit:
            out["NextToken"] = _encode_token([page[-1].timestamp_ms, page[-1].id])
        return out

    # --- anomaly detectors -------------------------------------------------------------

    async def _put_anomaly_detector(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        spec = _detector_spec(params)
        ident = _detector_id(spec)
        now = self._engine.now_ms()
        await asyncio.to_thread(self._store.put_detector, ctx.tenant, ident, spec, now)
        key = _detector_key(ctx.tenant, spec)
        if key is not None:
            self._engine.models.configs[key] = _config(spec.get("Configuration", {}))
            self._engine.models.forget(key)
        return {}

    async def _describe_anomaly_detectors(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(self._store.detectors)
        out = []
        for tenant, ident, spec in sorted(found, key=lambda d: d[1]):
            if tenant != ctx.tenant:
                continue
            single = spec.get("SingleMetricAnomalyDetector")
            if params.get("AnomalyDetectorTypes"):
                kind = "SINGLE_METRIC" if single else "METRIC_MATH"
                if kind not in params["AnomalyDetectorTypes"]:
                    continue
            if single:
                if params.get("Namespace") and single["Namespace"] != params["Namespace"]:
                    continue
                if params.get("MetricName") and single["MetricName"] != params["MetricName"]:
                    continue
                if "Dimensions" in params and _dims(single.get("Dimensions", [])) != _dims(
                    params["Dimensions"]
                ):
                    continue
            elif any(params.get(k) for k in ("Namespace", "MetricName")):
                continue
            item: dict[str, Any] = {
                "AnomalyDetectorId": ident,
                "Configuration": spec.get("Configuration", {}),
                "StateValue": "TRAINED",
                **{k: v for k, v in spec.items() if k != "Configuration"},
            }
            if single:
                item.update(
                    Namespace=single["Namespace"],
                    MetricName=single["MetricName"],
                    Dimensions=single.get("Dimensions", []),
                    Stat=single["Stat"],
                )
            out.append(item)
        limit = params.get("MaxResults", 100)
        after = _decode_token(params.get("NextToken"), "DescribeAnomalyDetectors")
        if after is not None:
            out = [d for d in out if d["AnomalyDetectorId"] > after]
        result: dict[str, Any] = {"AnomalyDetectors": out[:limit]}
        if len(out) > limit:
            result["NextToken"] = _encode_token(out[limit - 1]["AnomalyDetectorId"])
        return result

    async def _delete_anomaly_detector(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        spec = _detector_spec(params, deleting=True)
        ident = _detector_id(spec)
        if not await asyncio.to_thread(self._store.delete_detector, ctx.tenant, ident):
            raise AwsError(
                "ResourceNotFoundException", "This anomaly detection model does not exist.", 404
            )
        key = _detector_key(ctx.tenant, spec)
        if key is not None:
            self._engine.models.configs.pop(key, None)
            self._engine.models.forget(key)
        return {}


# --- shapes ------------------------------------------------------------------------------


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _state_fields(e: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "StateValue": e.state.value,
        "StateReason": e.state.reason,
        "StateUpdatedTimestamp": _time(e.state.updated_ms),
        "StateTransitionedTimestamp": _time(e.state.transitioned_ms),
        "AlarmConfigurationUpdatedTimestamp": _time(e.updated_ms),
    }
    if e.state.reason_data:
        out["StateReasonData"] = e.state.reason_data
    return out


def _metric(e: Entry) -> dict[str, Any]:
    spec = dict(e.spec)
    spec.setdefault("OKActions", [])
    spec.setdefault("AlarmActions", [])
    spec.setdefault("InsufficientDataActions", [])
    spec.setdefault("Dimensions", [] if "MetricName" in spec else None)
    if spec["Dimensions"] is None:
        del spec["Dimensions"]
    return {**spec, **_state_fields(e)}


def _composite(e: Entry) -> dict[str, Any]:
    spec = dict(e.spec)
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        spec.setdefault(key, [])
    out = {**spec, **_state_fields(e)}
    if e.state.suppressed_by:
        out["ActionsSuppressedBy"] = e.state.suppressed_by
        out["ActionsSuppressedReason"] = e.state.suppressed_reason or ""
    return out


def _all_actions(e: Entry) -> list[str]:
    a = e.alarm
    return [*a.ok_actions, *a.alarm_actions, *a.insufficient_data_actions]


def _dims(dims: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((d["Name"], d["Value"]) for d in dims)


def _detector_spec(params: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    single = params.get("SingleMetricAnomalyDetector")
    legacy = {
        k: params[k] for k in ("Namespace", "MetricName", "Dimensions", "Stat") if k in params
    }
    math = params.get("MetricMathAnomalyDetector")
    given = [x for x in (single, legacy or None, math) if x]
    if len(given) != 1:
        raise AwsError(
            "InvalidParameterCombination",
            "Exactly one of SingleMetricAnomalyDetector, MetricMathAnomalyDetector or"
            " Namespace/MetricName/Stat must be given.",
        )
    spec: dict[str, Any] = {}
    if math:
        queries = math.get("MetricDataQueries", [])
        if sum(1 for q in queries if q.get("ReturnData", True)) != 1:
            raise AwsError(
                "InvalidParameterValue",
                "Exactly one element of MetricDataQueries must have ReturnData set to true.",
            )
        spec["MetricMathAnomalyDetector"] = {"MetricDataQueries": queries}
    else:
        single = single or legacy
        for key in ("Namespace", "MetricName", "Stat"):
            if key not in single:
                raise AwsError("MissingParameter", f"The parameter {key} is required.")
        checks_stat(single["Stat"])
        spec["SingleMetricAnomalyDetector"] = {
            "Namespace": single["Namespace"],
            "MetricName": single["MetricName"],
            "Dimensions": [{"Name": n, "Value": v} for n, v in _dims(single.get("Dimensions", []))],
            "Stat": single["Stat"],
        }
    if not deleting:
        config = dict(params.get("Configuration", {}))
        tz = config.get("MetricTimezone")
        if tz is not None:
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(tz)
            except (KeyError, ValueError):
                raise AwsError(
                    "InvalidParameterValue", f"The MetricTimezone {tz} is not valid."
                ) from None
        spec["Configuration"] = config
    return spec


def checks_stat(stat: str) -> None:
    from vigil.query.metrics.statistics import StatisticError, parse_statistic

    try:
        parse_statistic(stat)
    except StatisticError:
        raise AwsError(
            "InvalidParameterValue", f"The value {stat} for parameter Stat is not supported."
        ) from None


def _detector_id(spec: dict[str, Any]) -> str:
    key = {k: v for k, v in spec.items() if k != "Configuration"}
    raw = orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _detector_key(tenant: str, spec: dict[str, Any]) -> DetectorKey | None:
    single = spec.get("SingleMetricAnomalyDetector")
    if single is None:
        return None
    dims = tuple((d["Name"], d["Value"]) for d in single.get("Dimensions", []))
    return (tenant, single["Namespace"], single["MetricName"], dims, single["Stat"])


def _config(config: dict[str, Any]) -> DetectorConfig:
    ranges = tuple(
        (int(r["StartTime"].timestamp()), int(r["EndTime"].timestamp()))
        for r in config.get("ExcludedTimeRanges", [])
    )
    return DetectorConfig(ranges, config.get("MetricTimezone"))


def _encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def _decode_token(token: str | None, operation: str) -> Any:
    if token is None:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise AwsError(
            "InvalidNextToken", f"The NextToken is not one that {operation} returned."
        ) from None


def load_detector_configs(engine: AlarmEngine, store: AlarmStore) -> None:
    """Give the engine's models the configuration of every stored detector (at start)."""
    for tenant, _ident, spec in store.detectors():
        key = _detector_key(tenant, spec)
        if key is not None:
            engine.models.configs[key] = _config(_revive_times(spec.get("Configuration", {})))


def _revive_times(config: dict[str, Any]) -> dict[str, Any]:
    ranges = []
    for r in config.get("ExcludedTimeRanges", []):
        ranges.append(
            {
                "StartTime": _parse_time(r["StartTime"]),
                "EndTime": _parse_time(r["EndTime"]),
            }
        )
    return {**config, "ExcludedTimeRanges": ranges}


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
