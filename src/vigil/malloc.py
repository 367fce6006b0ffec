"""The C allocator's share of idle memory (glibc only; elsewhere ``trim`` does nothing).

glibc keeps memory freed by a burst of work (an insert, a query) in its arenas, counted
in the process's RSS until reused. ``trim`` hands it back to the system; vigil runs it
once a minute. (Capping the arenas, ``M_ARENA_MAX``, was left out: it may slow the
engine's allocating threads and was not measured to help.) Measured: bench/RESULTS.md
("Idle memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def trim() -> bool:
    """Return free heap memory to the system; True when some was released."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False
