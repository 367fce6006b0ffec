"""Centralized sampling: rules in the state database, reservoir quotas handed to SDKs.

Rules (per tenant) are what X-Ray's CreateSamplingRule/UpdateSamplingRule/DeleteSamplingRule
manage; the ``Default`` rule (priority 10000, 1 request per second + 5 %, matching
everything) exists until it is updated, and cannot be deleted.

Targets follow X-Ray: every SDK reports, per rule, the requests it saw, sampled and
borrowed since its last report (``GetSamplingTargets``, every ~10 s). The rule's reservoir
(requests per second sampled before the fixed rate applies) is shared among the clients
that reported within the last 30 s, in proportion to their request rates (requests
over the time since their previous report, at least the 10 s interval; even shares
when none had requests), as whole quotas that add up to the reservoir (largest remainder,
ties by client id). A quota is valid for 10 s (``ReservoirQuotaTTL``); the statistics are
kept per 10 s window for ``GetSamplingStatisticSummaries``. Statistics and client demand
live in memory (they only ever describe the last minute); rules are durable.

Thread-safe. Rule methods block (state database): call them from worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    select,
    update,
)

from vigil.state.db import METADATA, Migrations
from vigil.state.rows import from_row

sampling_rules = Table(
    "xray_sampling_rules",
    METADATA,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("resource_arn", String(500), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("fixed_rate", Float, nullable=False),
    Column("reservoir_size", Integer, nullable=False),
    Column("service_name", String(64), nullable=False),
    Column("service_type", String(64), nullable=False),
    Column("host", String(64), nullable=False),
    Column("http_method", String(10), nullable=False),
    Column("url_path", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
)


def _create_tables(conn: Connection) -> None:
    sampling_rules.create(conn, checkfirst=True)


MIGRATIONS: Migrations = [("traces_0001_sampling_rules", _create_tables)]

DEFAULT_RULE = "Default"
MAX_RULES = 25  # X-Ray's limit, the default rule not counted
INTERVAL_S = 10
ACTIVE_NS = 30 * 10**9
SUMMARY_NS = 60 * 10**9


class SamplingError(Exception):
    """A request the rules cannot take; ``code`` is the X-Ray error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Rule:
    name: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    service_name: str = "*"
    service_type: str = "*"
    host: str = "*"
    http_method: str = "*"
    url_path: str = "*"
    resource_arn: str = "*"
    version: int = 1
    attributes: dict[str, str] = field(default_factory=dict)
    created_ms: int = 0
    modified_ms: int = 0


_FIELDS = {
    "Priority": "priority",
    "FixedRate": "fixed_rate",
    "ReservoirSize": "reservoir_size",
    "ServiceName": "service_name",
    "ServiceType": "service_type",
    "Host": "host",
    "HTTPMethod": "http_method",
    "URLPath": "url_path",
    "ResourceARN": "resource_arn",
    "Attributes": "attributes",
}


def default_rule() -> Rule:
    return Rule(DEFAULT_RULE, 10000, 0.05, 1)


def rule_record(rule: Rule, arn: str) -> dict[str, Any]:
    """The rule as X-Ray's ``SamplingRuleRecord``."""
    return {
        "SamplingRule": {
            "RuleName": rule.name,
            "RuleARN": arn,
            "ResourceARN": rule.resource_arn,
            "Priority": rule.priority,
            "FixedRate": rule.fixed_rate,
            "ReservoirSize": rule.reservoir_size,
            "ServiceName": rule.service_name,
            "ServiceType": rule.service_type,
            "Host": rule.host,
            "HTTPMethod": rule.http_method,
            "URLPath": rule.url_path,
            "Version": rule.version,
            "Attributes": rule.attributes,
        },
        "CreatedAt": rule.created_ms / 1000,
        "ModifiedAt": rule.modified_ms / 1000,
    }


def _check(rule: Rule) -> None:
    if not 1 <= rule.priority <= 9999 and rule.name != DEFAULT_RULE:
        raise SamplingError("InvalidRequestException", "Priority must be between 1 and 9999")
    if not 0 <= rule.fixed_rate <= 1:
        raise SamplingError("InvalidRequestException", "FixedRate must be between 0 and 1")
    if rule.reservoir_size < 0:
        raise SamplingError("InvalidRequestException", "ReservoirSize must not be negative")
    if rule.version != 1:
        raise SamplingError("InvalidRequestException", "Version must be 1")
    if rule.name == DEFAULT_RULE and any(
        getattr(rule, f) != "*"
        for f in ("service_name", "service_type", "host", "http_method", "url_path")
    ):
        raise SamplingError(
            "InvalidRequestException", "the Default rule matches everything: only its rates change"
        )


