"""Telemetry storage: ClickHouse (embedded chDB or a server) behind one interface.

See ``interface`` for the contracts, ``clickhouse`` for the client, ``writer`` for group
commit and backpressure, ``migrations`` for the versioned schema.
"""
