"""CloudWatch dashboards: PutDashboard, GetDashboard, ListDashboards, DeleteDashboards.

Thin: the body is validated by ``model.dashboard`` (a body with any problem stores
nothing: ``InvalidParameterInput`` with ``dashboardValidationMessages`` naming each path)
and kept by ``state.dashboards``. Dashboards are CloudWatch resources for the tag
operations (registered as the "dashboard" kind); deleting one drops its tags. Its own
service object of the ``cloudwatch`` model: the front door merges its operations with the
metrics ones.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.model.dashboard import NAME_RE, Problem, validate
from vigil.state.cloudwatch_resources import CloudWatchResources
from vigil.state.dashboards import DashboardNotFound, Dashboards
from vigil.state.metrictags import TagStore

LIST_PAGE = 1000


def dashboard_arn(ctx: RequestContext, name: str) -> str:
    # Dashboards are global: their ARN names no region.
    return f"arn:aws:cloudwatch::{ctx.account_id}:dashboard/{name}"


def invalid_body(problems: list[Problem]) -> AwsError:
    listed = json.dumps(
        [{"dataPath": p.data_path, "message": p.message} for p in problems], indent=1
    )
    return AwsError(
        "InvalidParameterInput",
        f"The dashboard body is invalid, there are {len(problems)} validation errors: {listed}",
        details={"dashboardValidationMessages": [p.as_aws() for p in problems]},
    )


def check_name(name: str, field: str = "DashboardName") -> None:
    if not NAME_RE.match(name):
        raise AwsError(
            "InvalidParameterInput",
            f"The value for field {field} contains invalid characters. It can only contain"
            " alphanumerics, dash (-) and underscore (_), at most 255 of them.",
            details={
                "dashboardValidationMessages": [
                    {"DataPath": field, "Message": "Invalid dashboard name"}
                ]
            },
        )


class DashboardsService(AwsService):
    model: ClassVar[str] = "cloudwatch"
    validation_error: ClassVar[str] = "InvalidParameterValue"
    missing_parameter_error: ClassVar[str | None] = "MissingParameter"
    constraint_error: ClassVar[str | None] = "ValidationError"

    def __init__(
        self, dashboards: Dashboards, tags: TagStore, resources: CloudWatchResources
    ) -> None:
        self._dashboards = dashboards
        self._tags = tags
        resources.register("dashboard", dashboards.exists)

    def operations(self) -> Mapping[str, Handler]:
        return {
            "PutDashboard": self._put,
            "GetDashboard": self._get,
            "ListDashboards": self._list,
            "DeleteDashboards": self._delete,
        }

    async def _put(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name, text = params["DashboardName"], params["DashboardBody"]
        check_name(name)
        _, problems = validate(text)
        if problems:
            raise invalid_body(problems)
        await asyncio.to_thread(self._dashboards.put, ctx.tenant, name, text)
        return {"DashboardValidationMessages": []}

    async def _get(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = params.get("DashboardName")
        if not name:
            raise AwsError("InvalidParameterValue", "DashboardName is required")
        found = await asyncio.to_thread(self._dashboards.get, ctx.tenant, name)
        if found is None:
            raise AwsError("ResourceNotFound", "Dashboard does not exist", 404)
        return {
            "DashboardArn": dashboard_arn(ctx, found.name),
            "DashboardBody": found.body,
            "DashboardName": found.name,
        }

    async def _list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        prefix = params.get("DashboardNamePrefix", "")
        after = _decode_token(params.get("NextToken"))
        found = await asyncio.to_thread(
            self._dashboards.list, ctx.tenant, prefix, after, LIST_PAGE + 1
        )
        out: dict[str, Any] = {
            "DashboardEntries": [
                {
                    "DashboardName": d.name,
                    "DashboardArn": dashboard_arn(ctx, d.name),
                    "LastModified": datetime.fromtimestamp(d.modified_ms / 1000, UTC),
                    "Size": d.size,
                }
                for d in found[:LIST_PAGE]
            ]
        }
        if len(found) > LIST_PAGE:
            out["NextToken"] = base64.urlsafe_b64encode(found[LIST_PAGE - 1].name.encode()).decode()
        return out

    async def _delete(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        names: list[str] = params["DashboardNames"]
        if not names:
            raise AwsError("InvalidParameterValue", "DashboardNames must name a dashboard")
        try:
            await asyncio.to_thread(self._dashboards.delete, ctx.tenant, names)
        except DashboardNotFound as exc:
            raise AwsError(
                "ResourceNotFound", f"Dashboards {', '.join(exc.names)} do not exist", 404
            ) from None
        for name in names:
            for arn in (dashboard_arn(ctx, name), ctx.arn("cloudwatch", f"dashboard/{name}")):
                await asyncio.to_thread(self._tags.forget, ctx.tenant, arn)
        return {}


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AwsError(
            "InvalidParameterValue", "The NextToken is not one this API returned."
        ) from None
