"""Filter expression AST → a ClickHouse condition over one merged trace row.

The trace row (built by vigil.query.traces from ``trace_summary``) has these columns:
  trace_id, t_start, t_end, duration (Float64 seconds), errors, faults, throttles,
  nodes Array(Tuple(name, type)), annotations Array(Tuple(key, value, typed, service)),
  users Array(String), entry Tuple(rank, start, service, origin, name, duration (ns),
  method, url, status, user_agent, client_ip) — the root segment, else the first segment.

Keywords apply to the trace as X-Ray does: ``duration`` is the trace's, ``responsetime``
and ``http.*`` are the entry segment's, ``error``/``fault``/``throttle`` are true when any
segment has them, ``ok`` when none has, ``annotation.K`` and ``user`` when any segment has
a matching value, ``service(n)`` when the trace went through node n. Blocks (``service(n)
{ … }``, ``edge(a, b) { … }``) apply their filter to the spans of that node (for edges: the
callee's segments, or the caller's subsegment to an uninstrumented remote), and compile to
``trace_id IN (SELECT … FROM spans …)`` within the query's time window. ``rootcause.K.L``
matches a span with flag K none of whose children has K (the deepest one).
``rootcause.responsetime.L`` matches the trace's response-time root cause: its span with
the greatest self time (its duration less its children's durations, at least 0; ties go to
the later start, usually the deeper span); ``coverage`` is that self time over the trace's
duration (last end − first start of its spans in the window).

The caller binds ``{tenant:String}``, ``{lo:Int64}`` and ``{hi:Int64}`` (ns) for subqueries;
every literal of the expression is a bound parameter too, never SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.query.xrayfilter.ast import (
    And,
    Compare,
    Edge,
    Expr,
    NodeRef,
    Not,
    Or,
    RootCause,
    Service,
    Value,
)
from vigil.query.xrayfilter.lexer import FilterError

SPAN_SCOPE = (
    "{p}tenant = {{tenant:String}}"
    " AND {p}start_time >= fromUnixTimestamp64Nano({{lo:Int64}})"
    " AND {p}start_time <= fromUnixTimestamp64Nano({{hi:Int64}})"
)

_TRACE_STRINGS = {
    "http.url": "entry.url",
    "http.method": "entry.method",
    "http.useragent": "entry.user_agent",
    "http.clientip": "entry.client_ip",
}
_SPAN_STRINGS = {
    "http.url": "http_url",
    "http.method": "http_method",
    "http.useragent": "http_user_agent",
    "http.clientip": "http_client_ip",
    "user": "user",
}
_TRACE_FLAGS = {
    "ok": "(errors = 0 AND faults = 0 AND throttles = 0)",
    "error": "errors > 0",
    "fault": "faults > 0",
    "throttle": "throttles > 0",
}
_SPAN_FLAGS = {
    "ok": "({p}error = 0 AND {p}fault = 0 AND {p}throttle = 0)",
    "error": "{p}error = 1",
    "fault": "{p}fault = 1",
    "throttle": "{p}throttle = 1",
}


@dataclass(frozen=True, slots=True)
class TraceScope:
    """Names the compiler uses for the caller's bound parameters (documentation only)."""

    tenant: str = "tenant"
    lo: str = "lo"
    hi: str = "hi"


@dataclass(slots=True)
class CompiledFilter:
    where: str
    params: dict[str, Any] = field(default_factory=dict)
    # Conditions on one ``trace_summary`` row that any matching trace has a row for:
    # the query narrows its candidates with them before merging rows per trace.
    prefilters: list[str] = field(default_factory=list)


def compile_filter(expr: Expr) -> CompiledFilter:
    compiler = _Compiler()
    where = compiler.trace(expr)
    prefilters = [compiler.trace(item) for item in _existence_items(expr)][:2]
    return CompiledFilter(where, compiler.params, prefilters)


def _existence_items(expr: Expr) -> list[Expr]:
    """Top-level conjuncts that hold only if some span (so some summary row) has them."""
    items = expr.items if isinstance(expr, And) else (expr,)
    found: list[Expr] = []
    for item in items:
        if isinstance(item, Service):
            if item.filter is None and item.node is not None:
                found.append(item)
        elif isinstance(item, Compare) and item.op != "!=" and _exists(item):
            found.append(item)
    return found


