"""Canonical telemetry records, as columnar (Arrow) batches.

Every decoder turns its protocol into these shapes and the store keeps them as they are:
``logs`` (one row per log record), ``spans`` (one row per span) and ``metrics`` (one row per
data point). The Arrow schemas here are the contract between ingest/ and store/; the
ClickHouse tables in store/migrations add only columns the store derives itself
(ingestion time, durations, series ids).
"""
