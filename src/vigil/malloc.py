"""The C allocator's share of idle memory (glibc only; elsewhere these do nothing).

glibc gives each thread that allocates an arena of its own (up to 8 per core) and keeps
freed memory in them; with chDB's and vigil's thread pools that is tens of MB of free
memory counted in the process's RSS long after a burst of work. ``limit_arenas`` caps the
arenas (before threads start); ``trim`` hands free memory back to the system (vigil runs
it once a minute). Measured: bench/RESULTS.md ("Idle memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8
DEFAULT_ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _libc()


def limit_arenas(arenas: int | None = None) -> bool:
    """At most ``arenas`` malloc arenas (env VIGIL_MALLOC_ARENAS, default 2; 0 leaves
    glibc's default). Call before starting threads. True when applied."""
    if arenas is None:
        arenas = int(os.environ.get("VIGIL_MALLOC_ARENAS", DEFAULT_ARENAS))
    if _LIBC is None or arenas <= 0:
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return free heap memory to the system; True when some was released."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False