@dataclass(slots=True)
class _Window:
    start_ns: int
    requests: int = 0
    sampled: int = 0
    borrowed: int = 0


@dataclass(slots=True)
class _RuleState:
    clients: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (seen, rate)
    windows: list[_Window] = field(default_factory=list)


class SamplingRules:
    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], _RuleState] = {}
        self._modified: dict[str, int] = {}

    # --- rules (blocking) -------------------------------------------------------------

    def rules(self, tenant: str) -> list[Rule]:
        """All rules of a tenant, by priority then name; the default rule last."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(sampling_rules).where(sampling_rules.c.tenant == tenant)
            ).mappings()
            found = [self._rule(row) for row in rows]
        if not any(r.name == DEFAULT_RULE for r in found):
            found.append(default_rule())
        return sorted(found, key=lambda r: (r.priority, r.name))

    def get(self, tenant: str, name: str) -> Rule | None:
        return next((r for r in self.rules(tenant) if r.name == name), None)

    def last_modified_ms(self, tenant: str) -> int:
        return max((r.modified_ms for r in self.rules(tenant)), default=0)

    @staticmethod
    def _rule(row: Any) -> Rule:
        return from_row(Rule, row, json=("attributes",))

    def create(self, tenant: str, spec: dict[str, Any]) -> Rule:
        """Create from an X-Ray ``SamplingRule`` dict."""
        now_ms = self._clock() // 10**6
        name = spec["RuleName"]
        if name == DEFAULT_RULE:
            raise SamplingError(
                "InvalidRequestException", "the Default rule exists: update it instead"
            )
        rule = Rule(
            name=name,
            priority=spec["Priority"],
            fixed_rate=spec["FixedRate"],
            reservoir_size=spec["ReservoirSize"],
            created_ms=now_ms,
            modified_ms=now_ms,
        )
        for key, attr in _FIELDS.items():
            if key in spec:
                setattr(rule, attr, spec[key])
        rule.version = spec.get("Version", 1)
        _check(rule)
        with self._engine.begin() as conn:
            count = conn.execute(
                select(sampling_rules.c.name).where(
                    and_(sampling_rules.c.tenant == tenant, sampling_rules.c.name != DEFAULT_RULE)
                )
            ).all()
            names = {row[0] for row in count}
            if name in names:
                raise SamplingError("InvalidRequestException", f"rule {name} already exists")
            if len(names) >= MAX_RULES:
                raise SamplingError(
                    "RuleLimitExceededException", f"a tenant may have at most {MAX_RULES} rules"
                )
            conn.execute(sampling_rules.insert().values(**self._row(tenant, rule)))
        return rule

    def update(self, tenant: str, name: str, changes: dict[str, Any]) -> Rule:
        rule = self.get(tenant, name)
        if rule is None:
            raise SamplingError("InvalidRequestException", f"no sampling rule named {name}")
        for key, attr in _FIELDS.items():
            if key in changes and changes[key] is not None:
                setattr(rule, attr, changes[key])
        rule.modified_ms = self._clock() // 10**6
        if not rule.created_ms:
            rule.created_ms = rule.modified_ms
        _check(rule)
        with self._engine.begin() as conn:
            result = conn.execute(
                update(sampling_rules)
                .where(and_(sampling_rules.c.tenant == tenant, sampling_rules.c.name == name))
                .values(**self._row(tenant, rule))
            )
            if result.rowcount == 0:
                conn.execute(sampling_rules.insert().values(**self._row(tenant, rule)))
        return rule

    def delete(self, tenant: str, name: str) -> Rule:
        if name == DEFAULT_RULE:
            raise SamplingError("InvalidRequestException", "the Default rule cannot be deleted")
        rule = self.get(tenant, name)
        if rule is None:
            raise SamplingError("InvalidRequestException", f"no sampling rule named {name}")
        with self._engine.begin() as conn:
            conn.execute(
                delete(sampling_rules).where(
                    and_(sampling_rules.c.tenant == tenant, sampling_rules.c.name == name)
                )
            )
        with self._lock:
            self._state.pop((tenant, name), None)
            self._modified[tenant] = self._clock() // 10**6
        return rule

    def deleted_ms(self, tenant: str) -> int:
        return self._modified.get(tenant, 0)

    @staticmethod
    def _row(tenant: str, rule: Rule) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "name": rule.name,
            "resource_arn": rule.resource_arn,
            "priority": rule.priority,
            "fixed_rate": rule.fixed_rate,
            "reservoir_size": rule.reservoir_size,
            "service_name": rule.service_name,
            "service_type": rule.service_type,
            "host": rule.host,
            "http_method": rule.http_method,
            "url_path": rule.url_path,
            "version": rule.version,
            "attributes": orjson.dumps(rule.attributes).decode(),
            "created_ms": rule.created_ms,
            "modified_ms": rule.modified_ms,
        }

    # --- targets and statistics (memory; fast) ---------------------------------------

    def targets(
        self, tenant: str, rules: list[Rule], reports: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(SamplingTargetDocuments, UnprocessedStatistics) for an SDK's reports."""
        by_name = {r.name: r for r in rules}
        now = self._clock()
        done: list[dict[str, Any]] = []
        unprocessed: list[dict[str, Any]] = []
        with self._lock:
            for report in reports:
                rule = by_name.get(report["RuleName"])
                if rule is None:
                    unprocessed.append(
                        {
                            "RuleName": report["RuleName"],
                            "ErrorCode": "400",
                            "Message": f"no sampling rule named {report['RuleName']}",
                        }
                    )
                    continue
                state = self._state.setdefault((tenant, rule.name), _RuleState())
                self._record(state, report, now)
                quota = self._quota(state, rule.reservoir_size, report["ClientID"], now)
                done.append(
                    {
                        "RuleName": rule.name,
                        "FixedRate": rule.fixed_rate,
                        "ReservoirQuota": quota,
                        "ReservoirQuotaTTL": (now + INTERVAL_S * 10**9) / 1e9,
                        "Interval": INTERVAL_S,
                    }
                )
        return done, unprocessed

    def _record(self, state: _RuleState, report: dict[str, Any], now: int) -> None:
        client = report["ClientID"]
        requests = max(0, int(report.get("RequestCount", 0)))
        previous = state.clients.get(client)
        seconds = INTERVAL_S if previous is None else (now - previous[0]) / 1e9
        # SDKs report every 10 s; an early report must not look like a burst.
        seconds = min(max(seconds, float(INTERVAL_S)), 60.0)
        state.clients[client] = (now, requests / seconds)
        for cid, (seen, _) in list(state.clients.items()):
            if now - seen > ACTIVE_NS:
                del state.clients[cid]
        start = now - now % (INTERVAL_S * 10**9)
        if not state.windows or state.windows[-1].start_ns != start:
            state.windows.append(_Window(start))
            state.windows = [w for w in state.windows if now - w.start_ns <= SUMMARY_NS]
        window = state.windows[-1]
        window.requests += requests
        window.sampled += max(0, int(report.get("SampledCount", 0)))
        window.borrowed += max(0, int(report.get("BorrowCount", 0)))

    @staticmethod
    def _quota(state: _RuleState, reservoir: int, client: str, now: int) -> int:
        clients = sorted(state.clients.items())
        total = sum(rate for _, (_, rate) in clients)
        if total > 0:
            shares = [(cid, reservoir * rate / total) for cid, (_, rate) in clients]
        else:
            shares = [(cid, reservoir / len(clients)) for cid, _ in clients]
        quotas = {cid: int(share) for cid, share in shares}
        left = reservoir - sum(quotas.values())
        by_remainder = sorted(shares, key=lambda s: (-(s[1] - int(s[1])), s[0]))
        for cid, _ in by_remainder[:left]:
            quotas[cid] += 1
        return quotas.get(client, 0)

    def statistics(self, tenant: str) -> list[dict[str, Any]]:
        """Per rule, the counts reported over the last minute (SamplingStatisticSummary)."""
        now = self._clock()
        out = []
        with self._lock:
            for (t, name), state in sorted(self._state.items()):
                windows = [
                    w for w in state.windows if t == tenant and now - w.start_ns <= SUMMARY_NS
                ]
                if not windows:
                    continue
                out.append(
                    {
                        "RuleName": name,
                        "Timestamp": windows[0].start_ns / 1e9,
                        "RequestCount": sum(w.requests for w in windows),
                        "SampledCount": sum(w.sampled for w in windows),
                        "BorrowCount": sum(w.borrowed for w in windows),
                    }
                )
        return out
