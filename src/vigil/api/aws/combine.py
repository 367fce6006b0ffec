"""Several services of one AWS API (CloudWatch metrics, dashboards, alarms …) behind one
dispatcher entry.

``combine(services)`` merges the services that share a botocore model into one
``AwsService`` that routes each operation to the service that lists it; the optional
members (``body_operations``, ``raw_operations``, ``request_limits``) are merged too, and
the error codes are the first service's. Two services listing the same operation is a
wiring error (``ValueError``).
"""

from __future__ import annotations

from typing import Any

from vigil.api.aws.interface import AwsService, RequestContext


class _Combined:
    def __init__(self, services: list[AwsService]) -> None:
        first = services[0]
        self.model = first.model
        self.validation_error = first.validation_error
        missing = getattr(first, "missing_parameter_error", None)
        if missing is not None:
            self.missing_parameter_error = missing
        self._by_operation: dict[str, AwsService] = {}
        self.body_operations: frozenset[str] = frozenset()
        self.raw_operations: frozenset[str] = frozenset()
        self.request_limits: dict[str, int] = {}
        for service in services:
            for operation in service.operations:
                if operation in self._by_operation:
                    raise ValueError(f"two {self.model} services answer {operation}")
                self._by_operation[operation] = service
            self.body_operations |= getattr(service, "body_operations", frozenset())
            self.raw_operations |= getattr(service, "raw_operations", frozenset())
            self.request_limits.update(getattr(service, "request_limits", {}))
        self.operations = frozenset(self._by_operation)

    async def call(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        return await self._by_operation[operation].call(operation, params, ctx)


def combine(services: list[AwsService]) -> list[AwsService]:
    by_model: dict[str, list[AwsService]] = {}
    for service in services:
        by_model.setdefault(service.model, []).append(service)
    return [group[0] if len(group) == 1 else _Combined(group) for group in by_model.values()]
