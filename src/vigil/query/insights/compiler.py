"""Logs Insights AST → ClickHouse SQL over the ``logs`` table.

Model. A query is compiled into nested SELECTs ("layers"). A layer knows its FROM, the
fields visible in it (name → SQL expression and kind), its WHERE conditions, ORDER BY,
``LIMIT 1 BY`` (dedup) and LIMIT. Commands that only add fields (``fields``, ``parse``)
extend the current layer; a command whose meaning depends on what came before (a
``filter`` after a ``limit``, ``stats``, ``unnest`` after a ``sort`` …) wraps the layer in
a subquery first. ClickHouse drops the columns a subquery computes but nobody reads.

Fields of log events resolve, in order: system fields (``@timestamp``, ``@message``,
``@logStream``, ``@log``, ``@ingestionTime``, ``@ptr``), fields defined by earlier commands,
fields of a ``jsonParse``d value (``js.a.b``), then the event's discovered fields
(``fields`` column: its flattened JSON message), its attributes, its resource attributes;
a field found nowhere is NULL. After ``stats``, the fields are the stats' columns, named
as CloudWatch names them (``count()``, ``avg(duration)``, ``bin(5m)``) or by their alias;
a bare function name (``count``) refers to the one column of that function.

Values carry a kind: ``any`` (text of a discovered field: compared as a number against
numbers and as text against text), ``str``, ``num``, ``time``, ``bool``, ``json``.
User strings are always bound as query parameters, never spliced into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from vigil.query.insights import ast
from vigil.query.insights.errors import QueryCompileError
from vigil.query.insights.printer import print_expr
from vigil.query.logevents import clamp_ms
from vigil.syntax import regex

_REGEX_META = re.compile(r"[.^$*+?()\[\]{}|\\]")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_@$\-:/ ]+$")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
EVENT_KEY = "cityHash64(log_stream, body, toUnixTimestamp64Milli(ingestion_time), span_id)"

_INTERVAL_UNITS = {
    "ms": "MILLISECOND",
    "s": "SECOND",
    "m": "MINUTE",
    "h": "HOUR",
    "d": "DAY",
    "w": "WEEK",
    "mo": "MONTH",
    "q": "QUARTER",
    "y": "YEAR",
}

AGGREGATES = {
    "avg",
    "count",
    "count_distinct",
    "max",
    "min",
    "pct",
    "stddev",
    "sum",
    "earliest",
    "latest",
    "sortsfirst",
    "sortslast",
}


@dataclass(frozen=True, slots=True)
class Col:
    sql: str
    kind: str  # any str num time bool json
    func: str | None = None  # for stats columns: the aggregate function's name
    has_agg: bool = False
    num: str | None = None  # a faster numeric reading than toFloat64OrNull(sql), if any
    json: str | None = None  # the value as JSON text, where ``sql`` would not be JSON


NULL = Col("NULL", "any")

# A JSON path's number: the first of these readings that is not NULL (a numeric string
# counts), each tied to the type whose subcolumn it reads.
_NUMERIC_READINGS = (
    ("Float64", "{c}.:Float64"),
    ("Int64", "toFloat64({c}.:Int64)"),
    ("UInt64", "toFloat64({c}.:UInt64)"),
    ("String", "toFloat64OrNull({c}.:String)"),
)
# Paths the store also keeps as LowCardinality columns, each the path's exact text reading
# (migration 0105): filters and groups on them work per distinct value.
_TEXT_COLUMNS = {"level": "field_level", "message": "field_message"}
_PLAIN_TYPES = frozenset({"String", "Float64", "Int64", "UInt64", "Bool"})
_NONE: frozenset[str] = frozenset()


@dataclass(slots=True)
class Layer:
    source: str
    base: bool  # rows are log events (fields resolve through the maps)
    env: dict[str, Col] = field(default_factory=dict)
    array_join: list[str] = field(default_factory=list)
    extra_select: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    limit_by: list[str] = field(default_factory=list)
    limit: int | None = None
    aggregated: bool = False


@dataclass(slots=True)
class OutputColumn:
    name: str
    kind: str


@dataclass(slots=True)
class Compiled:
    sql: str
    params: dict[str, object]
    columns: list[OutputColumn]
    aggregated: bool  # rows come from stats (recordsMatched is the __n column)
    expand_fields: bool  # the last column is the discovered-fields map, to spread out
    count_sql: str | None  # rows matched, for row queries


@dataclass(slots=True)
class Base:
    """The rows a query reads: the layer-0 FROM and WHERE, with their parameters."""

    source: str
    where: list[str]
    params: dict[str, object]
    account_id: str = "000000000000"
    # Keys that attributes or resource may hold in these rows; None: any key. A field not
    # in it reads only the JSON message: reading the two maps was most of the time of
    # queries over PutLogEvents data, where the maps are empty (see runner.field_catalog).
    map_keys: frozenset[str] | None = None
    # The types each JSON path may hold in these rows (a path not in it holds none); None:
    # unknown. A path of one plain type is read from that type's subcolumn.
    path_types: Mapping[str, frozenset[str]] | None = None


def logs_base(tenant: str, groups: list[str], start_ms: int, end_ms: int) -> Base:
    return Base(
        "logs",
        [
            "tenant = {tenant:String}",
            "log_group IN {groups:Array(String)}",
            "timestamp >= fromUnixTimestamp64Milli({start_ms:Int64})",
            "timestamp <= fromUnixTimestamp64Milli({end_ms:Int64})",
        ],
        {
            "tenant": tenant,
            "groups": groups,
            "start_ms": clamp_ms(start_ms),
            "end_ms": clamp_ms(end_ms),
        },
    )


def display_name(proj: ast.Projection) -> str:
    if proj.alias is not None:
        return proj.alias
    if isinstance(proj.expr, ast.Field):
        return proj.expr.name
    return print_expr(proj.expr)


class Compiler:
    def __init__(self, base: Base, *, limit: int | None = None) -> None:
        self.base = base
        self.params: dict[str, object] = dict(base.params)
        self.request_limit = limit
        self._n = 0
        self._strings: dict[str, str] = {}
        self.field_keys: set[str] = set()  # event fields read (attribute keys looked up)

    # --- helpers ----------------------------------------------------------------------

    def fresh(self, prefix: str = "c") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def string(self, value: str) -> str:
        key = self._strings.get(value)
        if key is None:
            key = self._strings[value] = self.fresh("s")
            self.params[key] = value
        return f"{{{key}:String}}"

    def strings(self, values: list[str]) -> str:
        key = self.fresh("l")
        self.params[key] = values
        return f"{{{key}:Array(String)}}"

    # --- layers ----------------------------------------------------------------------

    def first_layer(self) -> Layer:
        return Layer(self.base.source, base=True, where=list(self.base.where))

    def layer_sql(self, layer: Layer, select: str) -> str:
        sql = f"SELECT {select} FROM {layer.source}"
        if layer.array_join:
            sql += " ARRAY JOIN " + ", ".join(layer.array_join)
        if layer.where:
            sql += " WHERE " + " AND ".join(f"({w})" for w in layer.where)
        if layer.order:
            sql += " ORDER BY " + ", ".join(layer.order)
        if layer.limit_by:
            sql += " LIMIT 1 BY " + ", ".join(layer.limit_by)
        if layer.limit is not None:
            sql += f" LIMIT {layer.limit}"
        return sql

    def wrap(self, layer: Layer) -> Layer:
        """Close ``layer`` into a subquery; its fields become plain columns of the next."""
        select = ["*", *layer.extra_select]
        env: dict[str, Col] = {}
        for name, col in layer.env.items():
            alias = self.fresh()
            select.append(f"{col.sql} AS {alias}")
            env[name] = self.materialize(col, alias, select)
        sql = self.layer_sql(layer, ", ".join(select))
        return Layer(f"({sql})", base=layer.base, env=env, aggregated=layer.aggregated)

    def materialize(self, col: Col, alias: str, select: list[str]) -> Col:
        """Carry a field into the next layer; its faster readings travel with it."""
        num = json = None
        if col.num is not None:
            num = self.fresh()
            select.append(f"{col.num} AS {num}")
        if col.json is not None:
            json = self.fresh()
            select.append(f"{col.json} AS {json}")
        return replace(col, sql=alias, has_agg=False, num=num, json=json)

    # --- names -----------------------------------------------------------------------

    def resolve(self, name: str, layer: Layer) -> Col:
        if name in layer.env:
            return layer.env[name]
        if not layer.base:
            by_func = [c for c in layer.env.values() if c.func == name.lower()]
            if len(by_func) == 1:
                return by_func[0]
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:cut])
            col = layer.env.get(head)
            if col is not None and col.kind == "json":
                return Col(f"JSONExtractRaw({col.sql}, {self.json_path(parts[cut:])})", "json")
        if not layer.base:
            return NULL
        system = self.system_field(name)
        if system is not None:
            return system
        return self.event_field(parts)

    def event_field(self, parts: list[str]) -> Col:
        """A field of the event: a path of the ``fields`` JSON column (the JSON message),
        else the record attribute, else the resource attribute of that (dotted) name;
        ``a.0`` (an array item) reads the message."""
        if not all(_SAFE_SEGMENT.match(p) for p in parts) or any(p.isdigit() for p in parts):
            path = self.json_path(parts)
            raw = f"if(JSONHas(body, {path}), JSONExtractRaw(body, {path}), NULL)"
            return Col(
                f"if(JSONType(body, {path}) = 'String', JSONExtractString(body, {path}), {raw})",
                "any",
            )
        column = "fields." + ".".join(f"`{p}`" for p in parts)
        name = ".".join(parts)
        self.field_keys.add(name)
        text, numbers = self.path_readings(column, name)
        text = _TEXT_COLUMNS.get(name, text)
        message_num = f"coalesce({', '.join(numbers)}"
        if self.base.map_keys is not None and name not in self.base.map_keys:
            return Col(
                text,
                "any",
                num=message_num + ")",
                json=f"if({column} IS NULL, NULL, toJSONString({column}))",
            )
        key = self.string(name)
        attr = (
            f"if(mapContains(attributes, {key}), attributes[{key}],"
            f" if(mapContains(resource, {key}), resource[{key}], NULL))"
        )
        return Col(
            f"coalesce({text}, {attr})",
            "any",
            num=f"{message_num}, toFloat64OrNull({attr}))",
            json=f"if({column} IS NULL, if({attr} IS NULL, NULL, toJSONString({attr})),"
            f" toJSONString({column}))",
        )

    def path_readings(self, column: str, name: str) -> tuple[str, list[str]]:
        """A JSON path's value as text, and the terms whose ``coalesce`` is its number.

        Each term reads one type's subcolumn (NULL where the value has another type); a
        type no row in range holds is left out. Text of a path of one plain type reads that
        type's subcolumn: the same text as the cast, which converts every type the path
        could hold (``toString`` renders numbers and booleans as the cast does)."""
        types = None if self.base.path_types is None else self.base.path_types.get(name, _NONE)
        numbers = [
            term.format(c=column)
            for kind, term in _NUMERIC_READINGS
            if types is None or kind in types
        ] or ["CAST(NULL AS Nullable(Float64))"]
        if types is not None and not types:
            return "CAST(NULL AS Nullable(String))", numbers
        if types is not None and len(types) == 1 and next(iter(types)) in _PLAIN_TYPES:
            (kind,) = types
            read = f"{column}.:{kind}"
            return (read if kind == "String" else f"toString({read})"), numbers
        return f"CAST({column} AS Nullable(String))", numbers

    def json_path(self, parts: list[str]) -> str:
        return ", ".join(str(int(p) + 1) if p.isdigit() else self.string(p) for p in parts)

    def system_field(self, name: str) -> Col | None:
        if name == "@timestamp":
            return Col("timestamp", "time")
        if name == "@message":
            return Col("body", "str")
        if name == "@logStream":
            return Col("toString(log_stream)", "str")
        if name == "@log":
            return Col(f"concat({self.string(self.base.account_id + ':')}, log_group)", "str")
        if name == "@ingestionTime":
            return Col("ingestion_time", "time")
        if name == "@ptr":
            return Col(
                "base64Encode(concat(toString(log_group), '\\n', toString(log_stream), '\\n',"
                f" toString(toUnixTimestamp64Nano(timestamp)), '\\n', toString({EVENT_KEY})))",
                "str",
            )
        if name == "@logGroup":
            return Col("toString(log_group)", "str")
        return None

    # --- conversions -----------------------------------------------------------------------

    @staticmethod
    def text(col: Col) -> str:
        if col.kind in ("any", "str"):
            return col.sql
        if col.kind == "json":
            return f"if(JSONType({col.sql}) = 'String', JSONExtractString({col.sql}), {col.sql})"
        if col.kind == "time":
            return f"formatDateTimeInJodaSyntax({col.sql}, 'yyyy-MM-dd HH:mm:ss.SSS')"
        if col.kind == "bool":
            return f"if({col.sql}, 'true', 'false')"
        return f"toString({col.sql})"

    @staticmethod
    def number(col: Col) -> str:
        if col.num is not None:
            return col.num
        if col.kind == "num":
            return col.sql
        if col.kind == "time":
            return f"toFloat64(toUnixTimestamp64Milli({col.sql}))"
        if col.kind == "bool":
            return f"toFloat64({col.sql})"
        if col.kind == "json":
            return f"toFloat64OrNull(JSONExtractRaw({col.sql}))"
        return f"toFloat64OrNull({col.sql})"

    def boolean(self, col: Col) -> str:
        if col.kind == "bool":
            return col.sql
        if col.kind == "num":
            return f"({col.sql}) != 0"
        if col.kind == "time":
            return f"({col.sql}) IS NOT NULL"
        return f"(({self.text(col)}) NOT IN ('', 'false', '0') AND ({col.sql}) IS NOT NULL)"

    def time(self, col: Col) -> str:
        if col.kind == "time":
            return col.sql
        if col.kind == "num":
            return f"fromUnixTimestamp64Milli(toInt64({col.sql}))"
        return f"parseDateTime64BestEffortOrNull({self.text(col)}, 3)"

    # --- expressions ---------------------------------------------------------------------

    def expr(self, e: ast.Expr, layer: Layer, agg: bool = False) -> Col:
        if not layer.base and not isinstance(e, ast.Field | ast.Str | ast.Num):
            named = layer.env.get(print_expr(e))  # a stats column named as written: bin(5m)
            if named is not None:
                return named
        if isinstance(e, ast.Field):
            return self.resolve(e.name, layer)
        if isinstance(e, ast.Str):
            return Col(self.string(e.value), "str")
        if isinstance(e, ast.Num):
            return Col(f"toFloat64({e.value!r})", "num")
        if isinstance(e, ast.Regex):
            return Col(self.string(e.pattern), "str")
        if isinstance(e, ast.Duration):
            return Col(f"toFloat64({duration_ms(e)})", "num")
        if isinstance(e, ast.Star):
            raise QueryCompileError("'*' is only allowed in count(*)")
        if isinstance(e, ast.Unary):
            inner = self.expr(e.operand, layer, agg)
            if e.op == "-":
                return Col(f"(-{self.number(inner)})", "num", has_agg=inner.has_agg)
            return Col(f"(NOT {self.boolean(inner)})", "bool", has_agg=inner.has_agg)
        if isinstance(e, ast.InList):
            return self.in_list(e, layer, agg)
        if isinstance(e, ast.Binary):
            return self.binary(e, layer, agg)
        return self.call(e, layer, agg)

    def binary(self, e: ast.Binary, layer: Layer, agg: bool) -> Col:
        left = self.expr(e.left, layer, agg)
        right = self.expr(e.right, layer, agg)
        has_agg = left.has_agg or right.has_agg
        if e.op in ("and", "or"):
            op = e.op.upper()
            return Col(
                f"({self.boolean(left)} {op} {self.boolean(right)})", "bool", has_agg=has_agg
            )
        if e.op in ("+", "-", "*", "/", "%", "^"):
            a, b = self.number(left), self.number(right)
            sql = f"pow({a}, {b})" if e.op == "^" else f"({a} {e.op} {b})"
            if e.op in ("/", "%"):
                sql = f"if({b} = 0, NULL, {sql})"
            return Col(sql, "num", has_agg=has_agg)
        if e.op in ("like", "not like", "=~"):
            is_regex = isinstance(e.right, ast.Regex) or e.op == "=~"
            if isinstance(e.right, ast.Regex) and not _REGEX_META.search(e.right.pattern):
                is_regex = False  # a plain word or phrase: a substring search is the same, faster
            if e.op == "=~" and isinstance(e.right, ast.Str):
                try:  # a quoted pattern: refused here, not by the store at run time
                    regex.check(e.right.value)
                except regex.RegexError as exc:
                    raise QueryCompileError(
                        f"invalid regular expression {e.right.value!r} after =~: {exc.reason}"
                    ) from None
            target = self.text(left)
            # Guarded by IS NOT NULL below, so assumeNotNull (the values as they are) gives
            # the same rows as coalesce(target, ''), without copying every string first.
            if is_regex:
                sql = f"match(assumeNotNull({target}), {self.text(right)})"
            else:
                sql = f"(position(assumeNotNull({target}), {self.text(right)}) > 0)"
            if e.op == "not like":
                sql = f"(NOT {sql})"
            return Col(f"({target} IS NOT NULL AND {sql})", "bool", has_agg=has_agg)
        if isinstance(e.right, ast.Regex) and e.op in ("=", "!="):
            sql = f"match(coalesce({self.text(left)}, ''), {self.text(right)})"
            return Col(sql if e.op == "=" else f"(NOT {sql})", "bool", has_agg=has_agg)
        return Col(self.compare(e.op, left, right), "bool", has_agg=has_agg)

    def compare(self, op: str, left: Col, right: Col) -> str:
        kinds = {left.kind, right.kind}
        if "time" in kinds:
            if kinds == {"time"}:
                return f"({left.sql} {op} {right.sql})"
            other = right if left.kind == "time" else left
            moment = left if left.kind == "time" else right
            if other.kind == "num":
                a = f"toFloat64(toUnixTimestamp64Milli({moment.sql}))"
                b = other.sql
            else:
                a, b = moment.sql, self.time(other)
            return f"({a} {op} {b})" if left.kind == "time" else f"({b} {op} {a})"
        if "num" in kinds or kinds == {"bool", "any"}:
            return f"({self.number(left)} {op} {self.number(right)})"
        if kinds == {"bool"}:
            return f"({left.sql} {op} {right.sql})"
        a, b = self.text(left), self.text(right)
        if left.kind in ("any", "json") and right.kind in ("any", "json"):
            # Two event fields: as numbers when both read as numbers, else as text.
            na, nb = self.number(left), self.number(right)
            return f"if({na} IS NOT NULL AND {nb} IS NOT NULL, {na} {op} {nb}, {a} {op} {b})"
        return f"({a} {op} {b})"

    def in_list(self, e: ast.InList, layer: Layer, agg: bool) -> Col:
        target = self.expr(e.expr, layer, agg)
        items = [self.expr(i, layer, agg) for i in e.items]
        neg = "NOT " if e.negated else ""
        if not items:
            return Col("false" if not e.negated else "true", "bool")
        if all(isinstance(i, ast.Num) for i in e.items):
            values = ", ".join(i.sql for i in items)
            return Col(
                f"({self.number(target)} {neg}IN ({values}))", "bool", has_agg=target.has_agg
            )
        values = ", ".join(self.text(i) for i in items)
        return Col(f"({self.text(target)} {neg}IN ({values}))", "bool", has_agg=target.has_agg)

    # --- functions ----------------------------------------------------------------------------

    def call(self, e: ast.Call, layer: Layer, agg: bool) -> Col:
        if e.name in AGGREGATES:
            if not agg:
                raise QueryCompileError(
                    f"the aggregate function {e.name}() can only be used in stats"
                )
            return self.aggregate(e, layer)
        spec = FUNCTIONS.get(e.name)
        if spec is None:
            raise QueryCompileError(f"unknown function {e.name}()")
        lo, hi, build = spec
        if not lo <= len(e.args) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise QueryCompileError(f"{e.name}() takes {want} arguments, got {len(e.args)}")
        if e.name == "bin":
            return self.bin(e, layer)
        if e.name in ("datefloor", "dateceil"):
            return self.date_round(e, layer, agg)
        args = [self.expr(a, layer, agg) for a in e.args]
        col = build(self, args)
        return replace(col, has_agg=any(a.has_agg for a in args))

    def bin(self, e: ast.Call, layer: Layer) -> Col:
        period = e.args[0]
        if not isinstance(period, ast.Duration):
            raise QueryCompileError("bin() takes a time period such as 5m or 1h")
        ts = self.resolve("@timestamp", layer)
        if ts.kind != "time":
            raise QueryCompileError("bin() needs @timestamp, which is gone after stats")
        return Col(f"toStartOfInterval({ts.sql}, {interval(period)})", "time")

    def date_round(self, e: ast.Call, layer: Layer, agg: bool) -> Col:
        period = e.args[1]
        if not isinstance(period, ast.Duration):
            raise QueryCompileError(f"{e.name}() takes a time period such as 5m as its second")
        value = self.time(self.expr(e.args[0], layer, agg))
        floor = f"toStartOfInterval({value}, {interval(period)})"
        if e.name == "datefloor":
            return Col(floor, "time")
        return Col(f"if({floor} = {value}, {value}, {floor} + {interval(period)})", "time")

    def aggregate(self, e: ast.Call, layer: Layer) -> Col:
        name = e.name
        args = e.args
        if name == "count":
            if not args or isinstance(args[0], ast.Star):
                return Col("count()", "num", func="count", has_agg=True)
            inner = self.expr(args[0], layer)
            return Col(f"count({inner.sql})", "num", func="count", has_agg=True)
        if not args:
            raise QueryCompileError(f"{name}() needs a field")
        if isinstance(args[0], ast.Star):
            raise QueryCompileError(f"{name}(*) is not allowed; only count(*)")
        inner = self.expr(args[0], layer)
        if inner.has_agg:
            raise QueryCompileError(f"{name}() cannot contain another aggregate function")
        if name == "pct":
            if len(args) != 2 or not isinstance(args[1], ast.Num):
                raise QueryCompileError("pct() takes a field and a percentile such as 95")
            level = float(args[1].value)
            if not 0 <= level <= 100:
                raise QueryCompileError("pct() percentile must be between 0 and 100")
            return Col(
                f"quantileExactInclusive({level / 100!r})({self.number(inner)})",
                "num",
                func="pct",
                has_agg=True,
            )
        if len(args) != 1:
            raise QueryCompileError(f"{name}() takes 1 argument, got {len(args)}")
        if name == "count_distinct":
            return Col(f"uniqExact({self.text(inner)})", "num", func=name, has_agg=True)
        if name in ("min", "max") and inner.kind == "time":
            return Col(f"{name}({inner.sql})", "time", func=name, has_agg=True)
        if name in ("sum", "avg", "min", "max", "stddev"):
            fn = {"stddev": "stddevSamp"}.get(name, name)
            return Col(f"{fn}({self.number(inner)})", "num", func=name, has_agg=True)
        if name in ("earliest", "latest"):
            ts = self.resolve("@timestamp", layer)
            if ts.kind != "time":
                raise QueryCompileError(f"{name}() needs @timestamp, which is gone after stats")
            fn = "argMin" if name == "earliest" else "argMax"
            return Col(f"{fn}({inner.sql}, {ts.sql})", inner.kind, func=name, has_agg=True)
        fn = "min" if name == "sortsfirst" else "max"
        return Col(f"{fn}({inner.sql})", inner.kind, func=name, has_agg=True)

    # --- commands ---------------------------------------------------------------------------

    def compile(self, commands: tuple[ast.Command, ...], layer: Layer | None = None) -> Compiled:
        layer, shown, user_limit = self.run(commands, layer or self.first_layer())
        return self.finish(layer, shown, user_limit)

    def values(self, commands: tuple[ast.Command, ...], expr: ast.Expr, cap: int) -> str:
        """SQL of one column: ``expr`` (as text) over the rows the commands leave, newest
        first, at most ``cap`` rows (``pattern`` clusters these)."""
        layer, _, _ = self.run(commands, self.first_layer())
        if layer.limit is not None or layer.limit_by:
            layer = self.wrap(layer)
        col = self.expr(expr, layer)
        if not layer.order and layer.base:
            layer.order = ["timestamp DESC"]
        layer.where.append(f"({col.sql}) IS NOT NULL")
        layer.limit = cap
        return self.layer_sql(layer, f"{self.text(col)} AS v")

    def run(
        self, commands: tuple[ast.Command, ...], layer: Layer
    ) -> tuple[Layer, list[str] | None, int | None]:
        shown: list[str] | None = None  # names listed by fields/display since the last stats
        explicit_display = False
        user_limit: int | None = None
        for cmd in commands:
            if isinstance(cmd, ast.Fields | ast.Display):
                names = []
                for proj in cmd.items:
                    name = display_name(proj)
                    col = self.expr(proj.expr, layer)
                    layer.env[name] = col
                    names.append(name)
                if isinstance(cmd, ast.Display):
                    shown, explicit_display = names, True
                elif not explicit_display:
                    shown = (shown or []) + [n for n in names if n not in (shown or [])]
            elif isinstance(cmd, ast.Filter):
                if layer.limit is not None or layer.limit_by:
                    layer = self.wrap(layer)
                col = self.expr(cmd.expr, layer)
                layer.where.append(self.boolean(col))
            elif isinstance(cmd, ast.Stats):
                layer = self.stats(cmd, layer)
                shown, explicit_display = None, False
                user_limit = None
            elif isinstance(cmd, ast.Sort):
                if layer.limit is not None or layer.limit_by:
                    layer = self.wrap(layer)
                layer.order = [o for key in cmd.keys for o in self.order(key, layer)]
            elif isinstance(cmd, ast.Limit):
                if cmd.count < 1 or cmd.count > MAX_LIMIT:
                    raise QueryCompileError(f"limit must be between 1 and {MAX_LIMIT}")
                layer.limit = cmd.count if layer.limit is None else min(layer.limit, cmd.count)
                user_limit = layer.limit
            elif isinstance(cmd, ast.Parse):
                self.parse(cmd, layer)
            elif isinstance(cmd, ast.Dedup):
                if layer.limit is not None:
                    layer = self.wrap(layer)
                if not layer.order and layer.base:
                    layer.order = ["timestamp DESC"]
                layer.limit_by = [self.text(self.expr(f, layer)) for f in cmd.fields]
            elif isinstance(cmd, ast.Unnest):
                if layer.limit is not None or layer.limit_by or layer.order or layer.array_join:
                    layer = self.wrap(layer)
                src = self.json_source(cmd.source, layer)
                alias = self.fresh("u")
                layer.array_join.append(f"JSONExtractArrayRaw(coalesce({src}, '')) AS {alias}")
                layer.env[cmd.into] = Col(alias, "json")
            else:
                raise QueryCompileError(
                    f"{type(cmd).__name__.lower()} cannot be compiled here"
                )  # pattern/diff are split off by the runner
        return layer, shown, user_limit

    def order(self, key: ast.SortKey, layer: Layer) -> list[str]:
        col = self.expr(key.expr, layer)
        direction = "DESC" if key.descending else "ASC"
        if col.kind in ("any", "json"):
            # Numbers sort as numbers; text after them.
            return [f"{self.number(col)} {direction}", f"{self.text(col)} {direction}"]
        return [f"{col.sql} {direction}"]

    def json_source(self, e: ast.Expr, layer: Layer) -> str:
        col = self.expr(e, layer)
        if col.kind == "json":
            return col.sql
        if col.json is not None:
            return col.json
        return self.text(col)

    def parse(self, cmd: ast.Parse, layer: Layer) -> None:
        source = f"coalesce({self.text(self.expr(cmd.source, layer))}, '')"
        if isinstance(cmd.pattern, ast.Str):
            regex = glob_regex(cmd.pattern.value)
            names = list(cmd.names)
            positions = list(range(1, len(names) + 1))
        else:
            regex, named = named_groups(cmd.pattern.pattern)
            if not named:
                raise QueryCompileError("the regular expression of parse has no (?<name>...) group")
            names = list(named)
            positions = list(named.values())
        groups = f"extractGroups({source}, {self.string(regex)})"
        for name, pos in zip(names, positions, strict=True):
            layer.env[name] = Col(f"if(length({groups}) = 0, NULL, {groups}[{pos}])", "any")

    def stats(self, cmd: ast.Stats, layer: Layer) -> Layer:
        if layer.limit is not None or layer.limit_by or (layer.aggregated and layer.where):
            layer = self.wrap(layer)
        select: list[str] = []
        group: list[str] = []
        env: dict[str, Col] = {}
        for proj in cmd.by:
            col = self.expr(proj.expr, layer)
            if col.has_agg:
                raise QueryCompileError("an aggregate function cannot be a stats group")
            alias = self.fresh()
            select.append(f"{col.sql} AS {alias}")
            group.append(alias)
            env[display_name(proj)] = Col(alias, col.kind)
        for proj in cmd.aggregates:
            col = self.expr(proj.expr, layer, agg=True)
            if not col.has_agg:
                raise QueryCompileError(
                    f"stats needs an aggregate function, got {print_expr(proj.expr)}"
                )
            alias = self.fresh()
            select.append(f"{col.sql} AS {alias}")
            func = proj.expr.name if isinstance(proj.expr, ast.Call) else None
            env[display_name(proj)] = Col(alias, col.kind, func=func)
        select.append("sum(__n) AS __n" if layer.aggregated else "count() AS __n")
        inner = Layer(
            layer.source,
            base=layer.base,
            env=layer.env,
            array_join=layer.array_join,
            where=layer.where,
            aggregated=layer.aggregated,
        )
        sql = self.layer_sql(inner, ", ".join(select))
        if group:
            sql += " GROUP BY " + ", ".join(group)
        return Layer(f"({sql})", base=False, env=env, aggregated=True)

    def finish(self, layer: Layer, shown: list[str] | None, user_limit: int | None) -> Compiled:
        columns: list[OutputColumn] = []
        select: list[str] = []
        expand = False
        if shown is not None:
            names = shown
        elif layer.aggregated:
            names = list(layer.env)
        else:
            names = ["@timestamp", "@message", "@logStream", "@log"]
            names += [n for n in layer.env if n not in names]
        for name in names:
            col = self.resolve(name, layer)
            select.append(f"{col.sql} AS o{len(select)}")
            columns.append(OutputColumn(name, col.kind))
        if not layer.aggregated:
            if shown is None and layer.base:
                select.append(f"CAST(fields AS String) AS o{len(select)}")
                expand = True
            ptr = self.resolve("@ptr", layer)
            if ptr is not NULL:
                select.insert(len(select) - int(expand), f"{ptr.sql} AS o_ptr")
                columns.append(OutputColumn("@ptr", "str"))
        else:
            select.append("sum(__n) OVER () AS o_matched")
        if not layer.order:
            if layer.base and not layer.aggregated:
                layer.order = ["timestamp DESC"]
            elif layer.aggregated:
                layer.order = [f"{c.sql} ASC" for c in layer.env.values() if c.func is None]
        limit = user_limit or self.request_limit or DEFAULT_LIMIT
        layer.limit = min(limit, layer.limit or limit, MAX_LIMIT)
        sql = self.layer_sql(layer, ", ".join(select))
        count_sql = None
        if not layer.aggregated:
            counted = Layer(
                layer.source,
                base=layer.base,
                env=layer.env,
                array_join=layer.array_join,
                where=layer.where,
            )
            count_sql = self.layer_sql(counted, "count()")
        return Compiled(sql, self.params, columns, layer.aggregated, expand, count_sql)


# --- pieces ----------------------------------------------------------------------------------


def duration_ms(d: ast.Duration) -> int:
    per = {
        "ms": 1,
        "s": 1000,
        "m": 60_000,
        "h": 3_600_000,
        "d": 86_400_000,
        "w": 7 * 86_400_000,
        "mo": 30 * 86_400_000,
        "q": 91 * 86_400_000,
        "y": 365 * 86_400_000,
    }
    return d.amount * per[d.unit]


def interval(d: ast.Duration) -> str:
    if d.amount < 1:
        raise QueryCompileError("a time period must be at least 1")
    return f"INTERVAL {d.amount} {_INTERVAL_UNITS[d.unit]}"


def glob_regex(glob: str) -> str:
    """``parse`` glob → RE2: each ``*`` captures lazily, a final ``*`` takes the rest."""
    pieces = glob.split("*")
    out = []
    for i, piece in enumerate(pieces):
        out.append(regex.escape(piece))
        if i < len(pieces) - 1:
            out.append("(.*)" if i == len(pieces) - 2 and pieces[-1] == "" else "(.*?)")
    return "(?s)" + "".join(out)


_NAMED = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


def named_groups(pattern: str) -> tuple[str, dict[str, int]]:
    """The pattern in RE2 syntax and the 1-based position of each named group."""
    source = _NAMED.sub(lambda m: f"(?P<{m.group(1)}>", pattern)
    try:
        compiled = regex.compile(source)
    except regex.RegexError as exc:
        raise QueryCompileError(f"invalid regular expression {pattern!r}: {exc.reason}") from None
    return source, dict(sorted(compiled.groupindex.items(), key=lambda kv: kv[1]))


def _f(sql: str, kind: str) -> Callable[[Compiler, list[Col]], Col]:
    """A function whose SQL is a template over its arguments' numbers ({n0}) or texts ({t0})."""

    def build(c: Compiler, args: list[Col]) -> Col:
        values: dict[str, str] = {}
        for i, a in enumerate(args):
            values[f"n{i}"] = c.number(a)
            values[f"t{i}"] = c.text(a)
            values[f"r{i}"] = a.sql
        return Col(sql.format(**values), kind)

    return build


