"""X-Ray filter expressions: lexer → parser → AST (with printer) → compiler to ClickHouse SQL.

``parse(text)`` gives the AST or raises ``FilterError`` naming the position; ``to_text``
prints an AST back (``parse(to_text(ast)) == ast``); ``compile_filter`` turns it into a SQL
condition over the merged per-trace row (see compiler.py for the row's columns).
"""

from vigil.query.xrayfilter.ast import to_text
from vigil.query.xrayfilter.compiler import CompiledFilter, TraceScope, compile_filter
from vigil.query.xrayfilter.lexer import FilterError
from vigil.query.xrayfilter.parser import parse

__all__ = ["CompiledFilter", "FilterError", "TraceScope", "compile_filter", "parse", "to_text"]
