"""PromQL text → AST, with errors in Prometheus' shape.

The grammar is ``promql-parser`` (GreptimeDB's Rust parser, Prometheus 2.45's grammar); vigil
keeps only the mapping of its errors. That parser names no position, so the position is
found the way a reader would: the token its message quotes (``unknown function with name
'nosuch'`` → where ``nosuch(`` starts), else the end of the input for an unfinished query.
Prometheus answers ``LINE:COL: parse error: MESSAGE``; so does vigil.
"""

from __future__ import annotations

import re

import promql_parser

from vigil.query.promql.errors import ParseError

MAX_QUERY_BYTES = 64 * 1024

# Prometheus 2.x's name of double_exponential_smoothing, which the parser (newer grammar)
# no longer knows; registered once per process (the registry is the parser's, global).
promql_parser.clear_extra_functions()
promql_parser.register_extra_functions(
    [
        promql_parser.Function(
            "holt_winters",
            [
                promql_parser.ValueType.Matrix,
                promql_parser.ValueType.Scalar,
                promql_parser.ValueType.Scalar,
            ],
            promql_parser.ValueType.Vector,
        )
    ]
)
_QUOTED = re.compile(r"'([^']*)'")


def enum_name(value: object) -> str:
    """The member name of one of the parser's enums (they have no ``.name``)."""
    return str(value).rsplit(".", 1)[-1]


def parse(query: str) -> promql_parser.Expr:
    if not query.strip():
        raise ParseError(1, 1, "no expression found in input")
    if len(query.encode()) > MAX_QUERY_BYTES:
        raise ParseError(1, 1, f"query is longer than {MAX_QUERY_BYTES} bytes")
    try:
        return promql_parser.parse(query)
    except (ValueError, TypeError, OverflowError) as exc:
        message = str(exc) or "invalid promql query"
        offset = _offset(query, message)
        line = query.count("\n", 0, offset) + 1
        column = offset - (query.rfind("\n", 0, offset) + 1) + 1
        raise ParseError(line, column, _QUOTED.sub(r'"\1"', message)) from None


def _offset(query: str, message: str) -> int:
    for token in _QUOTED.findall(message):
        if token and token in query:
            if "function" in message:
                found = re.search(rf"\b{re.escape(token)}\s*\(", query)
                if found:
                    return found.start()
            return query.index(token)
    return len(query.rstrip())