def _variadic(fn: str, kind: str, numeric: bool) -> Callable[[Compiler, list[Col]], Col]:
    def build(c: Compiler, args: list[Col]) -> Col:
        parts = [c.number(a) if numeric else c.text(a) for a in args]
        if fn == "concat":
            parts = [f"coalesce({p}, '')" for p in parts]
        return Col(f"{fn}({', '.join(parts)})", kind)

    return build


def _trim(side: str) -> Callable[[Compiler, list[Col]], Col]:
    def build(c: Compiler, args: list[Col]) -> Col:
        text = c.text(args[0])
        if len(args) == 1:
            fn = {"l": "trimLeft", "r": "trimRight", "b": "trimBoth"}[side]
            return Col(f"{fn}({text})", "str")
        where = {"l": "LEADING", "r": "TRAILING", "b": "BOTH"}[side]
        return Col(f"trim({where} {args[1].sql} FROM {text})", "str")

    return build


def _jsonparse(c: Compiler, args: list[Col]) -> Col:
    return Col(c.text(args[0]), "json")


def _substr(c: Compiler, args: list[Col]) -> Col:
    start = f"toInt64({c.number(args[1])}) + 1"
    if len(args) == 3:
        return Col(
            f"substringUTF8({c.text(args[0])}, {start}, toInt64({c.number(args[2])}))", "str"
        )
    return Col(f"substringUTF8({c.text(args[0])}, {start})", "str")


