"""Tags of CloudWatch resources that exist (registered by the part of vigil that owns them),
against a real SQLite state database. (Through the wire vigil has no alarms yet, so
tests/test_cloudwatch_api.py checks the ResourceNotFoundException side with boto3.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.state.cloudwatch_resources import CloudWatchResources, ResourceRef, parse_arn
from vigil.state.db import open_state
from vigil.state.metrictags import NoSuchResource, TagStore, TooManyTags

ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:HighCPU"


def _store(tmp_path: Path, alarms: set[tuple[str, str]]) -> TagStore:
    resources = CloudWatchResources()
    resources.register("alarm", lambda tenant, name: (tenant, name) in alarms)
    return TagStore(open_state(f"sqlite:///{tmp_path / 'state.db'}"), resources)


def test_parse_arn() -> None:
    assert parse_arn(ARN) == ResourceRef("alarm", "HighCPU")
    assert parse_arn("arn:aws:cloudwatch:eu-west-1:1:alarm:a:b") == ResourceRef("alarm", "a:b")
    assert parse_arn("arn:aws:cloudwatch:us-east-1:1:metric-stream/s") == ResourceRef(
        "metric-stream", "s"
    )
    assert parse_arn("arn:aws:cloudwatch:us-east-1:1:dashboard/d") == ResourceRef("dashboard", "d")
    assert parse_arn("arn:aws:s3:::bucket") is None
    assert parse_arn("arn:aws:cloudwatch:us-east-1:1:widget/x") is None


def test_tags_of_an_existing_resource(tmp_path: Path) -> None:
    alarms = {("t1", "HighCPU")}
    tags = _store(tmp_path, alarms)
    ref = ResourceRef("alarm", "HighCPU")
    tags.tag("t1", ARN, ref, {"team": "core", "env": "prod"})
    tags.tag("t1", ARN, ref, {"env": "dev"})
    assert tags.tags("t1", ARN, ref) == {"team": "core", "env": "dev"}
    tags.untag("t1", ARN, ref, ["team"])
    assert tags.tags("t1", ARN, ref) == {"env": "dev"}
    with pytest.raises(TooManyTags):
        tags.tag("t1", ARN, ref, {f"k{i}": "v" for i in range(50)})
    # Another tenant's alarm of the same name does not exist.
    with pytest.raises(NoSuchResource):
        tags.tags("t2", ARN, ref)
    # Deleted: its tags go, and a new alarm of that name starts untagged.
    alarms.clear()
    with pytest.raises(NoSuchResource):
        tags.tag("t1", ARN, ref, {"a": "b"})
    tags.forget("t1", ARN)
    alarms.add(("t1", "HighCPU"))
    assert tags.tags("t1", ARN, ref) == {}


def test_unregistered_kinds_have_no_resources(tmp_path: Path) -> None:
    tags = _store(tmp_path, set())
    ref = ResourceRef("dashboard", "d")
    with pytest.raises(NoSuchResource, match="dashboard 'd' does not exist"):
        tags.tags("t1", "arn:aws:cloudwatch:us-east-1:1:dashboard/d", ref)
    with pytest.raises(ValueError, match="unknown CloudWatch resource kind"):
        CloudWatchResources().register("widget", lambda tenant, name: True)
