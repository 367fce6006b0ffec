"""SQL for sets of trace ids given as hex text.

ClickHouse compares ``FixedString IN (SELECT <String>)`` after dropping trailing NUL
bytes, so ids ending in 0x00 (one trace in 256) would never match. The set must be
FixedString(16) itself. Bind the ids as ``{ids:Array(String)}`` of hex digits.
"""

TRACE_IDS = "(SELECT toFixedString(unhex(arrayJoin({ids:Array(String)})), 16))"
