"""Read side: queries compiled to ClickHouse SQL and results shaped for the API.

``logs``, ``metrics``, ``traces`` serve the ``/api/v1`` read API; the query languages
(Logs Insights, metric math, X-Ray filter expressions) get packages of their own here.
Every query is bounded (a row limit) and runs under the store's time limit.
"""
