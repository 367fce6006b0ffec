"""Several services of one AWS model behind one target prefix (CloudWatch metrics and
CloudWatch alarms are both ``cloudwatch``): routes each operation to the service that
implements it. The front door (issue 10) may replace this with its operation table."""

from __future__ import annotations

from typing import Any

from vigil.api.aws.interface import AwsService, RequestContext


class Combined:
    def __init__(self, *services: AwsService) -> None:
        first = services[0]
        if any(s.model != first.model for s in services):
            raise ValueError("combined services must share their model")
        self.model = first.model
        self.validation_error = first.validation_error
        self.missing_parameter_error: str | None = getattr(first, "missing_parameter_error", None)
        self._by_operation: dict[str, AwsService] = {}
        self.body_operations: frozenset[str] = frozenset()
        self.raw_operations: frozenset[str] = frozenset()
        self.request_limits: dict[str, int] = {}
        for service in services:
            for operation in service.operations:
                if operation in self._by_operation:
                    raise ValueError(f"{operation} is implemented twice")
                self._by_operation[operation] = service
            self.body_operations |= frozenset(getattr(service, "body_operations", ()))
            self.raw_operations |= frozenset(getattr(service, "raw_operations", ()))
            self.request_limits.update(getattr(service, "request_limits", {}))
        self.operations = frozenset(self._by_operation)

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self._by_operation[operation].call(operation, params, ctx)
