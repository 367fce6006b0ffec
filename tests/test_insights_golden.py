"""Runs every golden file of the Logs Insights language (see tests/golden_insights.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests import golden_insights as g
from tests.golden.frame import Frame
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    return boto3.client(
        "logs",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="golden",
        aws_secret_access_key="golden",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.mark.parametrize("path", g.all_files(), ids=lambda p: p.stem)
def test_golden(path: Path, vigil: VigilProcess, logs: Any) -> None:
    kind = g.Insights(vigil.otlp_http_url, logs, group="/golden/" + path.stem)
    frame = Frame().register("logs", kind).register("insights", kind)
    assert frame.run(path) > 0, f"{path} has no eval"


def test_golden_files_cover_the_language() -> None:
    """Every command and function of the issue appears in some golden query."""
    text = "\n".join(p.read_text() for p in g.all_files()).lower()
    words = [
        "fields", "display", "filter", "stats", "sort", "limit", "parse", "dedup", "unnest",
        "pattern", "diff", "source loggroups(nameprefix",
        "abs(", "ceil(", "floor(", "greatest(", "least(", "log(", "sqrt(", "ispresent(",
        "coalesce(", "isempty(", "isblank(", "concat(", "ltrim(", "rtrim(", "trim(", "strlen(",
        "toupper(", "tolower(", "substr(", "replace(", "strcontains(", "bin(", "datefloor(",
        "dateceil(", "frommillis(", "tomillis(", "isvalidip(", "isvalidipv4(", "isvalidipv6(",
        "isipinsubnet(", "isipv4insubnet(", "isipv6insubnet(", "jsonparse(", "avg(", "count(",
        "count_distinct(", "max(", "min(", "pct(", "stddev(", "sum(", "earliest(", "latest(",
        "sortsfirst(", "sortslast(", " like ", "=~", " in [", "not in [", "(?i)",
    ]  # fmt: skip
    missing = [w for w in words if w not in text]
    assert not missing, missing
