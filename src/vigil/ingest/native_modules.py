"""Loading the compiled native decoders (Cython extensions of ``vigil.ingest``).

Every native decoder is optional: ``VIGIL_NATIVE_DECODERS=0`` turns them all off (the
reference decoders then run; benchmarks use it as their baseline), and a build without a
C compiler has none of them (logged once per module). Callers keep their own contract
module (``otlp/native.py``, ``cloudwatch_native.py``, ``xray_native.py``).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)


def native_module(name: str, what: str) -> ModuleType | None:
    """The extension ``vigil.ingest.<name>``, or None when switched off or not built."""
    if os.environ.get("VIGIL_NATIVE_DECODERS", "1") == "0":
        return None
    try:
        return importlib.import_module(f"vigil.ingest.{name}")
    except ImportError as exc:  # pragma: no cover - a build without a compiler
        log.warning("native %s unavailable (%s); using the reference", what, exc)
        return None
