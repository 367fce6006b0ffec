"""PutMetricData JSON bodies → ``MetricColumns``, natively where possible.

Contract of ``decode_body(body, tenant, now_ns, parse)``: the same Arrow rows and the same
``InvalidMetricData`` as ``decode_put_metric_data(parse(body), tenant, now_ns)``, only
faster; ``parse`` turns the body into its JSON object (the caller's, so that a malformed
body gets the protocol's own error).

The native decoder (Cython, ``_putmetricdata.pyx``) reads the request bytes in place and
fills Arrow buffers directly; it accepts what boto3 and the SDKs send (printable ASCII
strings without escapes, epoch-second timestamps, the members of the model once each) and
declines everything else, invalid data included, to the reference decoder, which also
words every error (naming the first invalid datum, as before). Without the extension (a
build without a compiler) or with ``VIGIL_NATIVE_DECODERS=0`` the reference always runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from vigil.ingest.cloudwatch_metrics import decode_put_metric_data
from vigil.ingest.native_modules import native_module
from vigil.model.metrics import MetricColumns

log = logging.getLogger(__name__)

NativeDecoder = Callable[[bytes, str, int], MetricColumns | None]


def _load() -> NativeDecoder | None:
    module = native_module("_putmetricdata", "PutMetricData decoder")
    return None if module is None else cast(NativeDecoder, module.decode)


NATIVE: NativeDecoder | None = _load()


def decode_body(
    body: bytes, tenant: str, now_ns: int, parse: Callable[[bytes], dict[str, Any]]
) -> MetricColumns:
    if NATIVE is not None:
        try:
            columns = NATIVE(body, tenant, now_ns)
        except MemoryError:
            raise
        except Exception:  # pragma: no cover - a native bug must not cost the request
            log.exception("native PutMetricData decoder failed; using the reference decoder")
            columns = None
        if columns is not None:
            return columns
    return decode_put_metric_data(parse(body), tenant, now_ns)