def _coalesce(c: Compiler, args: list[Col]) -> Col:
    kinds = {a.kind for a in args}
    if len(kinds) == 1 and kinds != {"json"}:
        return Col(f"coalesce({', '.join(a.sql for a in args)})", args[0].kind)
    return Col(f"coalesce({', '.join(c.text(a) for a in args)})", "any")


def _ip(check: str) -> Callable[[Compiler, list[Col]], Col]:
    def build(c: Compiler, args: list[Col]) -> Col:
        ip = f"coalesce({c.text(args[0])}, '')"
        valid = {
            "any": f"(isIPv4String({ip}) OR isIPv6String({ip}))",
            "v4": f"isIPv4String({ip})",
            "v6": f"isIPv6String({ip})",
        }[check]
        if len(args) == 1:
            return Col(valid, "bool")
        subnet = f"coalesce({c.text(args[1])}, '')"
        fallback = "'::'" if check == "v6" else "'0.0.0.0'"
        return Col(
            f"({valid} AND isIPAddressInRange(if({valid}, {ip}, {fallback}), {subnet}))", "bool"
        )

    return build


FUNCTIONS: dict[str, tuple[int, int, Callable[[Compiler, list[Col]], Col]]] = {
    # numeric
    "abs": (1, 1, _f("abs({n0})", "num")),
    "ceil": (1, 1, _f("ceil({n0})", "num")),
    "floor": (1, 1, _f("floor({n0})", "num")),
    "greatest": (1, 100, _variadic("greatest", "num", numeric=True)),
    "least": (1, 100, _variadic("least", "num", numeric=True)),
    "log": (1, 1, _f("if({n0} > 0, log({n0}), NULL)", "num")),
    "sqrt": (1, 1, _f("if({n0} >= 0, sqrt({n0}), NULL)", "num")),
    # general
    "ispresent": (1, 1, _f("({r0} IS NOT NULL)", "bool")),
    "coalesce": (1, 100, _coalesce),
    # string
    "isempty": (1, 1, _f("({r0} IS NULL OR {t0} = '')", "bool")),
    "isblank": (1, 1, _f("({r0} IS NULL OR trimBoth({t0}) = '')", "bool")),
    "concat": (1, 100, _variadic("concat", "str", numeric=False)),
    "ltrim": (1, 2, _trim("l")),
    "rtrim": (1, 2, _trim("r")),
    "trim": (1, 2, _trim("b")),
    "strlen": (1, 1, _f("toFloat64(lengthUTF8({t0}))", "num")),
    "toupper": (1, 1, _f("upperUTF8({t0})", "str")),
    "tolower": (1, 1, _f("lowerUTF8({t0})", "str")),
    "substr": (2, 3, _substr),
    "replace": (3, 3, _f("replaceAll({t0}, {t1}, {t2})", "str")),
    "strcontains": (2, 2, _f("toFloat64(position(coalesce({t0}, ''), {t1}) > 0)", "num")),
    # datetime (bin, datefloor and dateceil are built by the compiler itself)
    "bin": (1, 1, _f("", "time")),
    "datefloor": (2, 2, _f("", "time")),
    "dateceil": (2, 2, _f("", "time")),
    "frommillis": (1, 1, _f("fromUnixTimestamp64Milli(toInt64({n0}))", "time")),
    "tomillis": (1, 1, _f("toFloat64(toUnixTimestamp64Milli({r0}))", "num")),
    # IP addresses
    "isvalidip": (1, 1, _ip("any")),
    "isvalidipv4": (1, 1, _ip("v4")),
    "isvalidipv6": (1, 1, _ip("v6")),
    "isipinsubnet": (2, 2, _ip("any")),
    "isipv4insubnet": (2, 2, _ip("v4")),
    "isipv6insubnet": (2, 2, _ip("v6")),
    # JSON
    "jsonparse": (1, 1, _jsonparse),
}
