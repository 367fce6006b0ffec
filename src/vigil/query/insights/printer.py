"""AST → query text. ``parse_query(print_query(q)) == q`` for every query the parser makes:
nested operations are parenthesised, names that are not plain identifiers are backquoted."""

from __future__ import annotations

import re

from vigil.query.insights import ast

_PLAIN = re.compile(r"^[@A-Za-z_$][@A-Za-z0-9_$]*(?:\.[@A-Za-z0-9_$\-]+)*$")
_KEYWORDS = {"and", "or", "not", "like", "in", "as", "by", "asc", "desc", "into"}


def print_query(query: ast.Query) -> str:
    parts: list[str] = []
    if query.source is not None:
        parts.append(_source(query.source))
    parts.extend(print_command(c) for c in query.commands)
    return " | ".join(parts)


def _source(source: ast.Source) -> str:
    items = ", ".join(_string(p) for p in source.prefixes)
    text = f"SOURCE logGroups(namePrefix: [{items}]"
    if source.log_class is not None:
        text += f", class: {_string(source.log_class)}"
    return text + ")"


def print_command(cmd: ast.Command) -> str:
    if isinstance(cmd, ast.Fields):
        return "fields " + _projections(cmd.items)
    if isinstance(cmd, ast.Display):
        return "display " + _projections(cmd.items)
    if isinstance(cmd, ast.Filter):
        return "filter " + print_expr(cmd.expr)
    if isinstance(cmd, ast.Stats):
        text = "stats " + _projections(cmd.aggregates)
        if cmd.by:
            text += " by " + _projections(cmd.by)
        return text
    if isinstance(cmd, ast.Sort):
        return "sort " + ", ".join(
            f"{print_expr(k.expr)} {'desc' if k.descending else 'asc'}" for k in cmd.keys
        )
    if isinstance(cmd, ast.Limit):
        return f"limit {cmd.count}"
    if isinstance(cmd, ast.Parse):
        text = f"parse {_operand(cmd.source)} {print_expr(cmd.pattern)}"
        if cmd.names:
            text += " as " + ", ".join(name(n) for n in cmd.names)
        return text
    if isinstance(cmd, ast.Dedup):
        return "dedup " + ", ".join(print_expr(f) for f in cmd.fields)
    if isinstance(cmd, ast.Unnest):
        return f"unnest {print_expr(cmd.source)} into {name(cmd.into)}"
    if isinstance(cmd, ast.PatternCmd):
        return f"pattern {print_expr(cmd.source)}"
    return "diff" if cmd.period is None else f"diff {cmd.period}"


def _projections(items: tuple[ast.Projection, ...]) -> str:
    return ", ".join(
        print_expr(p.expr) + (f" as {name(p.alias)}" if p.alias is not None else "") for p in items
    )


def name(text: str) -> str:
    if _PLAIN.match(text) and text.lower() not in _KEYWORDS:
        return text
    return f"`{text}`"


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    return text if ("." in text or "e" in text or "inf" in text) else text + ".0"


def print_expr(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Field):
        return name(expr.name)
    if isinstance(expr, ast.Str):
        return _string(expr.value)
    if isinstance(expr, ast.Num):
        return _number(expr.value)
    if isinstance(expr, ast.Regex):
        return "/" + expr.pattern.replace("/", "\\/") + "/"
    if isinstance(expr, ast.Duration):
        return f"{expr.amount}{expr.unit}"
    if isinstance(expr, ast.Star):
        return "*"
    if isinstance(expr, ast.Call):
        return f"{expr.name}({', '.join(print_expr(a) for a in expr.args)})"
    if isinstance(expr, ast.Unary):
        op = "not " if expr.op == "not" else "-"
        return op + _operand(expr.operand)
    if isinstance(expr, ast.Binary):
        return f"{_operand(expr.left)} {expr.op} {_operand(expr.right)}"
    items = ", ".join(_operand(i) for i in expr.items)
    return f"{_operand(expr.expr)} {'not in' if expr.negated else 'in'} [{items}]"


def _operand(expr: ast.Expr) -> str:
    text = print_expr(expr)
    if isinstance(expr, ast.Binary | ast.Unary | ast.InList):
        return f"({text})"
    return text
