"""Logs pillar: a catalog of the fields log events hold, kept as data arrives.

Logs Insights compiles a field read for what the rows in range may hold. Reading a path of
the ``fields`` JSON column as text (``CAST(fields.x AS Nullable(String))``) converts every
type a path could hold; when all its values are of one plain type, reading that type's
subcolumn (``fields.x.:String``, ``fields.x.:Float64``) gives the same values 1.5–3x
faster (bench/RESULTS.md, Logs). Likewise the attribute maps are read only for keys some
row holds. Both used to need a probe of the rows in range before each query (the maps'
key subcolumns: ~0.1–0.3 s over 10M rows); the catalog answers from a few rows.

One row per insert block (a materialized view, ungrouped, so the aggregates take the
block's columns whole: ~0.02 µs per row): the hours its events span, its tenants and log
groups, the (path, type) pairs of ``fields`` and the keys of both attribute maps. Rows
with the same hours merge. What a query learns is a superset of what its rows hold (a
block's pairs apply to all its groups and hours), so a read compiled from it is exact,
merely slower when a rare type shares the hours; a wildcard (see MAX_NAMES) makes it
assume nothing for those hours. Hours are ``intDiv(ms, 3600000)``:
monotonic, so an event in a query's range always falls within the hours asked for.

Existing rows are catalogued by the last statement, a day at a time.
"""

from vigil.store.migrations import Migration

CATALOG = """
CREATE TABLE IF NOT EXISTS log_field_catalog (
    first_hour Int64,
    last_hour Int64,
    tenants SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    log_groups SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    paths SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(String, String))),
    map_keys SimpleAggregateFunction(groupUniqArrayArray, Array(String))
) ENGINE = AggregatingMergeTree
ORDER BY (first_hour, last_hour)
"""

# distinctJSONPathsAndTypes gives Map(path, [types]); the catalog keeps (path, type) pairs.
# A block of more distinct paths (or map keys) than MAX_NAMES, keys made of ids say, is
# recorded as the wildcard "*" (any name, any type; the runner then assumes nothing), so
# that such data cannot grow the catalog with every event.
MAX_NAMES = 1000
_SELECT = f"""
SELECT first_hour, last_hour, tenants, log_groups,
       if(length(types) > {MAX_NAMES}, [('*', '*')],
          arrayFlatten(arrayMap((p, ts) -> arrayMap(t -> (p, t), ts),
                                mapKeys(types), mapValues(types)))) AS paths,
       if(length(keys) > {MAX_NAMES}, ['*'], keys) AS map_keys
FROM (
    SELECT *, arrayDistinct(arrayConcat(attribute_keys, resource_keys)) AS keys
    FROM (
        SELECT intDiv(toUnixTimestamp64Milli(min(timestamp)), 3600000) AS first_hour,
               intDiv(toUnixTimestamp64Milli(max(timestamp)), 3600000) AS last_hour,
               groupUniqArray(toString(tenant)) AS tenants,
               groupUniqArray(toString(log_group)) AS log_groups,
               distinctJSONPathsAndTypes(fields) AS types,
               groupUniqArrayArray(mapKeys(attributes)) AS attribute_keys,
               groupUniqArrayArray(mapKeys(resource)) AS resource_keys
        FROM logs{{group_by}}
    )
)
"""

VIEW = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS log_field_catalog_mv TO log_field_catalog AS"
    + _SELECT.format(group_by="")
)

BACKFILL = "INSERT INTO log_field_catalog" + _SELECT.format(group_by=" GROUP BY toDate(timestamp)")

MIGRATION = Migration(
    id="0104",
    description="log_field_catalog: JSON paths with their types and attribute keys, by hours",
    statements=(CATALOG, VIEW, BACKFILL),
)
