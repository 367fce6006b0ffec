"""Retention: table TTLs for metrics and traces, a background pass for log groups.

Metrics and spans expire by ClickHouse TTL (whole day partitions are dropped). Logs expire
per log group: a group's own retention, else the server-wide default, else never; a
background pass deletes what is older (lightweight DELETE), so that changing a group's
retention takes effect on its existing data too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date

from vigil.state.loggroups import LogGroupRegistry
from vigil.store.interface import Store

log = logging.getLogger(__name__)

DAY_NS = 86400 * 10**9


def apply_table_ttls(store: Store, metric_days: int, trace_days: int) -> None:
    """Make the tables' TTL match the configuration (no-op when it already does)."""
    wanted = {
        "metrics": f"toDateTime(timestamp) + toIntervalDay({metric_days})",
        "spans": f"toDateTime(start_time) + toIntervalDay({trace_days})",
        "trace_index": f"toDateTime(end) + toIntervalDay({trace_days})",
        "trace_summary": f"hour + toIntervalDay({trace_days})",
        "xray_in_progress": f"toDateTime(start_time) + toIntervalDay({trace_days})",
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


def enforce_log_retention(
    store: Store, registry: LogGroupRegistry, default_days: int | None, now_ns: int
) -> int:
    """Delete log rows older than their group's retention; returns the statements run."""
    explicit: dict[tuple[str, int], list[str]] = defaultdict(list)
    named: dict[str, list[str]] = defaultdict(list)
    for group in registry.groups():
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
