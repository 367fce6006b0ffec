"""CloudWatch's alarm mute rules: PutAlarmMuteRule, GetAlarmMuteRule, ListAlarmMuteRules,
DeleteAlarmMuteRule (botocore's cloudwatch model), kept as silences of the notification
pipeline (``vigil.notify.mutes``: while a rule is active its alarms change state as usual
and their notifications wait, listed, until the mute ends).

As CloudWatch: Put creates or replaces by name; the targets must be existing alarms
(ResourceNotFound otherwise — vigil checks, the model lists no error for it, so the
validation code is used); at most 100 targets; Get of an unknown rule is
ResourceNotFoundException; Delete is idempotent; List filters by ``AlarmName`` and
``Statuses`` and pages with ``MaxRecords`` (default 50) and ``NextToken``
(InvalidNextToken). Tags given to Put are kept and shown by nothing else yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from vigil.api import pagetoken
from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.notify import mutes
from vigil.notify.silences import SilenceError
from vigil.notify.silencestore import SilenceStore
from vigil.state.alarms import alarms
from vigil.state.notifylog import NotificationLog

DEFAULT_PAGE = 50


class MuteRuleService(AwsService):
    model = "cloudwatch"
    validation_error = "InvalidParameterValue"
    missing_parameter_error = "MissingParameter"

    def __init__(
        self,
        store: SilenceStore,
        log: NotificationLog,
        engine: Engine,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._log = log
        self._engine = engine
        self._clock = clock

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutAlarmMuteRule": self._put,
            "GetAlarmMuteRule": self._get,
            "ListAlarmMuteRules": self._list,
            "DeleteAlarmMuteRule": self._delete,
        }

    def error_for(self, exc: Exception) -> AwsError | None:
        if isinstance(exc, mutes.MuteRuleError | SilenceError):
            return AwsError("InvalidParameterValue", str(exc))
        if isinstance(exc, pagetoken.BadToken):
            return AwsError("InvalidNextToken", "The NextToken is not valid")
        return None

    def _arn(self, ctx: RequestContext, name: str) -> str:
        return ctx.arn("cloudwatch", f"alarm-mute-rule:{name}")

    async def _put(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        names = list((params.get("MuteTargets") or {}).get("AlarmNames") or [])
        missing = await asyncio.to_thread(self._missing_alarms, ctx.tenant, names)
        if missing:
            raise AwsError(
                "ResourceNotFoundException",
                f"Mute targets name alarms that do not exist: {', '.join(sorted(missing))}",
                404,
            )
        silence = mutes.to_silence(
            params["Name"],
            ctx.tenant,
            str(params.get("Description") or ""),
            params["Rule"],
            names,
            _seconds(params.get("StartDate")),
            _seconds(params.get("ExpireDate")),
            list(params.get("Tags") or []),
            self._clock(),
        )
        await asyncio.to_thread(self._store.put, silence)
        return {}

    def _missing_alarms(self, tenant: str, names: list[str]) -> set[str]:
        if not names:
            return set()
        with self._engine.connect() as conn:
            found = set(
                conn.execute(
                    select(alarms.c.name).where(alarms.c.tenant == tenant, alarms.c.name.in_(names))
                ).scalars()
            )
        return set(names) - found

    async def _get(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = params["AlarmMuteRuleName"]
        silence = await asyncio.to_thread(self._store.get, ctx.tenant, mutes.PREFIX + name)
        if silence is None or not mutes.is_mute_rule(silence):
            raise AwsError(
                "ResourceNotFoundException", f"Alarm mute rule {name} does not exist", 404
            )
        return mutes.describe(silence, self._arn(ctx, name), self._clock())

    async def _list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        offset = pagetoken.decode(params.get("NextToken"), pagetoken.is_offset) or 0
        limit = int(params.get("MaxRecords") or DEFAULT_PAGE)
        alarm = params.get("AlarmName")
        statuses = set(params.get("Statuses") or [])
        now = self._clock()
        rules = [
            s
            for s in await asyncio.to_thread(self._store.all, ctx.tenant)
            if mutes.is_mute_rule(s)
            and (alarm is None or alarm in mutes.targets(s))
            and (not statuses or mutes.status(s, now) in statuses)
        ]
        rules.sort(key=lambda s: s.id)
        page = rules[offset : offset + limit]
        summaries = []
        for s in page:
            d = mutes.describe(s, self._arn(ctx, s.id.removeprefix(mutes.PREFIX)), now)
            summaries.append(
                {
                    k: d[k]
                    for k in (
                        "AlarmMuteRuleArn",
                        "ExpireDate",
                        "Status",
                        "MuteType",
                        "LastUpdatedTimestamp",
                    )
                    if k in d
                }
            )
        out: dict[str, Any] = {"AlarmMuteRuleSummaries": summaries}
        if offset + limit < len(rules):
            out["NextToken"] = pagetoken.encode(offset + limit)
        return out

    async def _delete(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        # Idempotent. What the rule was holding back is released at once (CloudWatch:
        # "alarms currently being muted by that rule are immediately unmuted").
        name = params["AlarmMuteRuleName"]
        if await asyncio.to_thread(self._store.delete, ctx.tenant, mutes.PREFIX + name):
            await asyncio.to_thread(
                self._log.release, ctx.tenant, mutes.reason(name), int(self._clock() * 1000)
            )
        return {}


def _seconds(value: datetime | float | None) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)
