"""The CloudWatch Logs filter-pattern language (FilterLogEvents, metric filters,
``vigil logs tail --filter``): ``parse`` → ``Pattern`` with ``match``/``extract`` in Python
and a ``sql`` pre-filter for the store.

Three forms, as CloudWatch has them:
* terms: ``ERROR``, ``"connection refused"``, ``?ERROR ?WARN`` (any), ``ERROR -health``
  (exclude), ``%[Ee]rror%`` (regex); terms match case-sensitively anywhere in the message;
* JSON: ``{ $.level = "ERROR" && $.latency > 100 }`` with ``= != < <= > >=``, ``&&``,
  ``||``, parentheses, ``*`` wildcards and ``%regex%`` in strings, ``IS NULL``,
  ``IS TRUE``/``IS FALSE``, ``NOT EXISTS``, selectors ``$.a.b``, ``$.list[0]``;
* space-delimited: ``[ip, user, ..., status = 5*, bytes > 1000]``: fields split on spaces,
  ``"quoted"`` and ``[bracketed]`` runs count as one field, ``...`` matches any number.
An empty pattern matches every event.

The package is shaped like its siblings (``query/insights``, ``query/xrayfilter``):
lexer.py (tokens, ``PatternError``) → parser.py → ast.py (plain data) → match.py (evaluation
on a message) and sql.py (the store pre-filter); pattern.py holds ``Pattern``, the object
callers keep.
"""

from vigil.syntax.filterpattern.lexer import PatternError
from vigil.syntax.filterpattern.parser import parse
from vigil.syntax.filterpattern.pattern import Pattern

__all__ = ["Pattern", "PatternError", "parse"]