def _exists(cmp: Compare) -> bool:
    if cmp.keyword.startswith("annotation.") or cmp.keyword == "user":
        return True
    return cmp.keyword in ("error", "fault", "throttle") and cmp.value in (None, True)


def _str_op(column: str, op: str, param: str) -> str:
    if op == "CONTAINS":
        return f"position({column}, {param}) > 0"
    if op == "BEGINSWITH":
        return f"startsWith({column}, {param})"
    if op == "ENDSWITH":
        return f"endsWith({column}, {param})"
    return f"{column} {op} {param}"


def _truth(condition: str, cmp: Compare) -> str:
    """A boolean keyword: bare, ``= true``, ``= false``, ``!= true``, ``!= false``."""
    wanted = True if cmp.value is None else bool(cmp.value)
    if cmp.op == "!=":
        wanted = not wanted
    return condition if wanted else f"NOT ({condition})"


class _Compiler:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Value) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        if isinstance(value, bool):
            return f"{{{name}:Bool}}"
        if isinstance(value, float):
            return f"{{{name}:Float64}}"
        return f"{{{name}:String}}"

    # --- trace level -----------------------------------------------------------------

    def trace(self, expr: Expr) -> str:
        if isinstance(expr, And):
            return "(" + " AND ".join(self.trace(e) for e in expr.items) + ")"
        if isinstance(expr, Or):
            return "(" + " OR ".join(self.trace(e) for e in expr.items) + ")"
        if isinstance(expr, Not):
            return f"NOT ({self.trace(expr.item)})"
        if isinstance(expr, Compare):
            return self.trace_compare(expr)
        if isinstance(expr, Service):
            return self.service(expr)
        if isinstance(expr, Edge):
            return self.edge(expr)
        return self.rootcause(expr)

    def trace_compare(self, cmp: Compare) -> str:
        key = cmp.keyword
        if key.startswith("annotation."):
            return self.annotation(cmp, key.removeprefix("annotation."))
        if key in _TRACE_FLAGS:
            return _truth(_TRACE_FLAGS[key], cmp)
        if key == "partial":
            return _truth(self.partial(), cmp)
        assert cmp.op is not None
        assert cmp.value is not None
        param = self.bind(cmp.value)
        if key == "duration":
            return f"duration {cmp.op} {param}"
        if key == "responsetime":
            return f"entry.duration / 1e9 {cmp.op} {param}"
        if key == "http.status":
            return f"entry.status {cmp.op} {param}"
        if key == "user":
            if cmp.op == "!=":
                return f"NOT has(users, {param})"
            return f"arrayExists(u -> {_str_op('u', cmp.op, param)}, users)"
        return _str_op(_TRACE_STRINGS[key], cmp.op, param)

    def annotation(self, cmp: Compare, key: str) -> str:
        k = self.bind(key)
        if cmp.op is None or isinstance(cmp.value, bool):
            text = self.bind("true" if cmp.value in (None, True) else "false")
            op = "!=" if cmp.op == "!=" else "="
            test = f"a.2 {op} {text}"
        elif isinstance(cmp.value, float):
            test = f"a.3 = 1 AND toFloat64OrZero(a.2) {cmp.op} {self.bind(cmp.value)}"
        else:
            assert cmp.value is not None
            test = f"a.3 = 0 AND {_str_op('a.2', cmp.op, self.bind(cmp.value))}"
        return f"arrayExists(a -> a.1 = {k} AND {test}, annotations)"

    def partial(self) -> str:
        window = SPAN_SCOPE.format(p="")
        return (
            "trace_id IN (SELECT trace_id FROM xray_in_progress"
            f" WHERE {window} AND (trace_id, span_id) NOT IN"
            " (SELECT trace_id, span_id FROM spans WHERE tenant = {tenant:String}"
            " AND trace_id IN (SELECT trace_id FROM xray_in_progress"
            f" WHERE {window})))"
        )

    def node_in_nodes(self, node: NodeRef) -> str:
        parts = []
        if node.name is not None:
            parts.append(f"n.1 = {self.bind(node.name)}")
        if node.type is not None:
            parts.append(f"n.2 = {self.bind(node.type)}")
        return f"arrayExists(n -> {' AND '.join(parts) or '1'}, nodes)"

    def node_row(self, node: NodeRef | None, p: str = "") -> str:
        """Spans that are ``node``: its segments, or subsegments calling it as a remote."""
        if node is None:
            return f"{p}segment = 1"
        own, remote = [f"{p}segment = 1"], [f"{p}remote_service != ''"]
        if node.name is not None:
            name = self.bind(node.name)
            own.append(f"{p}service = {name}")
            remote.append(f"{p}remote_service = {name}")
        if node.type is not None:
            kind = self.bind(node.type)
            own.append(f"{p}origin = {kind}")
            remote.append(f"{p}remote_type = {kind}")
        return f"(({' AND '.join(own)}) OR ({' AND '.join(remote)}))"

    def service(self, svc: Service) -> str:
        if svc.filter is None:
            return "1" if svc.node is None else self.node_in_nodes(svc.node)
        rows = self.node_row(svc.node)
        spans = self.span(svc.filter, "")
        return (
            f"trace_id IN (SELECT trace_id FROM spans WHERE {SPAN_SCOPE.format(p='')}"
            f" AND {rows} AND {spans})"
        )

    def edge(self, edge: Edge) -> str:
        callee = self.span(edge.filter, "c.") if edge.filter is not None else "1"
        remote = self.span(edge.filter, "") if edge.filter is not None else "1"
        caller = self.caller(edge.source, "")
        dest_own, dest_remote = ["c.segment = 1"], []
        if edge.dest.name is not None:
            name = self.bind(edge.dest.name)
            dest_own.append(f"c.service = {name}")
            dest_remote.append(f"remote_service = {name}")
        if edge.dest.type is not None:
            kind = self.bind(edge.dest.type)
            dest_own.append(f"c.origin = {kind}")
            dest_remote.append(f"remote_type = {kind}")
        dest_remote = dest_remote or ["remote_service != ''"]
        return (
            "trace_id IN (SELECT c.trace_id FROM spans AS c INNER JOIN"
            f" (SELECT trace_id, span_id, service FROM spans WHERE {SPAN_SCOPE.format(p='')}"
            f" AND {caller}) AS p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id"
            f" WHERE {SPAN_SCOPE.format(p='c.')} AND c.service != p.service"
            f" AND {' AND '.join(dest_own)} AND {callee}"
            f" UNION ALL SELECT trace_id FROM spans WHERE {SPAN_SCOPE.format(p='')}"
            f" AND {caller} AND {' AND '.join(dest_remote)} AND {remote})"
        )

    def caller(self, node: NodeRef, p: str) -> str:
        parts = []
        if node.name is not None:
            parts.append(f"{p}service = {self.bind(node.name)}")
        if node.type is not None:
            parts.append(f"{p}origin = {self.bind(node.type)}")
        return " AND ".join(parts) or "1"

    def rootcause(self, rc: RootCause) -> str:
        if rc.kind == "responsetime":
            return self.rootcause_responsetime(rc)
        flag = rc.kind
        inner = self.rootcause_row(rc.filter, rc.level) if rc.filter is not None else "1"
        scope = SPAN_SCOPE.format(p="")
        return (
            f"trace_id IN (SELECT trace_id FROM spans WHERE {scope} AND {flag} = 1 AND {inner}"
            " AND (trace_id, span_id) NOT IN (SELECT trace_id, parent_span_id FROM spans"
            f" WHERE {scope} AND {flag} = 1))"
        )

    def rootcause_responsetime(self, rc: RootCause) -> str:
        """One root-cause span per trace (greatest self time), then the block on it.

        Self time = duration − the sum of the children's durations, capped at the span's
        own duration (parallel children can hide all of it). The chosen span's columns
        keep the span table's names, so ``rootcause_row`` applies to them unchanged."""
        inner = self.rootcause_row(rc.filter, rc.level) if rc.filter is not None else "1"
        scope = SPAN_SCOPE.format(p="")
        spans = (
            "SELECT trace_id, span_id, duration_ns, start_time, end_time, service, origin,"
            f" name, remote_service, remote_type FROM spans WHERE {scope}"
        )
        children = (
            "SELECT trace_id, parent_span_id, sum(duration_ns) AS child_ns"
            f" FROM spans WHERE {scope} GROUP BY trace_id, parent_span_id"
        )
        self_ns = "(s.duration_ns - least(s.duration_ns, c.child_ns))"
        picked = (
            "SELECT s.trace_id AS rc_trace,"
            " argMax(tuple(toString(s.service), toString(s.origin), toString(s.name),"
            f" toString(s.remote_service), toString(s.remote_type), {self_ns}),"
            f" tuple({self_ns}, s.start_time)) AS rc,"
            " max(toUnixTimestamp64Nano(s.end_time))"
            " - min(toUnixTimestamp64Nano(s.start_time)) AS trace_ns"
            f" FROM ({spans}) AS s LEFT JOIN ({children}) AS c"
            " ON s.trace_id = c.trace_id AND s.span_id = c.parent_span_id"
            " GROUP BY s.trace_id"
        )
        chosen = (
            "SELECT rc_trace, rc.1 AS service, rc.2 AS origin, rc.3 AS name,"
            " rc.4 AS remote_service, rc.5 AS remote_type,"
            " if(trace_ns > 0, least(1.0, rc.6 / trace_ns), 1.0) AS coverage"
            f" FROM ({picked})"
        )
        return f"trace_id IN (SELECT rc_trace FROM ({chosen}) WHERE {inner})"

    def rootcause_row(self, expr: Expr, level: str) -> str:
        if isinstance(expr, And | Or):
            glue = " AND " if isinstance(expr, And) else " OR "
            return "(" + glue.join(self.rootcause_row(e, level) for e in expr.items) + ")"
        if isinstance(expr, Not):
            return f"NOT ({self.rootcause_row(expr.item, level)})"
        assert isinstance(expr, Compare)
        if expr.keyword == "remote":
            return _truth("remote_service != ''", expr)
        assert expr.op is not None
        assert expr.value is not None
        param = self.bind(expr.value)
        if expr.keyword == "coverage":
            return f"coverage {expr.op} {param}"
        if expr.keyword == "message":
            return (
                f"({_str_op('status_message', expr.op, param)} OR arrayExists(e -> "
                f"{_str_op('e.3[' + repr('exception.message') + ']', expr.op, param)}, events))"
            )
        if expr.keyword == "type":
            column = "if(remote_service != '', toString(remote_type), toString(origin))"
        elif level == "service":
            column = "if(remote_service != '', toString(remote_service), toString(service))"
        else:
            column = "name"
        return _str_op(column, expr.op, param)

    # --- span level (inside braces) ----------------------------------------------------

    def span(self, expr: Expr, p: str) -> str:
        if isinstance(expr, And | Or):
            glue = " AND " if isinstance(expr, And) else " OR "
            return "(" + glue.join(self.span(e, p) for e in expr.items) + ")"
        if isinstance(expr, Not):
            return f"NOT ({self.span(expr.item, p)})"
        if not isinstance(expr, Compare):
            raise FilterError("only keywords are allowed inside { }", getattr(expr, "pos", 0))
        key = expr.keyword
        if key in _SPAN_FLAGS:
            return _truth(_SPAN_FLAGS[key].format(p=p), expr)
        if key.startswith("annotation."):
            return self.span_annotation(expr, key.removeprefix("annotation."), p)
        assert expr.op is not None
        assert expr.value is not None
        param = self.bind(expr.value)
        if key in ("duration", "responsetime"):
            return f"{p}duration_ns / 1e9 {expr.op} {param}"
        if key == "http.status":
            return f"{p}http_status {expr.op} {param}"
        return _str_op(p + _SPAN_STRINGS[key], expr.op, param)

    def span_annotation(self, cmp: Compare, key: str, p: str) -> str:
        k = self.bind(key)
        value = f"{p}annotations[{k}]"
        present = f"mapContains({p}annotations, {k})"
        typed = f"has({p}attributes_typed, {k})"
        if cmp.op is None or isinstance(cmp.value, bool):
            text = self.bind("true" if cmp.value in (None, True) else "false")
            op = "!=" if cmp.op == "!=" else "="
            return f"({present} AND {value} {op} {text})"
        if isinstance(cmp.value, float):
            number = self.bind(cmp.value)
            return f"({present} AND {typed} AND toFloat64OrZero({value}) {cmp.op} {number})"
        assert cmp.value is not None
        return f"({present} AND NOT {typed} AND {_str_op(value, cmp.op, self.bind(cmp.value))})"
