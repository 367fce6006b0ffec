"""The CloudWatch Logs Insights query language.

``lexer`` → ``parser`` → ``ast`` (with ``printer``: ``parse(print_query(q)) == q``) →
``compiler`` (ClickHouse SQL) → ``runner`` (asynchronous queries with a time limit, stop,
statistics; ``pattern``/``diff`` clustering in Python with drain3). Errors are
``QuerySyntaxError`` (parse; position and what was expected) and ``QueryCompileError``
(a well-formed query that cannot run, e.g. an unknown function's arity).
"""

from vigil.query.insights.ast import Query
from vigil.query.insights.errors import QueryCompileError, QuerySyntaxError
from vigil.query.insights.parser import parse_query
from vigil.query.insights.printer import print_query

__all__ = ["Query", "QueryCompileError", "QuerySyntaxError", "parse_query", "print_query"]
