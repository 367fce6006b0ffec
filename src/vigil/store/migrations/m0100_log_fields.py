"""Logs pillar: fields discovered in log events, for Logs Insights.

``fields`` is a ClickHouse JSON column the store fills at insert (a DEFAULT expression, so
ingest code never parses messages for it): the event's JSON message, merged over its
record attributes and resource attributes (OTLP). Each path (``http.status``) is its own
subcolumn, so a query that reads ``level`` reads only that path — ten times less than a
``Map`` column would. Messages that are not JSON objects contribute nothing; duplicate
keys are tolerated (the store inserts with ``type_json_skip_duplicated_paths``).
"""

from vigil.store.migrations import Migration

_MESSAGE = "if(startsWith(trimLeft(body), '{') AND isValidJSON(body), body, '{}')"

FIELDS = (
    "ALTER TABLE logs ADD COLUMN IF NOT EXISTS fields JSON(max_dynamic_paths=512) DEFAULT"
    f" if(empty(attributes) AND empty(resource), {_MESSAGE},"
    f" JSONMergePatch(toJSONString(resource), toJSONString(attributes), {_MESSAGE}))"
    " AFTER service"
)

MIGRATION = Migration(
    id="0100",
    description="logs.fields: fields discovered in messages and attributes (JSON column)",
    statements=(FIELDS,),
)
