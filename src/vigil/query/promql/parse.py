"""PromQL text → AST, with errors in Prometheus' shape.

The grammar is ``promql-parser`` (GreptimeDB's Rust parser, Prometheus 2.45's grammar); vigil
keeps only the mapping of its errors. That parser names no position, so the position is
found the way a reader would: the token its message quotes (``unknown function with name
'nosuch'`` → where ``nosuch(`` starts), else the end of the input for an unfinished query.
Prometheus answers ``LINE:COL: parse error: MESSAGE``; so does vigil.

The parser recurses natively: ~5,000 chained operators or ~10,000 nested parentheses
overflow a worker thread's stack and kill the process (SIGSEGV, found by the fuzz suite),
and the evaluator recurses over the tree in Python. So before parsing, one linear scan
bounds what makes a tree deep — brackets nested past ``MAX_DEPTH`` and more than
``MAX_OPERATORS`` operators — and refuses it at its position.
"""

from __future__ import annotations

import re

import promql_parser

from vigil.query.promql.errors import ParseError

MAX_QUERY_BYTES = 64 * 1024
MAX_DEPTH = 100  # nested ( [ {: real queries nest under 20
MAX_OPERATORS = 250  # binary and unary operators outside label matchers
_WORD_OPERATORS = re.compile(r"(?<![A-Za-z0-9_:])(?:and|or|unless)(?![A-Za-z0-9_:])")

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
    _check_shape(query)
    try:
        return promql_parser.parse(query)
    except (ValueError, TypeError, OverflowError) as exc:
        message = str(exc) or "invalid promql query"
        offset = _offset(query, message)
        line = query.count("\n", 0, offset) + 1
        column = offset - (query.rfind("\n", 0, offset) + 1) + 1
        raise ParseError(line, column, _QUOTED.sub(r'"\1"', message)) from None


def _check_shape(query: str) -> None:
    """Refuse a query whose tree would be deeper than the parser and evaluator can take."""
    opened: list[str] = []  # the brackets open at this point
    operators = 0
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c in "\"'`":  # a string: skip to its end (backslash escapes, not in backticks)
            i += 1
            while i < n and query[i] != c:
                i += 2 if c != "`" and query[i] == "\\" else 1
        elif c == "#":  # a comment, to the end of the line
            while i < n and query[i] != "\n":
                i += 1
        elif c in "([{":
            opened.append(c)
            if len(opened) > MAX_DEPTH:
                _refuse(query, i, f"expression nested deeper than {MAX_DEPTH} levels")
        elif c in ")]}":
            if opened:
                opened.pop()
        # Label matchers ({a!="b"}) hold = ! < > that are not operators.
        elif c in "+-*/%^<>=!" and not (opened and opened[-1] == "{"):
            operators += 1
            if operators > MAX_OPERATORS:
                _refuse(query, i, f"more than {MAX_OPERATORS} operators in the expression")
        i += 1
    for found in _WORD_OPERATORS.finditer(query):
        operators += 1
        if operators > MAX_OPERATORS:
            _refuse(query, found.start(), f"more than {MAX_OPERATORS} operators in the expression")


def _refuse(query: str, offset: int, message: str) -> None:
    line = query.count("\n", 0, offset) + 1
    column = offset - (query.rfind("\n", 0, offset) + 1) + 1
    raise ParseError(line, column, message)


def _offset(query: str, message: str) -> int:
    for token in _QUOTED.findall(message):
        if token and token in query:
            if "function" in message:
                found = re.search(rf"\b{re.escape(token)}\s*\(", query)
                if found:
                    return found.start()
            return query.index(token)
    return len(query.rstrip())
