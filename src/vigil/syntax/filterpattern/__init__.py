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
"""

from vigil.syntax.filterpattern.pattern import Pattern, PatternError, parse

__all__ = ["Pattern", "PatternError", "parse"]
