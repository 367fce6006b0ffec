"""Logs Insights AST → ClickHouse SQL over the ``logs`` table.

Model. A query is compiled into nested SELECTs ("layers"). A layer knows its FROM, the
fields visible in it (name → SQL expression and kind), its WHERE conditions, ORDER BY,
``LIMIT 1 BY`` (dedup) and LIMIT. Commands that only add fields (``fields``, ``parse``)
extend the current layer; a command whose meaning depends on what came before (a
``filter`` after a ``limit``, ``stats``, ``unnest`` after a ``sort`` …) wraps the layer in
a subquery first. ClickHouse drops the columns a subquery computes but nobody reads.

Names resolve, in order: fields defined by earlier commands, fields of a ``jsonParse``d
value (``js.a.b``), then the log event's own fields (``fields``: system fields, discovered
fields, attributes, resource attributes); a field found nowhere is NULL. After ``stats``,
the fields are the stats' columns, named as CloudWatch names them (``count()``,
``avg(duration)``, ``bin(5m)``) or by their alias; a bare function name (``count``) refers
to the one column of that function.

Values and their kinds are ``coerce``'s, functions ``functions``' table, layers and the
compiled result ``layers``'. User strings are always bound as query parameters, never
spliced into SQL.
"""

from __future__ import annotations

import re
from dataclasses import replace

from vigil.query.insights import ast, coerce, fields, newest
from vigil.query.insights.coerce import NULL, Col
from vigil.query.insights.errors import QueryCompileError
from vigil.query.insights.functions import (
    AGGREGATES,
    FUNCTIONS,
    aggregate,
    duration_ms,
    interval,
)
from vigil.query.insights.layers import (
    Base,
    Compiled,
    Layer,
    OutputColumn,
    layer_sql,
    logs_base,
)
from vigil.query.insights.printer import print_expr
from vigil.syntax import regex

# Re-exported: the runner, tests and benchmarks import these from here.
__all__ = ["Base", "Col", "Compiled", "Compiler", "Layer", "logs_base"]

_REGEX_META = re.compile(r"[.^$*+?()\[\]{}|\\]")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


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
        return layer_sql(layer, select)

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
                return Col(
                    f"JSONExtractRaw({col.sql}, {fields.json_path(self, parts[cut:])})", "json"
                )
        if not layer.base:
            return NULL
        system = fields.system_field(self, name)
        if system is not None:
            return system
        return fields.event_field(self, parts)

    # --- conversions -----------------------------------------------------------------------

    text = staticmethod(coerce.text)
    number = staticmethod(coerce.number)
    boolean = staticmethod(coerce.boolean)
    time = staticmethod(coerce.time)

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
        col = build(args)
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
        return aggregate(
            e.name,
            e.args,
            lambda arg: self.expr(arg, layer),
            lambda: self.resolve("@timestamp", layer),
        )

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
        count_sql = None
        if not layer.aggregated:
            # Over the whole range (taken before the window below narrows the rows').
            counted = Layer(
                layer.source,
                base=layer.base,
                env=layer.env,
                array_join=layer.array_join,
                where=list(layer.where),
            )
            count_sql = self.layer_sql(counted, "count()")
        window = None
        direction = newest.eligible(layer, self.base)
        if direction is not None:
            window = newest.rewrite(layer, self.base, direction, layer.limit)
        sql = self.layer_sql(layer, ", ".join(select))
        return Compiled(sql, self.params, columns, layer.aggregated, expand, count_sql, window)


# --- pieces ----------------------------------------------------------------------------------


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
