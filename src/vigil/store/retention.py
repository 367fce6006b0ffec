"""Retention: table TTLs for metrics and traces, a background pass for log groups.

Metrics follow a retention ladder (CloudWatch's by default): high-resolution raw points
3 h, one-minute data 15 days (standard-resolution raw points and the 1-minute rollup of
high-resolution ones), 5-minute rollups 63 days, 1-hour rollups 455 days; each expires by
ClickHouse TTL (rollups drop whole partitions, so they may keep up to one partition
longer). Spans expire by TTL too. Logs expire
per log group: a group's own retention, else the server-wide default, else never; a
background pass deletes what is older (lightweight DELETE), so that changing a group's
retention takes effect on its existing data too.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from vigil.store.interface import Store

log = logging.getLogger(__name__)

DAY_NS = 86400 * 10**9


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LEVELS = ("raw", "1m", "5m", "1h")


@dataclass(frozen=True, slots=True)
class MetricRetention:
    """Seconds each metric resolution is kept: raw points, then each rollup."""

    raw: int = 3 * 3600
    minute: int = 15 * 86400
    five_minutes: int = 63 * 86400
    hour: int = 455 * 86400

    def of(self, level: str) -> int:
        return {"raw": self.raw, "1m": self.minute, "5m": self.five_minutes, "1h": self.hour}[level]

    def text(self) -> str:
        return ",".join(f"{level}={self.of(level)}s" for level in LEVELS)

    def capped(self, seconds: int) -> MetricRetention:
        """The ladder keeping nothing longer than ``seconds``, the 1-hour level exactly that."""
        return MetricRetention(
            min(self.raw, seconds),
            min(self.minute, seconds),
            min(self.five_minutes, seconds),
            seconds,
        )


def parse_retention(text: str, base: MetricRetention | None = None) -> MetricRetention:
    """``raw=3h,1m=15d,5m=63d,1h=455d`` (any subset; units s m h d w) → MetricRetention."""
    values = {level: (base or MetricRetention()).of(level) for level in LEVELS}
    for item in filter(None, (part.strip() for part in text.split(","))):
        level, _, duration = item.partition("=")
        match = _DURATION.match(duration.strip())
        if level.strip() not in values or match is None:
            raise ValueError(
                f"{item!r} is not LEVEL=DURATION with LEVEL one of {', '.join(LEVELS)}"
                " and DURATION like 3h or 15d"
            )
        values[level.strip()] = int(match.group(1)) * _SECONDS[match.group(2)]
    ladder = [values[level] for level in LEVELS]
    if any(s <= 0 for s in ladder):
        raise ValueError("every retention must be positive")
    if any(finer > coarser for finer, coarser in itertools.pairwise(ladder)):
        raise ValueError(f"a coarser level must be kept at least as long as a finer one: {text!r}")
    return MetricRetention(*ladder)


def expire_metric_rollups(store: Store, retention: MetricRetention, now_ns: int) -> int:
    """Delete rollup rows past their level's retention (TTL does it too, but lazily, on
    ClickHouse's merge schedule); returns the statements run."""
    runs = 0
    for table, seconds in (
        ("metric_rollup_5m", retention.five_minutes),
        ("metric_rollup_1h", retention.hour),
    ):
        params = {"cutoff": now_ns // 10**9 - seconds}
        where = "timestamp < toDateTime({cutoff:Int64})"
        if store.query_sync(f"SELECT count() FROM {table} WHERE {where}", params).rows[0][0]:
            log.info("retention: deleting %s rows older than %s s", table, seconds)
            # A lightweight DELETE: the rows are gone for queries when it returns.
            store.command(f"DELETE FROM {table} WHERE {where}", params)
            runs += 1
    return runs


def apply_table_ttls(store: Store, metrics: MetricRetention, trace_days: int) -> None:
    """Make the tables' TTL match the configuration (no-op when it already does)."""
    wanted = {
        "metrics": (
            f"toDateTime(timestamp) + toIntervalSecond({metrics.raw}) WHERE resolution = 1,"
            f" toDateTime(timestamp) + toIntervalSecond({metrics.minute})"
        ),
        "metric_rollup_1m": f"timestamp + toIntervalSecond({metrics.minute})",
        "metric_rollup_5m": f"timestamp + toIntervalSecond({metrics.five_minutes})",
        "metric_rollup_1h": f"timestamp + toIntervalSecond({metrics.hour})",
        "spans": f"toDateTime(start_time) + toIntervalDay({trace_days})",
        "trace_index": f"toDateTime(end) + toIntervalDay({trace_days})",
        "trace_summary": f"hour + toIntervalDay({trace_days})",
        "xray_in_progress": f"toDateTime(start_time) + toIntervalDay({trace_days})",
        "service_graph": f"minute + toIntervalDay({trace_days})",
    }
    current = {
        name: engine
        for name, engine in store.query_sync(
            "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
            " AND name IN {tables:Array(String)}",
            {"tables": sorted(wanted)},
        ).rows
    }
    for table, expr in wanted.items():
        if f"TTL {expr}" not in current.get(table, ""):
            log.info("setting TTL of %s: %s", table, expr)
            store.command(f"ALTER TABLE {table} MODIFY TTL {expr}")


class LogGroupRetention(Protocol):
    """What the pass needs of a log group (state's ``LogGroupRegistry.groups()`` yields
    them); the store does not import state, the caller passes the listing in."""

    @property
    def tenant(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def retention_days(self) -> int | None: ...


def enforce_log_retention(
    store: Store,
    list_groups: Callable[[], Iterable[LogGroupRetention]],
    default_days: int | None,
    now_ns: int,
) -> int:
    """Delete log rows older than their group's retention; returns the statements run.
    ``list_groups`` lists every log group with its own retention (None: the default)."""
    explicit: dict[tuple[str, int], list[str]] = defaultdict(list)
    named: dict[str, list[str]] = defaultdict(list)
    for group in list_groups():
        named[group.tenant].append(group.name)
        if group.retention_days is not None:
            explicit[(group.tenant, group.retention_days)].append(group.name)
    runs = 0
    for (tenant, days), groups in explicit.items():
        runs += _delete(
            store,
            "log_group IN {groups:Array(String)}",
            {"tenant": tenant, "groups": groups, "cutoff": now_ns - days * DAY_NS},
        )
    if default_days is not None:
        tenants = set(named) | {
            row[0] for row in store.query_sync("SELECT DISTINCT tenant FROM log_streams").rows
        }
        for tenant in tenants:
            with_own = [g for (t, _), gs in explicit.items() if t == tenant for g in gs]
            runs += _delete(
                store,
                "log_group NOT IN {groups:Array(String)}",
                {"tenant": tenant, "groups": with_own, "cutoff": now_ns - default_days * DAY_NS},
            )
    return runs


def _delete(store: Store, group_condition: str, params: dict[str, object]) -> int:
    where = (
        f"tenant = {{tenant:String}} AND {group_condition}"
        " AND timestamp < fromUnixTimestamp64Nano({cutoff:Int64})"
    )
    expired = store.query_sync(f"SELECT count() FROM logs WHERE {where}", params).rows[0][0]
    if not expired:
        return 0
    log.info("retention: deleting %d expired log rows (%s)", expired, params.get("groups"))
    store.command(f"DELETE FROM logs WHERE {where}", params)
    return 1


def drop_expired_partitions(store: Store, days: dict[str, int], now_ns: int) -> int:
    """Drop whole day partitions past their table's retention; returns partitions dropped.

    TTL does the same in the background (on ClickHouse's schedule); this pass makes
    expiry happen within one retention interval.
    """
    today = now_ns // DAY_NS  # days since the epoch
    rows = store.query_sync(
        "SELECT DISTINCT table, partition FROM system.parts WHERE active"
        " AND database = currentDatabase() AND table IN {tables:Array(String)}",
        {"tables": sorted(days)},
    ).rows
    dropped = 0
    for table, partition in rows:
        day = _partition_day(str(partition))
        # The partition of day D holds rows of D only: all expired once D + 1 <= today - N.
        if day is not None and day + 1 + days[table] <= today:
            log.info("retention: dropping partition %s of %s", partition, table)
            store.command(f"ALTER TABLE {table} DROP PARTITION {{p:String}}", {"p": str(partition)})
            dropped += 1
    return dropped


def _partition_day(partition: str) -> int | None:
    try:
        return (date.fromisoformat(partition.strip("'")) - date(1970, 1, 1)).days
    except ValueError:
        return None
