"""OTLP protobuf bodies → ``Decoded``, natively where possible, by the reference otherwise.

Contract of ``decode_protobuf(signal, body, tenant, now_ns)``: the same ``Decoded`` (same
Arrow rows, log streams, rejected count and messages) and the same ``RequestError`` as
``signal.decode(parse_protobuf(body, signal.request), tenant, now_ns)``, only faster.

The native decoders (Cython, ``_wire.pyx``) walk the protobuf wire format of the request
bytes and fill Arrow buffers directly. They accept a subset of what protobuf accepts and
decline the rest (malformed or truncated data, invalid UTF-8, merged sub-messages, several
members of a oneof, deep nesting); a declined request is decoded by the reference decoder,
which also words the 400 answers. Arrays and maps inside AnyValues are rendered by the
reference code. Signals without a native decoder (or ``VIGIL_NATIVE_DECODERS=0``, or an
extension that failed to build) always take the reference path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vigil.ingest.interface import Decoded, RequestError
from vigil.ingest.native_modules import native_module
from vigil.ingest.otlp.common import parse_protobuf
from vigil.ingest.otlp.signals import OtlpSignal

log = logging.getLogger(__name__)

NativeDecoder = Callable[[bytes, str, int], Decoded | None]


def _load() -> dict[str, NativeDecoder]:
    wire = native_module("otlp._wire", "OTLP decoders")
    if wire is None:
        return {}
    return {
        "logs": wire.decode_logs,
        "traces": wire.decode_traces,
        "metrics": wire.decode_metrics,
    }


NATIVE: dict[str, NativeDecoder] = _load()


def decode_protobuf(signal: OtlpSignal, body: bytes, tenant: str, now_ns: int) -> Decoded:
    native = NATIVE.get(signal.name)
    if native is not None:
        try:
            decoded = native(body, tenant, now_ns)
        except RequestError:
            raise
        except MemoryError:
            raise
        except Exception:  # pragma: no cover - a native bug must not cost the request
            log.exception("native %s decoder failed; using the reference decoder", signal.name)
            decoded = None
        if decoded is not None:
            return decoded
    return signal.decode(parse_protobuf(body, signal.request), tenant, now_ns)
