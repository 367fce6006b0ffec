"""Which CloudWatch resources exist, for the operations that name one by ARN (the tags).

CloudWatch tags alarms, Contributor Insights rules, metric streams and dashboards, and
answers ``ResourceNotFoundException`` (404) for an ARN that names none of them. Those
resources belong to other parts of vigil: each registers a lookup for its kind
(``register("alarm", exists)``, ``exists(tenant, name) -> bool``, blocking: called from
worker threads). A kind that no part registered has no resources, so tagging one of its
ARNs answers ResourceNotFoundException, exactly as CloudWatch does for a deleted alarm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("alarm", "insight-rule", "metric-stream", "dashboard")

_ARN = re.compile(
    r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]*:\d*:"
    r"(?:(?P<alarm>alarm):(?P<alarm_name>.+)"
    r"|(?P<kind>insight-rule|metric-stream|dashboard)/(?P<name>.+))$"
)


@dataclass(frozen=True, slots=True)
class ResourceRef:
    kind: str  # one of KINDS
    name: str


def parse_arn(arn: str) -> ResourceRef | None:
    """The resource a CloudWatch ARN names, None if it is not a CloudWatch resource ARN."""
    match = _ARN.match(arn)
    if match is None:
        return None
    if match["alarm"]:
        return ResourceRef("alarm", match["alarm_name"])
    return ResourceRef(match["kind"], match["name"])


class CloudWatchResources:
    def __init__(self) -> None:
        self._lookups: dict[str, Callable[[str, str], bool]] = {}

    def register(self, kind: str, exists: Callable[[str, str], bool]) -> None:
        """Make resources of ``kind`` (one of ``KINDS``) known through ``exists``."""
        if kind not in KINDS:
            raise ValueError(f"unknown CloudWatch resource kind {kind!r}")
        self._lookups[kind] = exists

    def exists(self, tenant: str, ref: ResourceRef) -> bool:
        lookup = self._lookups.get(ref.kind)
        return lookup is not None and lookup(tenant, ref.name)
