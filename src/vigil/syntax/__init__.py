"""Languages shared by ingest and query, as Loki's ``syntax``: a leaf of the layers.

Each language is a package of its own (lexer → parser → AST → evaluators) that imports
nothing of vigil but ``model``, so that ingest (which applies it to arriving data) and query
(which applies it to stored data) can both use it without importing each other.

* ``filterpattern``: CloudWatch Logs filter patterns (metric filters, FilterLogEvents,
  subscription-style matching, ``vigil logs tail --filter``).
"""
