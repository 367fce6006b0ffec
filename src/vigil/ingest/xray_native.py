"""X-Ray segment documents → span rows, natively where possible.

Contract of ``decode_documents(documents, tenant, now_ns, names)``: the same result as
``vigil.ingest.xray.decode_documents`` (the same rows, in-progress rows, refusals with the
same messages and indexes, the same service names remembered), only faster; the rows of
documents the native decoder accepted come first.

The native decoder (Cython, ``_xray.pyx``) reads each document's bytes in place and fills
Arrow buffers directly. It accepts what the SDKs send and *declines* anything unusual
(invalid documents included, and in-progress nodes); a declined document is decoded by the
reference decoder at once, in order, so that an independent subsegment finds the service
of a parent sent just before it whichever path took the parent. The reference also words
every refusal. Without the extension (a build without a compiler) or with
``VIGIL_NATIVE_DECODERS=0`` the reference always runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from vigil.ingest import xray
from vigil.ingest.native_modules import native_module
from vigil.ingest.xray import ServiceNames, XRayDecoded

if TYPE_CHECKING:
    from vigil.ingest._xray import Receiver

log = logging.getLogger(__name__)

NativeDecoder = Callable[
    [Sequence[bytes | str], str, int, dict[tuple[str, bytes], str], int, Callable[[int], None]],
    pa.Table | None,
]


def _load() -> NativeDecoder | None:
    module = native_module("_xray", "X-Ray decoder")
    return None if module is None else cast(NativeDecoder, module.decode)


def _load_receiver() -> type[Receiver] | None:
    try:
        from vigil.ingest._xray import Receiver
    except ImportError:  # pragma: no cover - a build without a compiler
        return None
    return Receiver


NATIVE: NativeDecoder | None = _load()
# Batched UDP reads for the daemon (not a decoder: used whatever VIGIL_NATIVE_DECODERS says).
NativeReceiver: type[Receiver] | None = _load_receiver()


def decode_documents(
    documents: Sequence[bytes | str],
    tenant: str,
    now_ns: int,
    names: ServiceNames | None = None,
) -> XRayDecoded:
    if NATIVE is None:
        return xray.decode_documents(documents, tenant, now_ns, names)
    names = names if names is not None else ServiceNames()
    docs = list(documents)
    # Text documents (PutTraceSegments) are read as UTF-8; the reference gets them as they
    # came (it counts their size in characters). Lone surrogates make invalid UTF-8, which
    # the native decoder declines.
    raw = [d.encode("utf-8", "surrogatepass") if isinstance(d, str) else d for d in docs]
    with xray.cyclic_gc_paused():
        batch = xray.Batch(tenant, now_ns, names)
        try:
            table = NATIVE(
                raw, tenant, now_ns, names.names, names.limit, lambda i: batch.add(i, docs[i])
            )
        except MemoryError:
            raise
        except Exception:  # pragma: no cover - a native bug must not cost the batch
            log.exception("native X-Ray decoder failed; using the reference decoder")
            return xray.decode_documents(docs, tenant, now_ns, names)
        batch.out.cols.arrow = table
        return batch.result()
