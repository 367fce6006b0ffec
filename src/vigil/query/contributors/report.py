"""A Contributor Insights report computed in the store over the rule's log groups.

A rule's matching events (log groups, time range, every key present, every filter true,
a numeric ``ValueOf`` for Sum rules) are grouped by period and contributor (the keys'
values) in ClickHouse; each group has its event count, the sum, minimum and maximum of
its values (1 per event for Count rules). From those groups, two statements:

* the periods: ``UniqueContributors``, ``MaxContributorValue`` (the top contributor's
  value in that period), ``SampleCount`` (matching events), ``Sum``, ``Minimum`` and
  ``Maximum`` (of single observations), ``Average`` (``Sum`` / ``UniqueContributors``:
  the average value of a contributor, as "the average value from all contributors" reads);
* the top contributors (``topK``: ordered by their total, or by their largest period
  value for ``OrderBy=Maximum``; ties by keys), each with its value per period, along
  with the number of distinct contributors and the rule's total (window functions over
  the grouped rows, before the LIMIT).

Counts are exact (``uniqExact``, ``count``), which the API calls "approximate". Report
periods are epoch-aligned (``t - t % period``), INSIGHT_RULE_METRIC's are its grid's;
events are those with ``start <= timestamp < end``.
Reading a field: a JSON property path is a leaf value of the message (the ``fields``
column, parsed at insert, as Logs Insights reads it: strings as they are, numbers and
booleans as text; a path naming an object is not present); a path with an array index
(``$.users[1].name``) is read from the message with ``JSONExtract*``. A CLF position
reads the message split into space-separated tokens (``"…"`` and ``[…]`` kept whole,
their quotes and brackets dropped).
User strings are bound as parameters, never spliced into SQL.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from vigil.query.contributors.rule import Field, Filter, RuleDefinition
from vigil.store.interface import Store

METRICS = (
    "UniqueContributors",
    "MaxContributorValue",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
    "Average",
)
# Path segments that read as backquoted subcolumn names of ``fields`` (as Insights reads).
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_@$\-:/ ]+$")
# Paths the store keeps as LowCardinality columns of their exact text reading (store
# migration 0105; Logs Insights reads them the same way).
_TEXT_COLUMNS = {"level": "field_level", "message": "field_message"}
# The CLF tokenizer: a quoted string, a bracketed one, or a run of non-spaces.
_CLF_TOKENS = r'"[^"]*"|\[[^\]]*\]|[^ ]+'


@dataclass(slots=True)
class Contributor:
    keys: list[str]
    value: float  # its total over the range
    datapoints: list[tuple[int, float]]  # (period start, its value), periods it appears in


@dataclass(slots=True)
class Report:
    key_labels: list[str]
    aggregation: str  # Count | Sum
    aggregate_value: float
    unique_count: int
    contributors: list[Contributor] = field(default_factory=list)
    # period start → metric name → value (every metric of METRICS)
    periods: dict[int, dict[str, float]] = field(default_factory=dict)


class _Binder:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"


def _path_args(b: _Binder, f: Field) -> str:
    parts = [str(p + 1) if isinstance(p, int) else b.bind(p, "String") for p in f.path]
    return ", ".join(["body", *parts])


def _column(f: Field) -> str | None:
    """The path as a subcolumn of ``fields`` (the message's JSON, parsed at insert), or
    None when it cannot be one (an array index, a name that needs escaping)."""
    if not all(isinstance(p, str) and _SAFE_SEGMENT.match(p) for p in f.path):
        return None
    return "fields." + ".".join(f"`{p}`" for p in f.path)


def _present(b: _Binder, rule: RuleDefinition, f: Field) -> str:
    if rule.log_format == "CLF":
        return f"length(tokens) >= {f.position}"
    if _column(f) is not None:
        return f"{_text(b, rule, f)} IS NOT NULL"  # the same expression: computed once
    return f"JSONHas({_path_args(b, f)})"


def _text(b: _Binder, rule: RuleDefinition, f: Field) -> str:
    if rule.log_format == "CLF":
        return f"tokens[{f.position}]"
    column = _column(f)
    if len(f.path) == 1 and f.path[0] in _TEXT_COLUMNS:
        return _TEXT_COLUMNS[str(f.path[0])]
    if column is not None:
        # The String subcolumn is the common case and cheap; other types are cast (``if``
        # evaluates the cast only for the rows that need it).
        text = f"{column}.:String"
        return f"if({text} IS NOT NULL, {text}, CAST({column} AS Nullable(String)))"
    args = _path_args(b, f)
    return f"if(JSONType({args}) = 'String', JSONExtractString({args}), JSONExtractRaw({args}))"


def _filter(b: _Binder, rule: RuleDefinition, flt: Filter) -> str:
    present = _present(b, rule, flt.field)
    if flt.operator == "IsPresent":
        return present if flt.present else f"NOT {present}"
    text = _text(b, rule, flt.field)
    if flt.operator in ("In", "NotIn", "StartsWith"):
        values = b.bind(list(flt.values), "Array(String)")
        test = {
            "In": f"has({values}, {text})",
            "NotIn": f"NOT has({values}, {text})",
            "StartsWith": f"arrayExists(x -> startsWith({text}, x), {values})",
        }[flt.operator]
        return f"({present} AND {test})"
    op = {"GreaterThan": ">", "LessThan": "<", "EqualTo": "=", "NotEqualTo": "!="}[flt.operator]
    return f"({present} AND toFloat64OrNull({text}) {op} {b.bind(flt.number, 'Float64')})"


def _groups_sql(
    rule: RuleDefinition, tenant: str, start: int, end: int, period: int, origin: int
) -> tuple[str, dict[str, Any]]:
    """Rows (b: period start, k: keys, n, s, lo, hi) of the rule's matching events; the
    periods are ``origin + i * period``."""
    b = _Binder()
    groups = [f"log_group IN {b.bind(list(rule.log_groups), 'Array(String)')}"]
    groups += [f"startsWith(log_group, {b.bind(p, 'String')})" for p in rule.prefixes]
    keys = [_text(b, rule, k) for k in rule.keys]
    where = [f"tenant = {b.bind(tenant, 'String')}", f"({' OR '.join(groups)})"]
    where.append(f"timestamp >= fromUnixTimestamp64Milli({b.bind(start * 1000, 'Int64')})")
    where.append(f"timestamp < fromUnixTimestamp64Milli({b.bind(end * 1000, 'Int64')})")
    where += [_present(b, rule, k) for k in rule.keys]
    where += [_filter(b, rule, f) for f in rule.filters]
    value = "1."
    if rule.aggregate_on == "Sum" and rule.value_of is not None:
        value = f"toFloat64OrNull({_text(b, rule, rule.value_of)})"
    tokens = ""
    if rule.log_format == "CLF":
        tokens = (
            f", arrayMap(x -> trim(BOTH '\"[]' FROM x),"
            f" extractAll(body, {b.bind(_CLF_TOKENS, 'String')})) AS tokens"
        )
    p, o = b.bind(period, "Int64"), b.bind(origin, "Int64")
    inner = (
        f"SELECT {o} + intDiv(toUnixTimestamp64Milli(timestamp) - {o} * 1000, {p} * 1000)"
        f" * {p} AS b,"
        f" {', '.join(f'{key} AS k{i}' for i, key in enumerate(keys))}, {value} AS v{tokens}"
        f" FROM logs WHERE {' AND '.join(where)}"
    )
    # Grouped by the keys as columns (cheaper than by an array of them), then made the
    # contributor's key array ``k``.
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    sql = (
        f"SELECT b, [{names}] AS k, count() AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi"
        f" FROM ({inner}) WHERE v IS NOT NULL AND isFinite(v) GROUP BY b, {names}"
    )
    return sql, b.params


async def period_metrics(
    store: Store,
    rule: RuleDefinition,
    tenant: str,
    start: int,
    end: int,
    period: int,
    origin: int | None = None,
) -> dict[int, dict[str, float]]:
    """Period start → every metric of ``METRICS`` (periods with matching events only);
    periods from ``origin`` (default: epoch-aligned)."""
    origin = start - start % period if origin is None else origin
    groups, params = _groups_sql(rule, tenant, start, end, period, origin)
    rows = await store.query(
        "SELECT b, uniqExact(k), max(s), sum(n), sum(s), min(lo), max(hi)"
        f" FROM ({groups}) GROUP BY b ORDER BY b",
        params,
    )
    out: dict[int, dict[str, float]] = {}
    for b, unique, top, count, total, low, high in rows.rows:
        out[int(b)] = {
            "UniqueContributors": float(unique),
            "MaxContributorValue": float(top),
            "SampleCount": float(count),
            "Sum": float(total),
            "Minimum": float(low),
            "Maximum": float(high),
            "Average": float(total) / float(unique),
        }
    return out


async def report(
    store: Store,
    rule: RuleDefinition,
    tenant: str,
    start: int,
    end: int,
    period: int,
    max_contributors: int = 10,
    order_by: str = "Sum",
) -> Report:
    groups, params = _groups_sql(rule, tenant, start, end, period, start - start % period)
    rank = "peak" if order_by == "Maximum" else "total"
    # The two statements run side by side (the store has several read threads).
    top, periods = await asyncio.gather(
        store.query(
            "SELECT k, sum(s) AS total, max(s) AS peak, arraySort(groupArray((b, s))),"
            " count() OVER () AS contributors, sum(sum(s)) OVER () AS everything"
            f" FROM ({groups}) GROUP BY k ORDER BY {rank} DESC, k LIMIT {int(max_contributors)}",
            params,
        ),
        period_metrics(store, rule, tenant, start, end, period),
    )
    out = Report([k.text for k in rule.keys], rule.aggregate_on, 0.0, 0, periods=periods)
    for keys, total, _peak, points, contributors, everything in top.rows:
        out.unique_count, out.aggregate_value = int(contributors), float(everything)
        series = [(int(t), float(v)) for t, v in points]
        out.contributors.append(Contributor([str(k) for k in keys], float(total), series))
    return out
