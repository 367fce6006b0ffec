"""Logs pillar: the ``level`` and ``message`` fields of JSON messages as columns of their own.

Both are what structured loggers write on every line (``StructuredLogger``: timestamp,
level, logger, message, …) and what queries filter and group on most. As columns they are
``LowCardinality``: a filter (``message like /…/``, ``level = "ERROR"``) runs once per
distinct value instead of once per row, and a group by reads small integer keys. Measured
on 10M lines (bench/RESULTS.md, Logs): ``message like`` 5x faster than reading the JSON
path's String subcolumn, ``stats count() by level`` 2.4x. Each is the exact text reading
of the path (the cast the compiler uses for any path), so results are the same; the store
computes them from ``fields`` at insert (columnar: no second parse of the message).

Existing parts get the columns by a background mutation; until it reaches a part, reads
compute the expression from ``fields`` there, with the same values.
"""

from vigil.store.migrations import Migration

COLUMNS = {"level": "field_level", "message": "field_message"}

MIGRATION = Migration(
    id="0105",
    description="logs.field_level, logs.field_message: the two commonest JSON fields as columns",
    statements=tuple(
        f"ALTER TABLE logs ADD COLUMN IF NOT EXISTS {column} LowCardinality(Nullable(String))"
        f" MATERIALIZED CAST(fields.`{path}` AS Nullable(String)) AFTER fields"
        for path, column in COLUMNS.items()
    )
    + tuple(f"ALTER TABLE logs MATERIALIZE COLUMN {column}" for column in COLUMNS.values()),
)
