"""vigil's own fuzzing kit: hostile inputs for every decoder and query language, sent to a
running server, and the oracle that judges each answer.

Contract. A *protocol* (``targets.PROTOCOLS``) is a generator ``(rng, ctx) -> Probe`` of
one hostile HTTP request: OTLP protobuf and JSON, the AWS JSON (Logs), query and JSON 1.0
(CloudWatch) and rest-json (X-Ray) protocols with bodies drawn from botocore's service
models and then broken (wrong types, missing members, extreme numbers, deep nesting,
non-UTF-8), vigil's own ``/api/v1`` reads, and the languages (Logs Insights, metric math,
filter patterns, X-Ray filter expressions) drawn from their grammars and mutated.
``oracle.Fuzzer.run`` sends probes and judges each answer: a 2xx, or a 4xx in the
protocol's own error shape; never a 5xx, never slower than the bound, never store text in
an error (an Insights query that ends ``Failed`` with ClickHouse's words is a finding).
``Fuzzer.canary``/``check_canary`` write data before a run and prove it intact after.

Used by ``tests/test_fuzz.py`` (a short, bounded run in ``make test``, hypothesis choosing
the seeds) and by ``bench/fuzz.py`` (the long run whose counts go in bench/RESULTS.md).
"""
