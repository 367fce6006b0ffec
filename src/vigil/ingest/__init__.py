"""Ingest: one pure decoder per protocol plus a thin handler that routes and answers.

Decoders (``otlp/logs.py`` …) turn request bytes into model/ column batches and count what
they refused; they never touch storage. Handlers (``otlp/http.py``, ``otlp/grpc.py``) check
the transport (content type, size, auth), call a decoder, hand the result to the
``IngestPipeline`` and answer in the protocol's own shape.
"""
